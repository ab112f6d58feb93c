"""Leases on sources, so the work a dead process left behind can be found without racing the living.

Every process that works on a source holds a *lease* on it for as long as it works:

- PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on one connection per batch.
  The server drops it when that connection ends; a SIGKILLed process's socket closes at once,
  and per-session TCP keepalives bound how long a powered-off machine keeps it (~1 minute).
- SQLite (one machine): an `flock` on `$LETTERBRIDGE_HOME/locks/source-<id>.lock`, which the
  kernel drops when the process dies.

So "not finished and nobody holds its lease" means "orphaned": `flows.recovery` takes the lease
and runs the ingest flow again, which resumes from each source's and item's recorded `stage`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, text, union
from sqlalchemy.engine import make_url
from sqlalchemy.sql.expression import ColumnElement, ScalarSelect

from config.settings import get_settings
from intake.locks import try_flock
from storage.db import get_engine, session_scope
from storage.models import AuditEvent, ItemStatus, MailItem, SourceFile, SourceStatus, utcnow

log = logging.getLogger(__name__)

UNFINISHED_SOURCE = (SourceStatus.received, SourceStatus.rasterised, SourceStatus.split)
UNFINISHED_ITEM = (ItemStatus.received, ItemStatus.processing)
# A letter whose flow failed waits in the queue (`processing_failed`) with its stage short of
# `letters.states.Stage.done`; recovery processes it again, this many times at most, and then
# leaves it to a person (it can never be released as it is: `letters.release`).
FINISHED_STAGE = "done"
MAX_FAILED_RUNS = 3


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


def _failed_runs(item_id: ColumnElement) -> ScalarSelect:
    return (select(func.count(AuditEvent.id))
            .where(AuditEvent.item_id == item_id, AuditEvent.action == "processing_failed")
            .scalar_subquery())


def unfinished_source_ids(*, min_age_seconds: float = 0.0, limit: int = 200) -> list[str]:
    """Sources not done, or with a letter still `received`/`processing` or whose processing
    failed (fewer than MAX_FAILED_RUNS times), oldest first.

    Some may be in progress elsewhere; `lease_sources` tells those apart.
    """
    cutoff = utcnow() - timedelta(seconds=min_age_seconds)
    with session_scope() as session:
        with_items = select(SourceFile.id, SourceFile.created_at).join(
            MailItem, MailItem.source_id == SourceFile.id)
        rows = session.execute(union(
            select(SourceFile.id, SourceFile.created_at)
            .where(SourceFile.status.in_(UNFINISHED_SOURCE), SourceFile.created_at <= cutoff),
            with_items.where(MailItem.status.in_(UNFINISHED_ITEM), MailItem.created_at <= cutoff),
            with_items.where(MailItem.status == ItemStatus.needs_review,
                             MailItem.stage != FINISHED_STAGE, MailItem.updated_at <= cutoff,
                             _failed_runs(MailItem.id) < MAX_FAILED_RUNS),
        )).all()
    return [sid for sid, _ in sorted(rows, key=lambda r: (r[1], r[0]))][:limit]


def stuck_counts() -> dict[str, int]:
    """How much is unfinished right now (for `letterbridge recover --dry-run` and tests)."""
    with session_scope() as session:
        return {
            "sources_unfinished": session.scalar(
                select(func.count()).select_from(SourceFile)
                .where(SourceFile.status.in_(UNFINISHED_SOURCE))) or 0,
            "letters_processing": session.scalar(
                select(func.count()).select_from(MailItem)
                .where(MailItem.status.in_(UNFINISHED_ITEM))) or 0,
        }
