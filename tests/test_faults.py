"""Faults end in the right state: odd files never stop the others nor hang, slow writers are
waited for, and a mail server that is down never loses a letter's email."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from test_intake import import_roster, write_letters

from intake.hot_folder import (
    WHOLE_SETTLE_SECONDS,
    HotFolder,
    Seen,
    ends_whole,
    odd_entries,
    settled_files,
)
from intake.sources import scan_paths
from storage.db import session_scope
from storage.models import MailItem, SourceFile

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# Tests run as root, and root reads a chmod-000 file anyway. Without these two capabilities
# root is held to the permission bits like anyone else, so "unreadable" is real.
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
          "--inh-caps=-dac_override,-dac_read_search", "--"]


def as_plain_user(args: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    """Run `args` without root's power to read any file (as root without DAC override)."""
    return subprocess.run([*NO_DAC, *args], capture_output=True, text=True, cwd=ROOT,
                          check=False, **kwargs)


def make_odd_folder(root: Path) -> dict[str, Path]:
    """A folder of scans with one of each odd entry beside two good files.

    scans/a-good.pdf          a file (the content does not matter for the scan)
    scans/sub/b-good.png      a file in a sub-folder
    scans/c-locked.pdf        chmod 000
    scans/d-pipe.pdf          a FIFO (opening it would wait for a writer forever)
    scans/e-zero.pdf          a link to /dev/zero (reading it never ends)
    scans/f-gone.pdf          a link to a file that is not there
    scans/g-self.pdf          a link to itself
    scans/sub/h-loop          a link to the folder above (a walk would never end)
    scans/.hidden.pdf         hidden: left out without a word
    """
    scans = root / "scans"
    (scans / "sub").mkdir(parents=True)
    paths = {
        "good": scans / "a-good.pdf", "good_sub": scans / "sub" / "b-good.png",
        "locked": scans / "c-locked.pdf", "pipe": scans / "d-pipe.pdf",
        "zero": scans / "e-zero.pdf", "gone": scans / "f-gone.pdf",
        "self": scans / "g-self.pdf", "loop": scans / "sub" / "h-loop",
    }
    paths["good"].write_bytes(b"%PDF-1.4 good")
    paths["good_sub"].write_bytes(b"\x89PNG good")
    paths["locked"].write_bytes(b"%PDF-1.4 locked")
    paths["locked"].chmod(0)
    os.mkfifo(paths["pipe"])
    paths["zero"].symlink_to("/dev/zero")
    paths["gone"].symlink_to(scans / "never-written.pdf")
    paths["self"].symlink_to(paths["self"])
    paths["loop"].symlink_to(scans, target_is_directory=True)
    (scans / ".hidden.pdf").write_bytes(b"hidden")
    return paths


SCAN_SCRIPT = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from intake.sources import scan_paths\n"
    "found = scan_paths([Path(a) for a in sys.argv[1:]])\n"
    "print(json.dumps({'files': [str(p) for p in found.files],\n"
    "                  'skipped': {str(s.path): s.reason for s in found.skipped},\n"
    "                  'missing': [str(p) for p in found.missing]}))\n"
)


# --- 1. odd files ------------------------------------------------------------------------


def test_odd_entries_are_skipped_with_a_reason_and_never_hang(tmp_path: Path) -> None:
    """GIVEN a folder with two good files beside an unreadable file, a FIFO, a link to
    /dev/zero, a dangling link, a link to itself and a folder loop, and the FIFO and the
    /dev/zero link also named directly
    WHEN it is scanned by a process that may not read the locked file (within 60 s)
    THEN exactly the two good files are taken, and every odd entry is skipped once with its
    reason in words."""
    paths = make_odd_folder(tmp_path)
    result = as_plain_user([sys.executable, "-c", SCAN_SCRIPT, str(tmp_path / "scans"),
                            str(paths["pipe"]), str(paths["zero"])], timeout=60)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["files"] == [str(paths["good"]), str(paths["good_sub"])]
    assert found["missing"] == []
    skipped = found["skipped"]
    assert skipped[str(paths["locked"])] == "could not be read: permission denied"
    assert skipped[str(paths["pipe"])] == "a named pipe (FIFO), not a file"
    assert skipped[str(paths["zero"])] == "a device, not a file"
    assert skipped[str(paths["gone"])] == "a link to something that is not there"
    assert skipped[str(paths["self"])] == "a link that leads back to itself (a loop)"
    assert skipped[str(paths["loop"])] == "a link to a folder that contains it (a loop)"
    assert len(skipped) == 6  # the FIFO and /dev/zero named twice are reported once each


def test_a_name_that_does_not_exist_is_missing_not_skipped(tmp_path: Path) -> None:
    """GIVEN a name with a typo beside a dangling link WHEN scanned THEN the typo is `missing`
    (the command refuses it, as before) while the link, which exists, is skipped."""
    (tmp_path / "gone.pdf").symlink_to(tmp_path / "nothing.pdf")
    found = scan_paths([tmp_path / "scna.pdf", tmp_path / "gone.pdf"])
    assert found.missing == [tmp_path / "scna.pdf"]
    assert [s.path for s in found.skipped] == [tmp_path / "gone.pdf"]
    assert found.files == []


def test_the_hot_folder_sets_odd_entries_aside_without_opening_them(tmp_path: Path) -> None:
    """GIVEN a hot folder with a FIFO, a link to /dev/zero, a dangling link and a link to a
    real scan beside a settled scan
    WHEN the folder is looked at THEN only the scan is a candidate, the sensor sees work, and
    setting aside moves each odd entry (the link itself, never its target) to quarantine/
    with its reason."""
    from flows.deployments import hot_folder_has_work

    hot = HotFolder(tmp_path / "hot")
    hot.ensure()
    outside = tmp_path / "elsewhere.pdf"
    outside.write_bytes(b"%PDF-1.4 kept where it is")
    os.mkfifo(hot.root / "pipe.pdf")
    (hot.root / "zero.pdf").symlink_to("/dev/zero")
    (hot.root / "gone.pdf").symlink_to(tmp_path / "nothing.pdf")
    (hot.root / "link.pdf").symlink_to(outside)
    scan = hot.root / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 a scan")
    old = time.time() - 60
    os.utime(scan, (old, old))

    assert [p.name for p, _ in odd_entries(hot.root)] == ["gone.pdf", "link.pdf", "pipe.pdf",
                                                          "zero.pdf"]
    assert settled_files(hot.root, settle_seconds=0.1) == [scan]
    scan.rename(tmp_path / "scan.pdf")  # only odd entries left: still work for a run
    assert hot_folder_has_work(hot.root, settle_seconds=0.1)()

    moved = hot.set_aside_odd_entries()
    assert sorted(p.name for p in moved) == ["gone.pdf", "link.pdf", "pipe.pdf", "zero.pdf"]
    reasons = {p.name: (hot.quarantine / f"{p.name}.reason.txt").read_text().strip()
               for p in moved}
    assert reasons == {
        "gone.pdf": "the file was not taken: a link to something that is not there",
        "link.pdf": "the file was not taken: a link, not a file: drop the file itself",
        "pipe.pdf": "the file was not taken: a named pipe (FIFO), not a file",
        "zero.pdf": "the file was not taken: a device, not a file",
    }
    assert (hot.quarantine / "link.pdf").is_symlink()
    assert outside.read_bytes() == b"%PDF-1.4 kept where it is"
    assert not any(hot.root.glob("*.pdf"))
    assert not hot_folder_has_work(hot.root, settle_seconds=0.1)()


@pytest.mark.prefect
def test_ingest_of_a_folder_with_odd_files_processes_the_rest_and_exits_0(
        prefect_api: str, lb_home: Path, tmp_path: Path) -> None:
    """GIVEN a roster and a folder holding one real letter beside an unreadable copy of
    another, a FIFO, a link to /dev/zero, a dangling link and a folder loop, with the FIFO
    also named on the command line
    WHEN `letterbridge ingest` runs as a user who may not read the locked file
    THEN it ends within five minutes with exit code 0 and no traceback, prints each odd entry
    with its reason, and the letter is processed (the only source)."""
    roster = import_roster(tmp_path)
    scans = tmp_path / "scans"
    [letter, locked] = write_letters(roster, scans, 2)
    locked.chmod(0)
    os.mkfifo(scans / "pipe.pdf")
    (scans / "zero.pdf").symlink_to("/dev/zero")
    (scans / "gone.pdf").symlink_to(scans / "nothing.pdf")
    (scans / "again").symlink_to(scans, target_is_directory=True)

    result = as_plain_user([str(VENV_BIN / "letterbridge"), "ingest", str(scans),
                            str(scans / "pipe.pdf")], timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    flat = " ".join(output.split())  # rich wraps long lines
    for name, reason in (("scan-0001.pdf", "could not be read: permission denied"),
                         ("pipe.pdf", "a named pipe (FIFO), not a file"),
                         ("zero.pdf", "a device, not a file"),
                         ("gone.pdf", "a link to something that is not there"),
                         ("again", "a link to a folder that contains it (a loop)")):
        assert f"{name}: {reason}" in flat, (name, flat)
    with session_scope() as session:
        sources = session.scalars(select(SourceFile)).all()
        assert [s.filename for s in sources] == [letter.name]
        [item] = session.scalars(select(MailItem)).all()
        assert item.status in {"released", "needs_review"}


# --- 2. slow writers ----------------------------------------------------------------------

SLOW_WRITER = (
    "import os, sys, time\n"
    "data = open(sys.argv[2], 'rb').read()\n"
    "pause = float(sys.argv[3])\n"
    "third = len(data) // 3\n"
    "with open(sys.argv[1], 'wb') as out:\n"
    "    for n, start in enumerate(range(0, len(data), third)):\n"
    "        if n:\n"
    "            time.sleep(pause)\n"
    "        out.write(data[start:start + third])\n"
    "        out.flush()\n"
    "        os.fsync(out.fileno())\n"
)


def a_scan(path: Path) -> Path:
    """A real three-page PDF of noise (incompressible, so it has some size)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    pages = [Image.fromarray(rng.integers(0, 256, (400, 300), dtype=np.uint8)) for _ in range(3)]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    return path


def take_while_writing(hot: HotFolder, complete: Path, *, pause: float,
                       settle_seconds: float) -> tuple[int, float]:
    """A scanner writes `complete` into the hot folder in three parts with `pause` seconds
    between them, while the intake keeps looking (two looks 2 s apart, as the flow does). Returns the size
    of the file at the moment it was claimed, and how long after its last write."""
    target = hot.root / "scan.pdf"
    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(target), str(complete),
                               str(pause)])
    deadline = time.monotonic() + 3 * pause + settle_seconds + 30
    try:
        while time.monotonic() < deadline:
            fresh = settled_files(hot.root, settle_seconds=settle_seconds)
            if fresh and (claim := hot.claim(fresh)) is not None:
                info = (claim.path / "scan.pdf").stat()  # a rename keeps the write's mtime
                since_write = time.time() - info.st_mtime_ns / 1e9
                writer.wait(timeout=3 * pause + 10)
                claim.release()
                return info.st_size, since_write
            time.sleep(0.25)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    raise AssertionError("the file was never taken")


def test_a_writer_that_pauses_longer_than_the_old_settle_time_is_waited_for(
        tmp_path: Path) -> None:
    """GIVEN a scanner that writes a PDF in three parts with 4 s pauses (longer than the old
    2 s settle time)
    WHEN the intake keeps looking with the old 2 s window THEN it takes the file
    half-written (the fault); WITH the worker's default window THEN it takes the file only
    once complete, byte for byte — and, as the finished file ends as a whole PDF ends, without
    waiting out the rest of the window."""
    from flows.deployments import WorkerOptions

    complete = a_scan(tmp_path / "complete.pdf")
    full = complete.stat().st_size

    old = HotFolder(tmp_path / "old-hot")
    old.ensure()
    size, _ = take_while_writing(old, complete, pause=4.0, settle_seconds=2.0)
    assert size < full  # what the issue saw: half a PDF, later quarantined as truncated

    hot = HotFolder(tmp_path / "hot")
    hot.ensure()
    settle = WorkerOptions().settle_seconds
    assert settle >= 10
    size, after_last_write = take_while_writing(hot, complete, pause=4.0, settle_seconds=settle)
    assert size == full
    assert WHOLE_SETTLE_SECONDS <= after_last_write < settle  # ends whole: the two looks do
    [claimed] = list(hot.processing.glob("*/scan.pdf"))
    assert claimed.read_bytes() == complete.read_bytes()


def _seen(path: Path) -> Seen:
    info = path.stat()
    return Seen(info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def test_only_a_file_that_ends_as_its_format_ends_a_whole_file_counts_as_whole(
        tmp_path: Path) -> None:
    """GIVEN real PDF, JPEG and PNG files, each whole and cut off at every tenth of its length,
    one preallocated (full size, its end still zeros), a linearized PDF cut after its first
    page, a JPEG cut right after the thumbnail in its metadata, and a TIFF WHEN each is asked
    whether it ends whole THEN only the whole PDF, JPEG and PNG do; a TIFF's end says nothing,
    so it never does; and only a whole file is taken before the settle window is out, without
    a second look."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(3)
    page = Image.fromarray(rng.integers(0, 256, (120, 90), dtype=np.uint8))
    whole = {}
    for ext, kwargs in (("pdf", {"save_all": True, "append_images": [page]}), ("jpg", {}),
                        ("png", {}), ("tif", {})):
        path = tmp_path / f"whole.{ext}"
        page.save(path, **kwargs)
        whole[ext] = path
    assert [ext for ext, path in whole.items() if ends_whole(path, _seen(path))] == [
        "pdf", "jpg", "png"]
    for ext, path in whole.items():
        data = path.read_bytes()
        for tenth in range(1, 10):
            cut = tmp_path / f"cut-{tenth}.{ext}"
            cut.write_bytes(data[: len(data) * tenth // 10])
            assert not ends_whole(cut, _seen(cut)), (ext, tenth)
        padded = tmp_path / f"preallocated.{ext}"
        padded.write_bytes(data[: len(data) // 2] + bytes(len(data) - len(data) // 2))
        assert not ends_whole(padded, _seen(padded)), ext

    # A JPEG carrying a thumbnail (a whole small JPEG) in its metadata, cut right after it.
    thumb = tmp_path / "thumb.jpg"
    page.resize((30, 40)).save(thumb)
    payload = b"Exif\x00\x00" + thumb.read_bytes()
    main = whole["jpg"].read_bytes()
    with_thumb = main[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + main[2:]
    jpeg = tmp_path / "with-thumbnail.jpg"
    jpeg.write_bytes(with_thumb)
    assert ends_whole(jpeg, _seen(jpeg))
    jpeg.write_bytes(with_thumb[: 6 + len(payload)])
    assert jpeg.read_bytes().endswith(b"\xff\xd9") and not ends_whole(jpeg, _seen(jpeg))

    # A linearized PDF states its length up front; cut after its first page it ends in %%EOF.
    first_page = (b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Linearized 1 /L 48213 /N 3 >>\n"
                  b"endobj\nxref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 >>\n"
                  b"startxref\n0\n%%EOF\n")
    linearized = tmp_path / "linearized.pdf"
    linearized.write_bytes(first_page)
    assert not ends_whole(linearized, _seen(linearized))
    linearized.write_bytes(first_page.replace(b"48213", b"%05d" % len(first_page)))  # same size
    assert ends_whole(linearized, _seen(linearized))

    hot = HotFolder(tmp_path / "hot")
    hot.ensure()
    for ext in ("pdf", "tif"):
        (hot.root / f"scan.{ext}").write_bytes(whole[ext].read_bytes())
        (hot.root / f"cut.{ext}").write_bytes(whole[ext].read_bytes()[:-100])

    def after(seconds: float):
        return lambda: time.time() + seconds

    looked: list[float] = []
    taken = settled_files(hot.root, settle_seconds=10, sleep=looked.append,
                          clock=after(WHOLE_SETTLE_SECONDS + 0.5))
    assert [p.name for p in taken] == ["scan.pdf"]
    assert looked == [WHOLE_SETTLE_SECONDS]  # the second look was for the others
    alone = HotFolder(tmp_path / "alone")
    alone.ensure()
    (alone.root / "scan.pdf").write_bytes(whole["pdf"].read_bytes())
    looked.clear()
    assert settled_files(alone.root, settle_seconds=10, sleep=looked.append,
                         clock=after(WHOLE_SETTLE_SECONDS + 0.5)) == [alone.root / "scan.pdf"]
    assert looked == []
    later = settled_files(hot.root, settle_seconds=10, sleep=lambda _s: None, clock=after(10.5))
    assert [p.name for p in later] == ["cut.pdf", "cut.tif", "scan.pdf", "scan.tif"]


def test_a_completion_marker_takes_a_file_at_once_and_only_the_file_it_follows(
        tmp_path: Path) -> None:
    """GIVEN a file written a moment ago with `scan.pdf.done` beside it, and another whose
    `.ready` marker is left over from yesterday's file of that name
    WHEN the folder is checked with a 10 s window THEN the marked file is taken at once; the
    one with the stale marker waits; the markers are never files to ingest; once claimed the
    marker is gone, and a marker whose file is gone is cleaned up."""
    hot = HotFolder(tmp_path / "hot")
    hot.ensure()
    stale = hot.root / "old.pdf.ready"
    stale.write_text("")
    yesterday = time.time() - 86400
    os.utime(stale, (yesterday, yesterday))
    (hot.root / "old.pdf").write_bytes(b"%PDF-1.4 written after the marker")
    (hot.root / "scan.pdf").write_bytes(b"%PDF-1.4 complete")
    (hot.root / "scan.pdf.done").write_text("")

    looked: list[float] = []
    taken = settled_files(hot.root, settle_seconds=10, sleep=looked.append)
    assert taken == [hot.root / "scan.pdf"]
    assert looked == [2.0]  # old.pdf had its second look; scan.pdf did not need one
    assert odd_entries(hot.root) == []
    claim = hot.claim(taken)
    assert [p.name for p in claim.files()] == ["scan.pdf"]
    assert not (hot.root / "scan.pdf.done").exists()
    claim.release()

    (hot.root / "gone.pdf.done").write_text("")  # its file was taken by a run that died
    assert hot.remove_stale_markers() == 1
    assert sorted(p.name for p in hot.root.iterdir() if p.is_file()) == ["old.pdf",
                                                                         "old.pdf.ready"]


def test_a_folder_that_requires_markers_takes_nothing_unmarked_however_still(
        tmp_path: Path) -> None:
    """GIVEN a writer whose pauses can outlast any window, so its folder requires markers, and
    in it a file untouched for an hour (half written: the writer stalled) and a marked one
    WHEN the folder is checked THEN only the marked file is taken and the sensor sees work
    only while a marked file waits."""
    from flows.deployments import hot_folder_has_work

    hot = HotFolder(tmp_path / "hot")
    hot.ensure()
    stalled = hot.root / "stalled.pdf"
    stalled.write_bytes(b"%PDF-1.4 first pages only")
    an_hour_ago = time.time() - 3600
    os.utime(stalled, (an_hour_ago, an_hour_ago))

    def later() -> float:  # an hour on: its ctime is an hour old too
        return time.time() + 3600

    has_work = hot_folder_has_work(hot.root, 10, require_marker=True)
    assert settled_files(hot.root, settle_seconds=10, clock=later, require_marker=True) == []
    assert settled_files(hot.root, settle_seconds=10, clock=later) == [stalled]
    assert not has_work()
    (hot.root / "marked.pdf").write_bytes(b"%PDF-1.4 complete")
    (hot.root / "marked.pdf.ready").write_text("")
    assert has_work()
    assert settled_files(hot.root, settle_seconds=10, clock=later, require_marker=True) == [
        hot.root / "marked.pdf"]


# --- 4. what is waiting, visibly -----------------------------------------------------------


def _row(output: str, label: str) -> list[str]:
    """The cells of the table row that starts with `label`."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0].startswith(label):
            return cells
    raise AssertionError(f"no row {label!r} in\n{output}")


def test_status_shows_files_waiting_letters_retrying_and_emails_owed(lb_home: Path) -> None:
    """GIVEN a file a worker took but never split (it died against a wrong database port), a
    letter in processing, a letter whose run failed once, one that failed three times, and a
    released letter whose email did not go out
    WHEN an admin runs `letterbridge status` THEN each shows up, counted, with its reason —
    the unsplit file too, which is in no letter count."""
    from datetime import timedelta

    from typer.testing import CliRunner

    from letterbridge.cli import app
    from storage.db import audit
    from storage.models import Volunteer, utcnow

    with session_scope() as session:
        waiting = SourceFile(sha256="1" * 64, filename="a.pdf", size=1, blob_key="k1",
                             created_at=utcnow() - timedelta(minutes=7))
        split = SourceFile(sha256="2" * 64, filename="b.pdf", size=1, blob_key="k2",
                           status="done")
        volunteer = Volunteer(display_name="Ann Example", email="ann@example.org")
        session.add_all([waiting, split, volunteer])
        session.flush()
        items = {
            "processing": MailItem(source_id=split.id, first_source_page=1, status="processing"),
            "once": MailItem(source_id=split.id, first_source_page=2, status="needs_review",
                             stage="routed", review_reasons=["processing_failed"]),
            "thrice": MailItem(source_id=split.id, first_source_page=3, status="needs_review",
                               review_reasons=["processing_failed"]),
            "owed": MailItem(source_id=split.id, first_source_page=4, status="released",
                             stage="done", volunteer_id=volunteer.id, released_at=utcnow()),
        }
        session.add_all(items.values())
        session.flush()
        audit(session, "processing_failed", item_id=items["once"].id, stage="routed")
        for _ in range(3):
            audit(session, "processing_failed", item_id=items["thrice"].id, stage="")
        ids = {name: item.id for name, item in items.items()} | {"waiting": waiting.id}

    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    output = result.output
    assert _row(output, "files not yet split")[1:] == ["1", "7 min"]
    assert _row(output, "letters being processed")[1] == "1"
    assert _row(output, "letters whose run failed, to be retried")[1] == "1"
    assert _row(output, "letters that failed 3 runs")[1] == "1"
    assert _row(output, "emails not sent yet")[1] == "1"
    assert _row(output, ids["waiting"])[2:] == ["file received", "7 min",
                                                "waiting for a worker (or recovery)"]
    letters = {cells[1]: cells[2:] for line in output.splitlines()
               if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 5}
    assert letters[ids["once"]][0::2] == ["stopped at routed",
                                          "processing failed 1 time(s); recovery retries it"]
    assert letters[ids["thrice"]][2] == "processing failed 3 time(s); left for a person"
    assert "a.pdf" not in output and "b.pdf" not in output  # ids, never file names
