"""Leases on sources, so the work a dead process left behind can be found without racing the living.

Every process that works on a source holds a *lease* on it for as long as it works:

- PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on one connection per batch.
  The server drops it when that connection ends; a SIGKILLed process's socket closes at once,
  and per-session TCP keepalives bound how long a powered-off machine keeps it (~1 minute).
- SQLite (one machine): an `flock` on `$LETTERBRIDGE_HOME/locks/source-<id>.lock`, which the
  kernel drops when the process dies.

So "not finished and nobody holds its lease" means "orphaned": `flows.recovery` takes the lease
and runs the ingest flow again, which resumes from each source's and item's recorded `stage`.
Because a lease proves that someone is working, recovery may take an orphan as soon as it is a
minute old (`RECOVER_MIN_AGE_SECONDS`) without ever taking live work; `leased_source_ids` looks
at the leases without taking them, for the status pages.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
FAILED = "processing_failed"  # letters.states.ReviewReason.processing_failed (a room above)
# Recovery takes an unleased, unfinished source once it is this old, every this often: the
# lease, not the age, is what tells live work apart, so a dead worker's letters resume within
# a minute or two. The age only leaves a just-registered file to the run it was handed to.
RECOVER_MIN_AGE_SECONDS = 60.0
RECOVER_EVERY_SECONDS = 60.0
# A letter whose run failed waits min_age × RETRY_BACKOFF^(failures - 1) before the next run
# (60 s, 5 min, 25 min): a database or network outage of a few minutes does not use up its runs.
RETRY_BACKOFF = 5


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


def _held_flocks() -> set[tuple[int, int]]:
    """(device, inode) of every file some process holds an `flock` on (Linux's /proc/locks)."""
    held = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if len(fields) >= 6 and fields[1] == "FLOCK":
                major, minor, inode = fields[5].split(":")
                held.add((os.makedev(int(major, 16), int(minor, 16)), int(inode)))
    return held


def leased_source_ids(source_ids: Iterable[str]) -> set[str]:
    """Which of these sources some live process holds the lease on, looked at without taking
    any (taking one, even briefly, could make a starting run pass its source by)."""
    source_ids = list(dict.fromkeys(source_ids))
    if not source_ids:
        return set()
    dialect = get_engine().dialect.name
    if dialect == "postgresql":
        with session_scope() as session:
            held = set(session.execute(text(
                "SELECT classid::bigint, objid::bigint FROM pg_locks WHERE locktype = 'advisory'"
                " AND objsubid = 1 AND granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())")).tuples())
        keys = {sid: _advisory_key(sid) & 0xFFFF_FFFF_FFFF_FFFF for sid in source_ids}
        return {sid for sid, key in keys.items() if (key >> 32, key & 0xFFFF_FFFF) in held}
    if dialect == "sqlite":
        held, folder, leased = _held_flocks(), _lock_dir(), set()
        for sid in source_ids:
            with contextlib.suppress(OSError):
                info = (folder / f"source-{sid}.lock").stat()
                if (info.st_dev, info.st_ino) in held:
                    leased.add(sid)
        return leased
    return set()


# --- what was left behind --------------------------------------------------------------


def _stopped_reason(runs: int) -> str:
    """Why a letter that stopped waits, in words: an outage (S3, the database) interrupted it,
    or its runs failed so many times."""
    if runs == 0:
        return "interrupted by an outage (storage or the database); recovery retries it"
    return f"processing failed {runs} time(s); " + ("recovery retries it" if runs < MAX_FAILED_RUNS
                                                     else "left for a person")


def _failed_runs(item_id: ColumnElement) -> ScalarSelect:
    return (select(func.count(AuditEvent.id))
            .where(AuditEvent.item_id == item_id, AuditEvent.action == "processing_failed")
            .scalar_subquery())


def _retry_due(failures: int, min_age_seconds: float) -> float:
    """How long a letter that failed `failures` times waits before recovery runs it again."""
    return min_age_seconds * RETRY_BACKOFF ** max(failures - 1, 0)


def unfinished_source_ids(*, min_age_seconds: float = 0.0, limit: int = 200,
                          exclude: Iterable[str] = ()) -> list[str]:
    """Sources not done, or with a letter still `received`/`processing`, at least
    `min_age_seconds` old; or with a letter whose processing failed fewer than MAX_FAILED_RUNS
    times, once its back-off (`_retry_due`) has passed. Oldest first; `exclude` (e.g. sources
    whose run waits in a work pool's queue) left out.

    Some may be in progress elsewhere; `lease_sources` tells those apart.
    """
    now = utcnow()
    cutoff = now - timedelta(seconds=min_age_seconds)
    with session_scope() as session:
        with_items = select(SourceFile.id, SourceFile.created_at).join(
            MailItem, MailItem.source_id == SourceFile.id)
        rows = set(session.execute(union(
            select(SourceFile.id, SourceFile.created_at)
            .where(SourceFile.status.in_(UNFINISHED_SOURCE), SourceFile.created_at <= cutoff),
            with_items.where(MailItem.status.in_(UNFINISHED_ITEM), MailItem.created_at <= cutoff),
        )).tuples())
        failures = _failed_runs(MailItem.id).label("failures")
        for sid, created, updated, runs in session.execute(
                select(SourceFile.id, SourceFile.created_at, MailItem.updated_at, failures)
                .join(MailItem, MailItem.source_id == SourceFile.id)
                .where(MailItem.status == ItemStatus.needs_review,
                       MailItem.stage != FINISHED_STAGE, MailItem.updated_at <= cutoff,
                       failures < MAX_FAILED_RUNS)).tuples():
            if (now - updated).total_seconds() >= _retry_due(runs, min_age_seconds):
                rows.add((sid, created))
    skip = set(exclude)
    return [sid for sid, _ in sorted(rows, key=lambda r: (r[1], r[0])) if sid not in skip][:limit]


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


# --- what waits, retries or fails, in words (for `letterbridge status` and the dashboard) ---


@dataclass(frozen=True)
class Unfinished:
    """One file or letter that is not finished. Ids, states and reasons only: no names."""

    source_id: str
    item_id: str  # "" for a file not yet split into letters
    state: str
    since: datetime
    reason: str


@dataclass(frozen=True)
class UnfinishedReport:
    files_waiting: int  # not yet split into letters: they are in no letter count
    files_in_progress: int  # of those, leased by a live process right now
    oldest_file: datetime | None
    letters_processing: int
    letters_retrying: int  # their run failed; recovery runs them again
    letters_given_up: int  # failed MAX_FAILED_RUNS runs: for a person
    emails_owed: int  # released letters whose email has not gone out (the outbox retries)
    rows: list[Unfinished] = field(default_factory=list)
    max_failed_runs: int = MAX_FAILED_RUNS

    @property
    def anything(self) -> bool:
        return bool(self.files_waiting or self.letters_processing or self.letters_retrying
                    or self.letters_given_up or self.emails_owed)


def unfinished_report(limit: int = 10) -> UnfinishedReport:
    """Files waiting, letters in processing, retrying or given up, emails owed; and the
    oldest `limit` files and letters of each kind, each with its reason in words."""
    with session_scope() as session:
        sources = session.execute(
            select(SourceFile.id, SourceFile.status, SourceFile.created_at, SourceFile.error)
            .where(SourceFile.status.in_(UNFINISHED_SOURCE))
            .order_by(SourceFile.created_at)).tuples().all()
        processing = session.execute(
            select(MailItem.id, MailItem.source_id, MailItem.status, MailItem.stage,
                   MailItem.updated_at)
            .where(MailItem.status.in_(UNFINISHED_ITEM))
            .order_by(MailItem.updated_at)).tuples().all()
        failures = _failed_runs(MailItem.id).label("failures")
        stopped = [row for row in session.execute(
            select(MailItem.id, MailItem.source_id, MailItem.stage, MailItem.updated_at,
                   MailItem.review_reasons, failures)
            .where(MailItem.status == ItemStatus.needs_review, MailItem.stage != FINISHED_STAGE)
            .order_by(MailItem.updated_at)).tuples() if FAILED in (row[4] or [])]
        emails_owed = session.scalar(
            select(func.count()).select_from(MailItem)
            .where(MailItem.status == ItemStatus.released, MailItem.notified_at.is_(None),
                   MailItem.volunteer_id.is_not(None))) or 0
    leased = leased_source_ids([sid for sid, *_ in sources] + [r[1] for r in processing])
    retrying = [r for r in stopped if r[5] < MAX_FAILED_RUNS]
    given_up = [r for r in stopped if r[5] >= MAX_FAILED_RUNS]
    rows = [Unfinished(sid, "", f"file {status}", created,
                       "being processed now" if sid in leased
                       else error or "waiting for a worker (or recovery)")
            for sid, status, created, error in sources[:limit]]
    rows += [Unfinished(sid, item_id, f"{status} (at {stage or 'the start'})", updated,
                        "being processed now" if sid in leased
                        else "its worker stopped; recovery resumes it")
             for item_id, sid, status, stage, updated in processing[:limit]]
    rows += [Unfinished(sid, item_id, f"stopped at {stage or 'the start'}", updated,
                        _stopped_reason(runs))
             for item_id, sid, stage, updated, _, runs in (retrying[:limit] + given_up[:limit])]
    return UnfinishedReport(
        files_waiting=len(sources), files_in_progress=sum(s[0] in leased for s in sources),
        oldest_file=sources[0][2] if sources else None, letters_processing=len(processing),
        letters_retrying=len(retrying), letters_given_up=len(given_up),
        emails_owed=emails_owed, rows=rows)
