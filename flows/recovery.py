"""Finding the work a dead process left behind and resuming it, without racing the living.

Every process that works on a source holds a *lease* on it for as long as it works:

- PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on one connection per batch.
  The server drops it when that connection ends; a SIGKILLed process's socket closes at once,
  and per-session TCP keepalives bound how long a powered-off machine keeps it (~1 minute).
- SQLite (one machine): an `flock` on `$LETTERBRIDGE_HOME/locks/source-<id>.lock`, which the
  kernel drops when the process dies.

So "not finished and nobody holds its lease" means "orphaned": `recover_flow` takes the lease
and runs `ingest_flow` again, which resumes from each source's and item's recorded `stage`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_table_artifact
from sqlalchemy import select, text

from flows.locks import try_flock
from config.settings import get_settings
from storage.db import get_engine, session_scope
from storage.models import ItemStatus, MailItem, SourceFile, utcnow

log = logging.getLogger(__name__)

UNFINISHED_SOURCE = ("received", "rasterised", "split")
UNFINISHED_ITEM = (ItemStatus.received, ItemStatus.processing)


# --- leases ------------------------------------------------------------------------------


def _advisory_key(source_id: str) -> int:
    digest = hashlib.sha256(f"letterbridge:source:{source_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def _postgres_leases(source_ids: list[str]) -> Iterator[list[str]]:
    engine = get_engine()
    with engine.connect() as conn:
        # A dead machine's locks go when the server notices the connection is gone.
        for setting in ("tcp_keepalives_idle = 30", "tcp_keepalives_interval = 10",
                        "tcp_keepalives_count = 3"):
            with contextlib.suppress(Exception):
                conn.execute(text(f"SET {setting}"))
        held = [sid for sid in source_ids
                if conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                {"k": _advisory_key(sid)}).scalar()]
        conn.commit()  # session locks outlive the transaction; don't sit idle in one
        try:
            yield held
        finally:
            with contextlib.suppress(Exception):
                conn.execute(text("SELECT pg_advisory_unlock_all()"))
                conn.commit()


def _lock_dir() -> Path:
    """Next to the SQLite file: whoever shares the database shares its leases."""
    from sqlalchemy.engine import make_url

    settings = get_settings()
    database = make_url(settings.effective_database_url).database
    folder = Path(database).parent / "locks" if database else settings.home / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def _file_leases(source_ids: list[str]) -> Iterator[list[str]]:
    folder = _lock_dir()
    held: dict[str, int] = {}
    try:
        for sid in source_ids:
            fd = try_flock(folder / f"source-{sid}.lock", retry_if_replaced=True)
            if fd is not None:
                held[sid] = fd
        yield list(held)
    finally:
        for sid, fd in held.items():
            (folder / f"source-{sid}.lock").unlink(missing_ok=True)
            os.close(fd)


@contextlib.contextmanager
def lease_sources(source_ids: list[str]) -> Iterator[list[str]]:
    """Hold the lease on each source nobody else holds; yields those (in the given order)."""
    source_ids = list(dict.fromkeys(source_ids))
    dialect = get_engine().dialect.name
    if dialect == "postgresql":
        manager = _postgres_leases(source_ids)
    elif dialect == "sqlite":
        manager = _file_leases(source_ids)
    else:  # no lease mechanism: stage checks and unique keys still hold
        log.warning("no source leases on %s: recovery may race running batches", dialect)
        manager = contextlib.nullcontext(source_ids)
    with manager as held:
        yield held


# --- what was left behind --------------------------------------------------------------


def unfinished_source_ids(*, min_age_seconds: float = 0.0, limit: int = 200) -> list[str]:
    """Sources not done, or with a letter still `received`/`processing`, oldest first.

    Some may be in progress elsewhere; `lease_sources` tells those apart.
    """
    cutoff = utcnow() - timedelta(seconds=min_age_seconds)
    with session_scope() as session:
        rows = session.execute(
            select(SourceFile.id, SourceFile.created_at)
            .where(SourceFile.status.in_(UNFINISHED_SOURCE), SourceFile.created_at <= cutoff)
            .union(
                select(SourceFile.id, SourceFile.created_at).join(
                    MailItem, MailItem.source_id == SourceFile.id)
                .where(MailItem.status.in_(UNFINISHED_ITEM), MailItem.created_at <= cutoff)
            )
        ).all()
    return [sid for sid, _ in sorted(rows, key=lambda r: (r[1], r[0]))][:limit]


def stuck_counts() -> dict[str, int]:
    """How much is unfinished right now (for `letterbridge recover --dry-run` and tests)."""
    from sqlalchemy import func

    with session_scope() as session:
        return {
            "sources_unfinished": session.scalar(
                select(func.count()).select_from(SourceFile)
                .where(SourceFile.status.in_(UNFINISHED_SOURCE))) or 0,
            "letters_processing": session.scalar(
                select(func.count()).select_from(MailItem)
                .where(MailItem.status.in_(UNFINISHED_ITEM))) or 0,
        }


def crash_dead_letter_runs(source_ids: list[str]) -> int:
    """Mark the letter flow runs of these sources that Prefect still shows as Running Crashed.

    `ingest_flow` calls it first; it runs holding the sources' leases: nobody alive is
    working on them, so such a run belonged to a process that was killed. (A killed batch's
    own run is crashed by the automation for silent runs; its letters' runs send no
    heartbeats of their own.) Best effort: Prefect unreachable leaves them as they are.
    Returns how many were marked.
    """
    if not source_ids:
        return 0
    with session_scope() as session:
        item_ids = list(session.scalars(
            select(MailItem.id).where(MailItem.source_id.in_(source_ids))))
    if not item_ids:
        return 0
    try:
        from prefect import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

        from flows.run_states import crash_live_runs

        names = FlowRunFilterName(any_=[f"letter-{item_id}" for item_id in item_ids])
        with get_client(sync_client=True) as client:
            crashed = len(crash_live_runs(
                client, "The process running this letter died; recovery resumed it.",
                flow_run_filter=FlowRunFilter(name=names)))
    except Exception as exc:  # noqa: BLE001 - the letters matter more than the run list
        log.warning("could not mark dead letter runs crashed (%s)", type(exc).__name__)
        return 0
    if crashed:
        log.info("marked %d letter run(s) of a dead process crashed", crashed)
    return crashed


def run_ingest(source_ids: list[str], label: str) -> tuple[list[str], list[str]]:
    """Run `ingest_flow` (a subflow when called in a flow) on the sources we can lease.

    Returns (ingested here, left alone because another live process holds them).
    A failed ingest is not raised: callers look at each source's outcome instead.
    """
    from flows.ingest import ingest_flow

    with lease_sources(source_ids) as held:
        if held:
            state = ingest_flow(held, label=label, return_state=True)
            if not state.is_completed():
                log.warning("ingest %s ended %s", label, state.type.value)
        return held, [sid for sid in source_ids if sid not in held]


@flow(name="recover", flow_run_name="recover-{label}", log_prints=False)
def recover_flow(min_age_seconds: float = 600.0, label: str = "scheduled") -> list[str]:
    """Resume every orphaned source: not finished, nobody working on it, at least this old.

    `min_age_seconds` keeps a scheduled recovery from taking files that were just handed to
    the work pool and wait for a worker; at a worker's start-up it is 0.
    """
    orphans = unfinished_source_ids(min_age_seconds=min_age_seconds)
    if not orphans:
        return []
    resumed, busy = run_ingest(orphans, label=f"recover-{label}")
    create_table_artifact(
        key="recovered-sources",
        table=[{"source": sid, "action": "resumed" if sid in resumed else "in progress elsewhere"}
               for sid in orphans],
        description="Unfinished sources found by recovery (ids only).",
    )
    log.info("recovery resumed %d source(s); %d in progress elsewhere", len(resumed), len(busy))
    return resumed
