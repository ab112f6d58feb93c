"""The hot folder: files a scanner drops on disk, each taken once.

One filesystem, so every move is an atomic rename:

    <folder>/                        the scanner drops files here
    <folder>/processing/<claim>/     files one run has taken; it holds <claim>.lock (flock)
    <folder>/waiting/<source id>/    files stored as that source's original whose letters are
                                     not finished (an outage stopped their run, or their runs
                                     kept dying): recovery finishes them, the next run moves
                                     them on
    <folder>/done/                   processed files (a clashing name gets -2, -3…)
    <folder>/quarantine/             files that could not be processed, + <name>.reason.txt

A file is judged by what became of its source, never by how many runs it took: once its original
is stored, the source's own steps decide (a fault of the file quarantines it with its reason; an
outage never does, and recovery resumes it), and the file follows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import stat
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from intake.locks import try_flock
from intake.sources import (
    UNFINISHED_SUFFIXES,
    Outcome,
    UnusableFile,
    register_file,
    source_outcome,
    unusable_reason,
)
from storage.outages import is_outage

log = logging.getLogger(__name__)

# --- hot folder ------------------------------------------------------------------------


# A file must go unchanged this long before it is taken. Scanners that write over the network
# pause between pages, some for several seconds; 10 s outlasts the pauses we measured, and a
# writer that pauses longer writes a completion marker instead (see MARKER_SUFFIXES).
SETTLE_SECONDS = 10.0
# The two looks at the folder are this far apart (at most): a file that changes in between is
# still being written, whatever its timestamps say.
LOOK_SECONDS = 2.0
# `<name>.done` or `<name>.ready` beside a file says the writer finished it: taken at once.
MARKER_SUFFIXES = (".done", ".ready")
# A file whose bytes end the way its own format ends a whole file (`ends_whole`: a PDF's %%EOF,
# a JPEG's end-of-image, a PNG's IEND) is past any pause between its parts: it needs only to go
# unchanged across the two looks. A file cut off mid-write ends anywhere else (a PDF's pages
# come before its closing %%EOF), and waits the whole settle window.
WHOLE_SETTLE_SECONDS = LOOK_SECONDS
# How much of each end of a file `ends_whole` reads.
_ENDS_BYTES = 2048
_PDF_LENGTH = re.compile(rb"/L\s+(\d+)")
# In a claim: its last run was stopped by an outage, which is not an attempt (`orphaned_claims`).
INTERRUPTED = ".interrupted"


@dataclass(frozen=True)
class Seen:
    size: int
    mtime_ns: int
    ctime_ns: int  # the kernel's time of the inode's last change: no writer can set it back

    @property
    def changed(self) -> float:
        """When the file last changed, in seconds since the epoch. The later of mtime and
        ctime: a copier that restores an old mtime (cp -p, rsync -t) still bumps ctime."""
        return max(self.mtime_ns, self.ctime_ns) / 1e9


def _is_marker(path: Path) -> bool:
    return path.name.lower().endswith(MARKER_SUFFIXES)


def _is_dropped_name(path: Path) -> bool:
    """A name the scanner meant for us: not hidden, not a writer's temporary name."""
    return (not path.name.startswith((".", "~"))
            and path.suffix.lower() not in UNFINISHED_SUFFIXES)


def _is_candidate(path: Path) -> bool:
    return (_is_dropped_name(path) and not _is_marker(path)
            and path.is_file() and not path.is_symlink())


def odd_entries(folder: Path) -> list[tuple[Path, str]]:
    """Entries at the top of the folder that are not plain files (pipes, devices, sockets,
    links), each with the reason it will not be taken. Types are checked with stat before
    anything is opened, so a FIFO or a link to /dev/zero cannot hang a run."""
    odd: list[tuple[Path, str]] = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            path = Path(entry.path)
            if not _is_dropped_name(path):
                continue
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
                continue
            if stat.S_ISLNK(mode):
                reason = unusable_reason(path)  # what it leads to, if that is odd too
                odd.append((path, reason or "a link, not a file: drop the file itself"))
            else:
                odd.append((path, unusable_reason(path) or "not a regular file"))
    return sorted(odd)


def snapshot(folder: Path) -> dict[Path, Seen]:
    """Size, modification and change time of every file dropped at the top of the folder."""
    seen: dict[Path, Seen] = {}
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False) or not _is_candidate(path):
                continue
            with contextlib.suppress(FileNotFoundError):
                info = entry.stat(follow_symlinks=False)
                seen[path] = Seen(info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    return seen


def markers(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in MARKER_SUFFIXES]


def is_marked_complete(path: Path, seen: Seen) -> bool:
    """Whether a completion marker written after the file's last write stands beside it.

    A marker older than the file's content is left over from an earlier file of the same
    name (the scanner reuses names) and says nothing about this one.
    """
    for marker in markers(path):
        try:
            written = marker.stat(follow_symlinks=False).st_mtime_ns
        except FileNotFoundError:
            continue
        if written >= seen.mtime_ns:
            return True
    return False


def ends_whole(path: Path, seen: Seen) -> bool:
    """Whether the file's bytes end as its format ends a whole file. Only a few KB are read.

    - A PDF: its header at the start and %%EOF at the end; a linearized PDF also exactly the
      length it states, since one cut after its first page ends in %%EOF too.
    - A JPEG: its segments (each states its length) lead from the start to the image data,
      and the end-of-image marker is last. So one cut after the thumbnail that a camera or
      scanner puts in its metadata, a whole small JPEG of its own, is not taken for whole.
    - A PNG: its IEND chunk last.
    Anything else, a TIFF among them (its end says nothing), is never taken for whole.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(_ENDS_BYTES)
            if len(head) != min(seen.size, _ENDS_BYTES):
                return False  # it changed since it was looked at
            fh.seek(max(0, seen.size - _ENDS_BYTES))
            tail = fh.read(_ENDS_BYTES)
            if head.startswith(b"\x89PNG\r\n\x1a\n"):
                return tail.endswith(b"IEND\xaeB`\x82")
            if head.startswith(b"\xff\xd8"):
                return tail.endswith(b"\xff\xd9") and _jpeg_reaches_its_image(fh, seen.size)
    except OSError:
        return False
    start = head.find(b"%PDF-")
    if 0 <= start < 1024:
        if not tail.rstrip(b"\r\n\t ").endswith(b"%%EOF"):
            return False
        if b"/Linearized" in head and (stated := _PDF_LENGTH.search(head)):
            return int(stated.group(1)) == seen.size
        return True
    return False


def _jpeg_reaches_its_image(fh: IO[bytes], size: int) -> bool:
    """Whether the JPEG's segments, each as long as it states, lead from its start marker to
    the start of its image data (SOS) within the file's `size` bytes."""
    pos = 2
    for _ in range(1000):  # a real JPEG has a few dozen segments before its image data
        fh.seek(pos)
        marker = fh.read(4)
        if len(marker) < 2 or marker[0] != 0xFF:
            return False
        if marker[1] == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker[1] == 0xDA:
            return True
        if len(marker) < 4:
            return False
        pos += 2 + int.from_bytes(marker[2:4], "big")
        if pos >= size:
            return False
    return False


def _whole_and_quiet(path: Path, seen: Seen, now: float) -> bool:
    """Ends whole and unchanged for WHOLE_SETTLE_SECONDS (the time is checked first: cheap)."""
    return now - seen.changed >= WHOLE_SETTLE_SECONDS and ends_whole(path, seen)


def _quiet_long_enough(path: Path, seen: Seen, settle_seconds: float, now: float) -> bool:
    """Unchanged for the settle window, or for WHOLE_SETTLE_SECONDS if the file ends whole."""
    return now - seen.changed >= settle_seconds or _whole_and_quiet(path, seen, now)


def ready_now(folder: Path, settle_seconds: float, *, require_marker: bool = False,
              now: float | None = None) -> bool:
    """Cheap check for the sensor: is any file marked complete or unchanged long enough?"""
    now = time.time() if now is None else now
    return any(is_marked_complete(p, seen)
               or (not require_marker and _quiet_long_enough(p, seen, settle_seconds, now))
               for p, seen in snapshot(folder).items())


def settled_files(
    folder: Path,
    *,
    settle_seconds: float = SETTLE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    require_marker: bool = False,
) -> list[Path]:
    """Files the writer has finished: marked complete (`<name>.done` / `.ready`); ending as a
    whole file of its format ends (`ends_whole`) and unchanged for WHOLE_SETTLE_SECONDS; or
    unchanged (size, mtime and ctime) across two looks and for at least `settle_seconds`.

    A scanner writes a file over several seconds, sometimes with long pauses between pages;
    taking it early would ingest half a PDF and quarantine it as truncated. A file cut off in
    such a pause does not end whole, so it waits the window. A writer whose pauses can outlast
    any window writes markers, and the folder is set to `require_marker`: then only marked
    files are taken, however long the others sit still.
    """
    first = snapshot(folder)
    if not first:
        return []
    marked = {p for p, seen in first.items() if is_marked_complete(p, seen)}
    if not require_marker:
        # A whole file quiet for WHOLE_SETTLE_SECONDS needs no second look: its own ending says
        # the writer finished it, where a second look only guards timestamps against writing.
        now = clock()
        marked |= {p for p, seen in first.items()
                   if p not in marked and _whole_and_quiet(p, seen, now)}
    waiting = {p: seen for p, seen in first.items() if p not in marked}
    settled: set[Path] = set()
    if waiting and not require_marker:
        sleep(min(settle_seconds, LOOK_SECONDS))
        second = snapshot(folder)
        now = clock()
        settled = {path for path, seen in second.items()
                   if waiting.get(path) == seen
                   and _quiet_long_enough(path, seen, settle_seconds, now)}
    return sorted(marked | settled)


def move_no_clobber(src: Path, folder: Path, name: str | None = None) -> Path:
    """Move `src` into `folder` under its name, or name-2, name-3… if that is taken.

    A hard link fails when the target exists, so two runs can never overwrite each other's
    files; the source is unlinked once the link exists. A symbolic link is moved as the link
    itself, never what it points to.
    """
    folder.mkdir(parents=True, exist_ok=True)
    name = name or src.name
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1, 10_000):
        target = folder / (name if n == 1 else f"{stem}-{n}{suffix}")
        try:
            os.link(src, target, follow_symlinks=False)
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

    def mark_interrupted(self) -> None:
        """Say that this run was stopped by an outage (storage, the database): the run that
        takes the claim over does not count it as an attempt."""
        with contextlib.suppress(FileNotFoundError):
            (self.path / INTERRUPTED).touch()

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
    pending: list[str] = field(default_factory=list)  # source ids whose files wait in waiting/


@dataclass
class HotFolder:
    root: Path

    @property
    def processing(self) -> Path:
        return self.root / "processing"

    @property
    def waiting(self) -> Path:
        return self.root / "waiting"

    @property
    def done(self) -> Path:
        return self.root / "done"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    def ensure(self) -> None:
        for folder in (self.root, self.processing, self.waiting, self.done, self.quarantine):
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
            try:
                path.rename(claim.path / path.name)
            except FileNotFoundError:  # another run was quicker
                continue
            for marker in markers(path):  # it said "complete" about this file: done its job
                marker.unlink(missing_ok=True)
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
            interrupted = folder / INTERRUPTED
            try:
                attempt = int(attempts_file.read_text() or "1")
            except (FileNotFoundError, ValueError):
                attempt = 1
            if not interrupted.exists():  # a run an outage stopped was no attempt
                attempt += 1
            with contextlib.suppress(FileNotFoundError):
                attempts_file.write_text(str(attempt))
            interrupted.unlink(missing_ok=True)
            claim = FolderClaim(self, folder.name, fd, attempt=attempt)
            if not claim.files():
                claim.release()
                continue
            claims.append(claim)
        return claims

    # outcomes -------------------------------------------------------------------------
    def remove_stale_markers(self) -> int:
        """Completion markers whose file is gone (taken by a run that died before removing
        them, or never written): left alone they would vouch for the next file of that name."""
        removed = 0
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.root):
                path = Path(entry.path)
                if not entry.is_file(follow_symlinks=False) or not _is_marker(path):
                    continue
                if not path.with_name(path.name.rsplit(".", 1)[0]).exists():
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def set_aside_odd_entries(self) -> list[Path]:
        """Move pipes, devices, sockets and links dropped in the folder to quarantine/, each
        with its reason: they are never taken, and would otherwise sit there unexplained."""
        self.ensure()
        moved = []
        for path, reason in odd_entries(self.root):
            with contextlib.suppress(FileNotFoundError):  # another run was quicker
                moved.append(self.quarantine_file(path, f"the file was not taken: {reason}"))
        return moved

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
            except UnusableFile as exc:
                self.quarantine_file(path, f"the file was not taken: {exc.reason}")
            except OSError as exc:
                if is_outage(exc):  # the network, not the file: the claim waits for the next run
                    raise
                why = exc.strerror or exc.__class__.__name__
                self.quarantine_file(path, f"the file could not be read: {why}")
        return registered

    def _file(self, path: Path, outcome: Outcome) -> None:
        if outcome.status == "done":
            move_no_clobber(path, self.done)
        else:
            self.quarantine_file(path, outcome.reason)

    def file_away(self, claim: FolderClaim, registered: dict[Path, str]) -> FolderResult:
        """Move each file by what became of its source: done/, quarantine/ (+ reason), or,
        while its letters are not finished, waiting/<source id>/.

        A registered file's original is stored, so nothing is lost if it waits; whatever
        stopped its run (an outage, a dead worker), recovery resumes the source. The file is
        not given up on a count of runs, which an outage would run up in a minute.
        """
        result = FolderResult()
        for path, source_id in registered.items():
            if not path.exists():
                continue
            outcome = source_outcome(source_id)
            if outcome.status == "pending":
                move_no_clobber(path, self.waiting / source_id)
                result.pending.append(source_id)
                continue
            self._file(path, outcome)
            getattr(result, outcome.status).append(source_id)
        return result

    def file_away_waiting(self) -> FolderResult:
        """Move the files in waiting/ whose source has finished since (recovery, or a person
        in the mailroom) to done/ or quarantine/ (+ the source's reason). One run at a time:
        another run filing them already is left to it."""
        result = FolderResult()
        if not self.waiting.is_dir():
            return result
        lock_fd = try_flock(self.waiting / ".lock")
        if lock_fd is None:
            return result
        try:
            for folder in sorted(p for p in self.waiting.iterdir()
                                 if p.is_dir() and not p.name.startswith(".")):
                files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
                outcome = source_outcome(folder.name) if files else Outcome("done")
                if outcome.status == "pending":
                    continue
                for path in files:
                    self._file(path, outcome)
                if files:
                    getattr(result, outcome.status).append(folder.name)
                with contextlib.suppress(OSError):  # (a file moved in meanwhile: next time)
                    folder.rmdir()
        finally:
            os.close(lock_fd)
        return result
