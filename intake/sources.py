"""A file handed in: stored once under its SHA-256, recorded once, and what became of it.

Every intake (the CLI, the hot folder, the S3 prefix, web uploads) registers files here. The
database's unique SHA-256 on `source_files` is the last line of defence against taking a file
twice; the claims of `intake.hot_folder` and `intake.s3` only save duplicate work.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.settings import get_settings
from storage.blobs import get_blob_store, original_key, sha256_file
from storage.db import audit, session_scope
from storage.models import ItemStatus, MailItem, SourceFile, SourceStatus

# A hot-folder claim whose runs died this many times holding it (killed, say by a file that
# exhausts memory; a run an outage stopped is not counted) is not ingested by the hot folder
# again: its stored files wait for recovery. No count of runs ever quarantines a file: only
# what became of its source does (`source_outcome`).
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


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str  # in words, for the person at the scanner


@dataclass
class Found:
    files: list[Path] = field(default_factory=list)  # regular files this process can read
    skipped: list[Skipped] = field(default_factory=list)  # odd entries, each with its reason
    missing: list[Path] = field(default_factory=list)  # names given that do not exist at all


class UnusableFile(OSError):
    """Not a file this process can take: a pipe, a device, a dangling link, unreadable…"""

    def __init__(self, reason: str) -> None:
        super().__init__(errno.EINVAL, reason)
        self.reason = reason


def _kind_reason(mode: int) -> str | None:
    """Why an entry of this type is not taken; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    return "not a regular file"


def _stat_reason(exc: OSError, path: Path) -> str:
    if exc.errno == errno.ELOOP:
        return "a link that leads back to itself (a loop)"
    if isinstance(exc, FileNotFoundError) and path.is_symlink():
        return "a link to something that is not there"
    if isinstance(exc, PermissionError):
        return "could not be read: permission denied"
    return f"could not be read: {exc.strerror or type(exc).__name__}"


def unusable_reason(path: Path) -> str | None:
    """None when `path` is a regular file this process can read, else why not.

    The type is checked with stat first: opening a FIFO blocks until a writer comes and a
    device like /dev/zero never ends, so neither is ever opened. The open itself is
    non-blocking and checked again, in case the entry was swapped since the stat.
    """
    try:
        reason = _kind_reason(path.stat().st_mode)
    except OSError as exc:
        return _stat_reason(exc, path)
    if reason:
        return reason
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        return _stat_reason(exc, path)
    try:
        reason = _kind_reason(os.fstat(fd).st_mode)
        if reason is None:
            os.read(fd, 1)  # an I/O error shows here, not halfway through the batch
    except OSError as exc:
        reason = _stat_reason(exc, path)
    finally:
        os.close(fd)
    return reason


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _walk(folder: Path, found: Found, ancestors: frozenset[tuple[int, int]],
          seen: set[tuple[int, int]]) -> None:
    """Depth first in name order; links to folders are followed unless they loop."""
    try:
        names = sorted(entry.name for entry in os.scandir(folder))
    except OSError as exc:
        found.skipped.append(Skipped(folder, "folder " + _stat_reason(exc, folder)))
        return
    for name in names:
        if _hidden(name):
            continue
        path = folder / name
        try:
            info = path.stat()
        except OSError as exc:
            found.skipped.append(Skipped(path, _stat_reason(exc, path)))
            continue
        if stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key in ancestors:
                found.skipped.append(Skipped(path, "a link to a folder that contains it (a loop)"))
            elif key in seen:
                found.skipped.append(Skipped(path, "the same folder as one already taken"))
            else:
                seen.add(key)
                _walk(path, found, ancestors | {key}, seen)
            continue
        reason = unusable_reason(path)
        if reason:
            found.skipped.append(Skipped(path, reason))
        else:
            found.files.append(path)


def scan_paths(paths: list[Path]) -> Found:
    """Files as given; folders walked in name order (hidden entries skipped).

    One odd entry never stops the others: FIFOs, devices, sockets, dangling or looping links
    and unreadable files are skipped, each with its reason in words. A name that does not
    exist at all is `missing` (most likely a typo on the command line).
    """
    found = Found()
    seen: set[tuple[int, int]] = set()
    for path in paths:
        if not os.path.lexists(path):
            found.missing.append(path)
            continue
        try:
            info = path.stat()
        except OSError as exc:
            found.skipped.append(Skipped(path, _stat_reason(exc, path)))
            continue
        if stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key not in seen:
                seen.add(key)
                _walk(path, found, frozenset({key}), seen)
            continue
        reason = unusable_reason(path)
        if reason:
            found.skipped.append(Skipped(path, reason))
        else:
            found.files.append(path)
    return found


def expand_paths(paths: list[Path]) -> list[Path]:
    """The readable files of `scan_paths` (odd entries and missing names dropped)."""
    return scan_paths(paths).files


def _existing(session: Session, digest: str) -> Registered | None:
    source = session.scalar(select(SourceFile).where(SourceFile.sha256 == digest))
    if source is None:
        return None
    return Registered(source.id, source.filename, duplicate=True, done=source.status in FINISHED)


def register_source(path: Path, *, uploaded_by: str = "") -> Registered:
    """Store the original under its SHA-256 (idempotency key) and record it once.

    Raises `UnusableFile` (an OSError) for anything but a readable regular file.
    """
    settings = get_settings()
    reason = unusable_reason(path)
    if reason:
        raise UnusableFile(reason)
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
