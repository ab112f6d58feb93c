"""A file handed in: stored once under its SHA-256, recorded once, and what became of it.

Every intake (the CLI, the hot folder, the S3 prefix, web uploads) registers files here. The
database's unique SHA-256 on `source_files` is the last line of defence against taking a file
twice; the claims of `intake.hot_folder` and `intake.s3` only save duplicate work.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.settings import get_settings
from storage.blobs import get_blob_store, original_key, sha256_file
from storage.db import audit, session_scope
from storage.models import ItemStatus, MailItem, SourceFile, SourceStatus

# A run that failed to finish its files this many times gives up on them: they go to quarantine
# with a reason instead of being retried forever (the failed runs are in the Prefect UI).
MAX_ATTEMPTS = 3
# Names a writer is still busy with (browsers, rsync, some scanner drivers).
UNFINISHED_SUFFIXES = {".part", ".partial", ".tmp", ".crdownload", ".filepart"}
SUPPORTED_SUFFIXES = {".pdf", ".tif", ".tiff", ".png", ".jpg", ".jpeg"}
FINISHED = {SourceStatus.done, SourceStatus.quarantined}


def worker_id() -> str:
    """Who holds a claim: readable in the bucket, unique per process."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Registered:
    source_id: str
    filename: str
    duplicate: bool  # the same bytes were ingested before
    done: bool  # ...and fully processed (nothing left to do)


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; folders walked in name order. Hidden files are skipped."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found.append(path)
    return found


def _existing(session: Session, digest: str) -> Registered | None:
    source = session.scalar(select(SourceFile).where(SourceFile.sha256 == digest))
    if source is None:
        return None
    return Registered(source.id, source.filename, duplicate=True, done=source.status in FINISHED)


def register_source(path: Path, *, uploaded_by: str = "") -> Registered:
    """Store the original under its SHA-256 (idempotency key) and record it once."""
    settings = get_settings()
    digest = sha256_file(path)
    with session_scope() as session:
        existing = _existing(session, digest)
        if existing is not None:
            return existing
        size = path.stat().st_size
        key = original_key(digest)
        store = get_blob_store()
        if size <= settings.max_file_bytes and not store.exists(key):
            store.put(key, path.read_bytes())
        source = SourceFile(sha256=digest, filename=path.name, size=size, blob_key=key,
                            uploaded_by=uploaded_by)
        session.add(source)
        try:
            session.flush()
        except IntegrityError:
            # Another worker registered the same bytes a moment ago: theirs is the source.
            session.rollback()
            return _existing(session, digest)
        audit(session, "source_received", actor=uploaded_by or "system", source_id=source.id,
              bytes=size)
        return Registered(source.id, source.filename, duplicate=False, done=False)


def register_file(path: Path, *, uploaded_by: str) -> str:
    """`register_source`, safe when another worker registers the same bytes at once:
    the loser of the race sees the winner's row (the unique SHA-256 decides)."""
    try:
        return register_source(path, uploaded_by=uploaded_by).source_id
    except IntegrityError:
        return register_source(path, uploaded_by=uploaded_by).source_id


# --- outcome of a source ---------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: str  # "done" | "quarantined" | "pending"
    reason: str = ""


def source_outcome(source_id: str) -> Outcome:
    """What became of a registered file: done, quarantined (with the reason), or still pending.

    A readable file whose every page was blank or a separator produced no letter: for the
    person at the scanner that is a quarantined file too.
    """
    with session_scope() as session:
        source = session.get(SourceFile, source_id)
        if source is None:
            return Outcome("pending")
        items = session.scalars(select(MailItem).where(MailItem.source_id == source_id)).all()
        if source.status == SourceStatus.quarantined:
            reason = source.error or next((i.quarantine_reason for i in items
                                           if i.quarantine_reason), "")
            return Outcome("quarantined", reason or "the file could not be processed")
        unfinished = {ItemStatus.received, ItemStatus.processing}
        if source.status != SourceStatus.done or any(i.status in unfinished for i in items):
            return Outcome("pending")
        if items and all(i.status == ItemStatus.quarantined for i in items):
            reasons = sorted({i.quarantine_reason for i in items if i.quarantine_reason})
            return Outcome("quarantined", "; ".join(reasons) or "no letter in the file")
        return Outcome("done")
