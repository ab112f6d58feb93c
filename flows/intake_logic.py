"""Taking files in unattended: a hot folder on disk and a prefix in S3, each file taken once.

Plain functions and small classes, no Prefect: `flows/intake.py` wires them into flows, tests
call them directly.

Hot folder (one filesystem, so every move is an atomic rename):

    <folder>/                        the scanner drops files here
    <folder>/processing/<claim>/     files one run has taken; it holds <claim>.lock (flock)
    <folder>/done/                   processed files (a clashing name gets -2, -3…)
    <folder>/quarantine/             files that could not be processed, + <name>.reason.txt

S3 (`s3_intake_prefix`, e.g. "intake/"):

    intake/<name>                    dropped objects
    intake/.claims/<name>            claim marker, written with If-None-Match: * so one worker wins
    intake/processed/<name>          processed objects, tagged with their source id
    intake/quarantine/<name>         objects that could not be processed (+ <name>.reason.txt)

Neither claim is the last line of defence: the database's unique SHA-256 on `source_files`
is. A claim only keeps two workers from doing the same download and registration twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from flows.locks import try_flock

log = logging.getLogger(__name__)

# A run that failed to finish its files this many times gives up on them: they go to quarantine
# with a reason instead of being retried forever (the failed runs are in the Prefect UI).
MAX_ATTEMPTS = 3
# Names a writer is still busy with (browsers, rsync, some scanner drivers).
UNFINISHED_SUFFIXES = {".part", ".partial", ".tmp", ".crdownload", ".filepart"}


def worker_id() -> str:
    """Who holds a claim: readable in the bucket, unique per process."""
    return f"{socket.gethostname()}:{os.getpid()}"


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
    from storage.db import session_scope
    from storage.models import ItemStatus, MailItem, SourceFile

    with session_scope() as session:
        source = session.get(SourceFile, source_id)
        if source is None:
            return Outcome("pending")
        items = session.scalars(select(MailItem).where(MailItem.source_id == source_id)).all()
        if source.status == "quarantined":
            reason = source.error or next((i.quarantine_reason for i in items
                                           if i.quarantine_reason), "")
            return Outcome("quarantined", reason or "the file could not be processed")
        unfinished = {ItemStatus.received, ItemStatus.processing}
        if source.status != "done" or any(i.status in unfinished for i in items):
            return Outcome("pending")
        if items and all(i.status == ItemStatus.quarantined for i in items):
            reasons = sorted({i.quarantine_reason for i in items if i.quarantine_reason})
            return Outcome("quarantined", "; ".join(reasons) or "no letter in the file")
        return Outcome("done")


def register_file(path: Path, *, uploaded_by: str) -> str:
    """`steps.register_source`, safe when another worker registers the same bytes at once:
    the loser of the race sees the winner's row (the unique SHA-256 decides)."""
    from flows import steps

    try:
        return steps.register_source(path, uploaded_by=uploaded_by).source_id
    except IntegrityError:
        return steps.register_source(path, uploaded_by=uploaded_by).source_id


# --- hot folder ------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    size: int
    mtime_ns: int


def _is_candidate(path: Path) -> bool:
    name = path.name
    return (not name.startswith((".", "~"))
            and path.suffix.lower() not in UNFINISHED_SUFFIXES
            and path.is_file() and not path.is_symlink())


def snapshot(folder: Path) -> dict[Path, Seen]:
    """Size and modification time of every file dropped at the top of the folder."""
    seen: dict[Path, Seen] = {}
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False) or not _is_candidate(path):
                continue
            with contextlib.suppress(FileNotFoundError):
                stat = entry.stat(follow_symlinks=False)
                seen[path] = Seen(stat.st_size, stat.st_mtime_ns)
    return seen


def settled_files(
    folder: Path,
    *,
    settle_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> list[Path]:
    """Files that stopped growing: same size and mtime over `settle_seconds`, and at least that old.

    A scanner writes a file over several seconds; taking it early would ingest half a PDF.
    """
    first = snapshot(folder)
    if not first:
        return []
    sleep(settle_seconds)
    second = snapshot(folder)
    now = clock()
    return sorted(
        path for path, seen in second.items()
        if first.get(path) == seen and now - seen.mtime_ns / 1e9 >= settle_seconds
    )


def move_no_clobber(src: Path, folder: Path, name: str | None = None) -> Path:
    """Move `src` into `folder` under its name, or name-2, name-3… if that is taken.

    A hard link fails when the target exists, so two runs can never overwrite each other's
    files; the source is unlinked once the link exists.
    """
    folder.mkdir(parents=True, exist_ok=True)
    name = name or src.name
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1, 10_000):
        target = folder / (name if n == 1 else f"{stem}-{n}{suffix}")
        try:
            os.link(src, target)
        except FileExistsError:
            continue
        except OSError:
            # No hard links here (some network shares): rename after a plain existence check.
            if target.exists():
                continue
            src.rename(target)
            return target
        src.unlink()
        return target
    raise RuntimeError(f"no free name for {name} in {folder}")


class FolderClaim:
    """Files one run took out of the hot folder.

    The run holds an exclusive `flock` on `<claim>.lock` while it works. The kernel drops the
    lock when the process dies, however it dies (SIGKILL, power cut), so the next run can tell
    a claim whose owner is gone from one still being worked on.
    """

    def __init__(self, hot: HotFolder, name: str, lock_fd: int, attempt: int) -> None:
        self.hot = hot
        self.name = name
        self.lock_fd = lock_fd
        self.attempt = attempt

    @property
    def path(self) -> Path:
        return self.hot.processing / self.name

    def files(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.iterdir() if not p.name.startswith("."))

    def release(self) -> None:
        """Let go. An empty claim disappears; one with files left waits for the next run."""
        if self.lock_fd < 0:
            return
        lock_path = self.hot.processing / f"{self.name}.lock"
        if not self.files():
            shutil.rmtree(self.path, ignore_errors=True)
            # Unlink while still holding the lock; a run that opened the old file re-checks
            # the inode after locking (see HotFolder._lock).
            lock_path.unlink(missing_ok=True)
        os.close(self.lock_fd)
        self.lock_fd = -1

    def __enter__(self) -> FolderClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class FolderResult:
    done: list[str] = field(default_factory=list)  # source ids
    quarantined: list[str] = field(default_factory=list)  # source ids, or "" for unreadable
    pending: list[str] = field(default_factory=list)  # source ids left for the next run


@dataclass
class HotFolder:
    root: Path

    @property
    def processing(self) -> Path:
        return self.root / "processing"

    @property
    def done(self) -> Path:
        return self.root / "done"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    def ensure(self) -> None:
        for folder in (self.root, self.processing, self.done, self.quarantine):
            folder.mkdir(parents=True, exist_ok=True)

    # claims ---------------------------------------------------------------------------
    def _lock(self, name: str) -> int | None:
        """Exclusive, non-blocking lock on processing/<name>.lock; None if someone holds it."""
        return try_flock(self.processing / f"{name}.lock")

    def claim(self, files: Iterable[Path]) -> FolderClaim | None:
        """Move `files` into a fresh claim. A file another run took first is skipped."""
        self.ensure()
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        fd = self._lock(name)
        assert fd is not None, "a brand-new claim name cannot be locked by anyone else"
        claim = FolderClaim(self, name, fd, attempt=1)
        claim.path.mkdir()
        for path in files:
            with contextlib.suppress(FileNotFoundError):  # another run was quicker
                path.rename(claim.path / path.name)
        if not claim.files():
            claim.release()
            return None
        return claim

    def has_orphaned_claims(self) -> bool:
        """Whether a dead run left a claim (checked by briefly taking and dropping its lock)."""
        if not self.processing.is_dir():
            return False
        for folder in (p for p in self.processing.iterdir() if p.is_dir()):
            fd = self._lock(folder.name)
            if fd is not None:
                os.close(fd)
                return True
        return False

    def orphaned_claims(self) -> list[FolderClaim]:
        """Claims whose run died (its lock is free): this run takes them over."""
        if not self.processing.is_dir():
            return []
        claims = []
        for folder in sorted(p for p in self.processing.iterdir() if p.is_dir()):
            fd = self._lock(folder.name)
            if fd is None:
                continue  # a live run is working on it
            attempts_file = folder / ".attempts"
            try:
                attempt = int(attempts_file.read_text() or "1") + 1
            except (FileNotFoundError, ValueError):
                attempt = 2
            with contextlib.suppress(FileNotFoundError):
                attempts_file.write_text(str(attempt))
            claim = FolderClaim(self, folder.name, fd, attempt=attempt)
            if not claim.files():
                claim.release()
                continue
            claims.append(claim)
        return claims

    # outcomes -------------------------------------------------------------------------
    def quarantine_file(self, path: Path, reason: str) -> Path:
        target = move_no_clobber(path, self.quarantine)
        reason_file = target.with_name(f"{target.name}.reason.txt")
        reason_file.write_text(reason.rstrip() + "\n")
        log.warning("hot folder: quarantined a file: %s", reason.splitlines()[0] if reason else "")
        return target

    def register(self, claim: FolderClaim, *, uploaded_by: str = "hot-folder") -> dict[Path, str]:
        """Register every claimed file (original stored, row written). Returns path → source id.

        A file the process cannot even read (permissions, I/O error) goes to quarantine now.
        """
        registered: dict[Path, str] = {}
        for path in claim.files():
            try:
                registered[path] = register_file(path, uploaded_by=uploaded_by)
            except OSError as exc:
                why = exc.strerror or exc.__class__.__name__
                self.quarantine_file(path, f"the file could not be read: {why}")
        return registered

    def file_away(self, claim: FolderClaim, registered: dict[Path, str]) -> FolderResult:
        """Move each file by what became of it: done/, quarantine/ (+ reason), or leave it.

        A file still pending stays in the claim for the next run, until MAX_ATTEMPTS.
        """
        result = FolderResult()
        for path, source_id in registered.items():
            if not path.exists():
                continue
            outcome = source_outcome(source_id)
            if outcome.status == "done":
                move_no_clobber(path, self.done)
                result.done.append(source_id)
            elif outcome.status == "quarantined":
                self.quarantine_file(path, outcome.reason)
                result.quarantined.append(source_id)
            elif claim.attempt >= MAX_ATTEMPTS:
                self.quarantine_file(
                    path, f"processing failed {claim.attempt} times (source {source_id}); "
                    "the failed flow runs in the Prefect UI say why. Drop the file in the "
                    "folder again to retry.")
                result.quarantined.append(source_id)
            else:
                result.pending.append(source_id)
        return result


# --- S3 prefix -------------------------------------------------------------------------


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _http_status(exc: Exception) -> int:
    return int(getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


class S3Intake:
    """Objects dropped under a prefix of the bucket, each taken by one worker."""

    def __init__(self, client, bucket: str, prefix: str, *, owner: str | None = None,  # noqa: ANN001
                 claim_ttl_seconds: float = 900.0) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.owner = owner or worker_id()
        self.claim_ttl_seconds = claim_ttl_seconds

    @classmethod
    def from_settings(cls, prefix: str | None = None, **kwargs: object) -> S3Intake:
        """The blob store's bucket and client (same endpoint, retries and credentials)."""
        from config.settings import get_settings
        from storage.blobs import S3BlobStore, get_blob_store

        settings = get_settings()
        store = get_blob_store()
        if isinstance(store, S3BlobStore):
            client = store.client
        else:  # blobs on local disk, intake from a bucket: a client of its own
            import boto3
            from botocore.config import Config

            client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url,
                                  region_name=settings.s3_region,
                                  config=Config(retries={"max_attempts": 5, "mode": "standard"}))
        # Never the bucket's top: that is where an empty setting would point.
        prefix = (settings.s3_intake_prefix if prefix is None else prefix) or "intake/"
        return cls(client, settings.s3_bucket, prefix, **kwargs)

    def _rel(self, key: str) -> str:
        return key[len(self.prefix):]

    def _claim_key(self, key: str) -> str:
        return f"{self.prefix}.claims/{self._rel(key)}"

    def _list(self, prefix: str, *, flat: bool) -> list[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        extra = {"Delimiter": "/"} if flat else {}
        return [obj for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, **extra)
                for obj in page.get("Contents", [])]

    def pending(self, limit: int = 100, *, unclaimed_only: bool = False) -> list[str]:
        """Objects dropped at the top of the prefix, oldest first (processed/ and quarantine/
        are folders below it, so listing stays one cheap call however much was processed).

        `unclaimed_only` also leaves out keys with a live claim (what the sensor asks).
        """
        found = []
        for obj in self._list(self.prefix, flat=True):
            name = self._rel(obj["Key"])
            if (name and not name.startswith(".")
                    and Path(name).suffix.lower() not in UNFINISHED_SUFFIXES):
                found.append((obj["LastModified"], obj["Key"]))
        if unclaimed_only and found:
            now = datetime.now(UTC)
            live = {self.prefix + self._rel(obj["Key"])[len(".claims/"):]
                    for obj in self._list(f"{self.prefix}.claims/", flat=True)
                    if (now - obj["LastModified"]).total_seconds() < self.claim_ttl_seconds}
            found = [(at, key) for at, key in found if key not in live]
        return [key for _, key in sorted(found)[:limit]]

    def claim(self, key: str) -> int | None:
        """Take `key` for this worker. Returns the attempt number, or None if another has it.

        The marker is written with If-None-Match: * — S3 (and moto, MinIO…) accept exactly
        one such write. A marker older than the TTL belonged to a worker that died: it is
        replaced with If-Match on its ETag, so of two workers taking it over only one wins.
        """
        from botocore.exceptions import ClientError

        claim_key = self._claim_key(key)
        body = {"by": self.owner, "at": time.time(), "attempt": 1}
        try:
            self.client.put_object(Bucket=self.bucket, Key=claim_key, IfNoneMatch="*",
                                   Body=json.dumps(body).encode())
            return 1
        except ClientError as exc:
            if _http_status(exc) not in {409, 412} and _error_code(exc) not in {
                    "PreconditionFailed", "ConditionalRequestConflict"}:
                raise
        try:
            current = self.client.get_object(Bucket=self.bucket, Key=claim_key)
        except ClientError as exc:
            if _error_code(exc) in {"NoSuchKey", "404"}:
                return None  # released a moment ago; the next poll takes it
            raise
        age = (datetime.now(UTC) - current["LastModified"]).total_seconds()
        if age < self.claim_ttl_seconds:
            return None
        try:
            previous = json.loads(current["Body"].read() or b"{}")
        except ValueError:
            previous = {}
        body["attempt"] = int(previous.get("attempt", 1)) + 1
        try:
            self.client.put_object(Bucket=self.bucket, Key=claim_key, IfMatch=current["ETag"],
                                   Body=json.dumps(body).encode())
        except ClientError as exc:
            if _http_status(exc) in {409, 412} or _error_code(exc) in {
                    "PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"}:
                return None
            raise
        return body["attempt"]

    def release(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._claim_key(key))

    def download(self, key: str, folder: Path) -> Path:
        """The object as a file named like it (the name is what the mailroom recognises)."""
        name = key.rsplit("/", 1)[-1]
        target = folder / uuid.uuid4().hex[:8] / name
        target.parent.mkdir(parents=True)
        self.client.download_file(self.bucket, key, str(target))
        return target

    def file_away(self, key: str, *, status: str, source_id: str = "", reason: str = "") -> str:
        """Move the object to processed/ or quarantine/ (tagged with its source id), then drop
        the claim. Safe to repeat: a copy already made is recognised by its ETag."""
        from urllib.parse import urlencode

        from botocore.exceptions import ClientError

        folder = "quarantine/" if status == "quarantined" else "processed/"
        rel = self._rel(key)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in {"NoSuchKey", "404", "NotFound"}:
                self.release(key)  # filed away by an earlier attempt that died after the copy
                return ""
            raise
        target = f"{self.prefix}{folder}{rel}"
        try:
            existing = self.client.head_object(Bucket=self.bucket, Key=target)
            if existing["ETag"] != head["ETag"]:  # same name, other bytes: keep both
                stem, dot, ext = rel.rpartition(".")
                target = (f"{self.prefix}{folder}{stem}-{source_id or uuid.uuid4().hex[:8]}"
                          f"{dot}{ext}" if dot else f"{target}-{source_id}")
        except ClientError as exc:
            if _error_code(exc) not in {"NoSuchKey", "404", "NotFound"}:
                raise
        tags = urlencode({"letterbridge-status": status, "letterbridge-source": source_id})
        self.client.copy_object(Bucket=self.bucket, Key=target, TaggingDirective="REPLACE",
                                Tagging=tags, CopySource={"Bucket": self.bucket, "Key": key})
        if status == "quarantined":
            self.client.put_object(Bucket=self.bucket, Key=f"{target}.reason.txt",
                                   Body=(reason.rstrip() + "\n").encode(),
                                   ContentType="text/plain; charset=utf-8")
        self.client.delete_object(Bucket=self.bucket, Key=key)
        self.release(key)
        return target

    def register(self, keys: Iterable[str], work: Path, *,
                 uploaded_by: str = "s3-intake") -> dict[str, str]:
        """Download and register each claimed object. Returns key → source id."""
        from botocore.exceptions import ClientError

        registered: dict[str, str] = {}
        work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work, prefix="s3-intake-") as tmp:
            for key in keys:
                try:
                    path = self.download(key, Path(tmp))
                except ClientError as exc:
                    if _error_code(exc) not in {"NoSuchKey", "404", "NotFound"}:
                        raise
                    self.release(key)  # filed away by a run that died before dropping its claim
                    continue
                registered[key] = register_file(path, uploaded_by=uploaded_by)
                path.unlink()
        return registered
