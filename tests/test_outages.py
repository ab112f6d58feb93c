"""Outages end in the right state: S3 or the database going away mid-ingest never becomes a
verdict on a letter (quarantined, "every page is blank", released unredacted); the command says
so in words, and recovery finishes every letter exactly once when the service is back."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from forwarder import Forwarder
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from stored_items import new_item
from test_exactly_once import start, stop, wait_until
from test_intake import import_roster, write_letters

from intake.leases import MAX_FAILED_RUNS, unfinished_report, unfinished_source_ids
from letters.batch import mark_failed
from letters.intake import NotReady
from letters.redaction import find_redactions
from letters.release import decide, release_blockers
from letters.routing import route_item
from storage.db import session_scope
from storage.models import AuditEvent, ItemStatus, MailItem, Page, PageKind, SourceFile

VENV_BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]

# flows.* (Prefect) is imported inside the tests: imported before the `prefect_api` fixture
# sets PREFECT_API_URL, Prefect would try a temporary server of its own.


# --- the forwarder itself ------------------------------------------------------------------


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def _roundtrip(port: int, data: bytes = b"ping") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        return sock.recv(4096)


def test_the_forwarder_forwards_refuses_cuts_and_resumes(echo_port: int) -> None:
    """GIVEN a forwarder in front of an echo server WHEN it is up THEN bytes go through;
    WHEN it goes down THEN a live connection is cut and new ones are refused;
    WHEN it comes up THEN the same port forwards again."""
    fwd = Forwarder("127.0.0.1", echo_port)
    try:
        assert _roundtrip(fwd.port) == b"ping"
        live = socket.create_connection(("127.0.0.1", fwd.port), timeout=5)
        live.sendall(b"a")
        assert live.recv(16) == b"a"
        fwd.down()
        try:
            live.sendall(b"b")
            assert live.recv(16) == b""  # the far end closed
        except OSError:
            pass  # or reset: cut either way
        finally:
            live.close()
        with pytest.raises(ConnectionRefusedError):
            _roundtrip(fwd.port)
        fwd.up()
        assert _roundtrip(fwd.port, b"pong") == b"pong"
    finally:
        fwd.close()


# --- no verdict on a page nobody read -----------------------------------------------------


def a_letter_with_an_unread_page() -> str:
    with session_scope() as session:
        item = new_item(session)
        session.add_all([
            Page(item_id=item.id, index=1, kind=PageKind.envelope, image_key="p1",
                 clean_key="c1", words_key="w1", stage="ocr"),
            Page(item_id=item.id, index=2, kind=PageKind.letter, image_key="p2")])
        return item.id


def test_a_letter_with_an_unread_page_is_neither_routed_redacted_nor_decided(
        lb_home: Path) -> None:
    """GIVEN a letter whose envelope was read but whose letter page never was (its OCR task
    failed with the blob store) WHEN routing, redaction or the decision is asked for it
    THEN each refuses (NotReady) and the letter stays where it was, unrouted and undecided."""
    item_id = a_letter_with_an_unread_page()
    for step in (route_item, find_redactions, decide):
        with pytest.raises(NotReady, match="page 2 not read yet"):
            step(item_id)
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        assert (item.stage, item.status, item.review_reasons) == ("", "processing", [])
        assert not session.scalar(select(func.count()).select_from(AuditEvent))


def test_runs_stopped_by_an_outage_never_give_a_letter_up(lb_home: Path) -> None:
    """GIVEN a letter whose run was stopped by an outage more times than recovery's limit of
    failed runs, and one whose run failed that many times for a reason of its own
    WHEN recovery looks for unfinished work THEN the first is still retried, the second is
    left for a person; both wait for processing again (never releasable)."""
    interrupted, failed = a_letter_with_an_unread_page(), a_letter_with_an_unread_page()
    for _ in range(MAX_FAILED_RUNS + 1):
        mark_failed(interrupted, outage=True)
    for _ in range(MAX_FAILED_RUNS):
        mark_failed(failed)
    with session_scope() as session:
        sources = {item_id: session.get(MailItem, item_id).source_id
                   for item_id in (interrupted, failed)}
        for item_id in sources:
            assert release_blockers(session.get(MailItem, item_id))
    assert unfinished_source_ids() == [sources[interrupted]]
    report = unfinished_report()
    assert (report.letters_retrying, report.letters_given_up) == (1, 1)


def test_the_hot_folder_quarantines_no_file_for_a_connection_that_failed(
        lb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a claimed hot-folder file WHEN storing it fails with a refused connection (an
    OSError of the network, not of the file) THEN the error is raised and the file stays in
    its claim for the next run, not in quarantine/ as unreadable."""
    from intake import hot_folder

    hot = hot_folder.HotFolder(tmp_path / "hot")
    hot.ensure()
    (hot.root / "scan.pdf").write_bytes(b"%PDF-1.4 a letter")
    claim = hot.claim([hot.root / "scan.pdf"])

    def refused(path: Path, *, uploaded_by: str) -> str:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(hot_folder, "register_file", refused)
    with pytest.raises(ConnectionRefusedError):
        hot.register(claim)
    assert [p.name for p in claim.files()] == ["scan.pdf"]
    assert not list(hot.quarantine.glob("*"))
    claim.release()


# --- S3 ----------------------------------------------------------------------------------


@pytest.fixture
def s3_through(moto_server: str, lb_home: Path, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[Forwarder]:
    """Blobs in a fresh bucket of moto's S3, reached only through a switchable forwarder."""
    from config.settings import reset_settings
    from storage import blobs

    port = int(moto_server.rsplit(":", 1)[1])
    fwd = Forwarder("127.0.0.1", port)
    monkeypatch.setenv("LETTERBRIDGE_BLOB_BACKEND", "s3")
    monkeypatch.setenv("LETTERBRIDGE_S3_BUCKET", f"lb-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("LETTERBRIDGE_S3_ENDPOINT_URL", fwd.url)
    reset_settings()
    blobs._stores.clear()
    blobs.get_blob_store()  # creates the bucket
    try:
        yield fwd
    finally:
        fwd.close()
        blobs._stores.clear()


def letterbridge(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "letterbridge"), *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout)


def count(model) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def ingest_through_outage(scans: Path, log: Path, through: Forwarder, until, what: str, *,
                          blip: float | None = None, **env: str) -> subprocess.Popen:
    """`letterbridge ingest` of `scans`; once `until()` holds, `through` goes down — for `blip`
    seconds, or until the command gives up. Returns the finished process; `through` is up."""
    proc = start(["ingest", str(scans)], log, **env)
    try:
        wait_until(until, 120, what, proc, log)
        through.down()
        if blip is not None:
            time.sleep(blip)
            through.up()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        through.up()
    return proc


def assert_nothing_final_from_the_outage() -> None:
    """No file quarantined, no letter "blank", none decided or released while it was down."""
    with session_scope() as session:
        assert not session.scalar(select(func.count()).select_from(SourceFile)
                                  .where(SourceFile.status == "quarantined"))
        for item in session.scalars(select(MailItem)):
            assert item.status != ItemStatus.quarantined, item.review_reasons
            # Routed, redacted or decided only on pages that were read.
            assert item.stage == "" or all(p.words_key for p in item.pages), item.id
            assert item.stage != "done" or all(
                p.redacted_key for p in item.pages if p.kind == PageKind.letter), item.id
            assert item.status != ItemStatus.released or all(
                p.redacted_key for p in item.pages if p.kind == PageKind.letter), item.id
        assert not session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.in_(("quarantined", "released"))))


def assert_each_letter_finished_once(sources: int, pages_per_letter: int = 2) -> None:
    """One item per file with all its pages read, one `item_created` and one `decided` each,
    none stopped short or held for a failed run, every released letter redacted."""
    with session_scope() as session:
        assert set(session.scalars(select(SourceFile.status))) == {"done"}
        items = session.scalars(select(MailItem)).all()
        assert len(items) == sources and len({i.source_id for i in items}) == sources
        for item in items:
            assert item.stage == "done", item.id
            assert item.status not in {ItemStatus.quarantined, ItemStatus.received,
                                       ItemStatus.processing}, item.id
            assert "processing_failed" not in item.review_reasons, item.id
            assert len(item.pages) == pages_per_letter
            assert all(p.words_key for p in item.pages), item.id
            if item.status == ItemStatus.released:
                assert all(p.redacted_key and p.verified
                           for p in item.pages if p.kind == PageKind.letter), item.id
        for action in ("item_created", "decided"):
            per_item = dict(session.execute(
                select(AuditEvent.item_id, func.count()).where(AuditEvent.action == action)
                .group_by(AuditEvent.item_id)).all())
            assert per_item == {i.id: 1 for i in items}, action
        assert {i.status for i in items} == {ItemStatus.released}, "typed, matched letters"


@pytest.mark.slow
@pytest.mark.prefect
def test_s3_down_mid_ingest_leaves_the_letters_for_recovery_which_finishes_them_once(
        prefect_api: str, s3_through: Forwarder, tmp_path: Path) -> None:
    """GIVEN two letters stored in S3 by `letterbridge ingest` WHEN S3 becomes unreachable
    before their pages are rendered, and stays down until the command gives up
    THEN no file is quarantined and no letter is decided, blank or released; the command ends
    with a message in words (no traceback) and a non-zero exit; WHEN S3 is back and
    `letterbridge recover` runs THEN each letter exists once, read, redacted and released once."""
    roster = import_roster(tmp_path)
    scans = tmp_path / "scans"
    write_letters(roster, scans, 2, seed=700)
    log = tmp_path / "ingest.log"

    proc = ingest_through_outage(scans, log, s3_through, lambda: count(SourceFile) == 2,
                                 "both files stored")
    output = log.read_text()
    assert proc.returncode == 1, output
    # Prefect logs each failed task's traceback; the command itself ends with words.
    assert "2 file(s) not finished" in output.strip().splitlines()[-1], output
    assert_nothing_final_from_the_outage()
    with session_scope() as session:  # said, so recovery does not count these runs against them
        noted = {detail["source_id"] for detail in session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "source_interrupted"))}
        assert noted == set(session.scalars(select(SourceFile.id)))

    result = letterbridge("recover")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resumed 2 source(s)" in result.stdout
    assert_each_letter_finished_once(2)


def pages_read() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Page)
                              .where(Page.words_key != "")) or 0


@pytest.mark.slow
@pytest.mark.prefect
def test_s3_down_while_letters_are_read_never_decides_a_letter_on_missing_pages(
        prefect_api: str, s3_through: Forwarder, tmp_path: Path) -> None:
    """GIVEN `letterbridge ingest` of a letter WHEN S3 goes away once its first page is
    read, until the command gives up THEN no letter is decided on pages that were never read or redacted (none
    quarantined, none released without its redactions); WHEN S3 is back and
    `letterbridge recover` runs THEN the letter is read, redacted and released exactly once."""
    roster = import_roster(tmp_path)
    scans = tmp_path / "scans"
    write_letters(roster, scans, 1, seed=710)
    log = tmp_path / "ingest.log"

    proc = ingest_through_outage(scans, log, s3_through, lambda: pages_read() >= 1,
                                 "the first page read")
    output = log.read_text()
    assert_nothing_final_from_the_outage()
    with session_scope() as session:
        held = [i.id for i in session.scalars(select(MailItem)) if i.stage != "done"]
    assert held, "the outage must catch a letter part way"
    with session_scope() as session:  # counted as interrupted, not failed: never given up
        actions = set(session.scalars(select(AuditEvent.action).where(
            AuditEvent.item_id.in_(held), AuditEvent.action.like("processing_%"))))
    assert actions == {"processing_interrupted"}
    assert proc.returncode == 1 and "not finished" in output.strip().splitlines()[-1], output
    result = letterbridge("recover")
    assert result.returncode == 0, result.stdout + result.stderr
    assert_each_letter_finished_once(1)


@pytest.mark.slow
@pytest.mark.prefect
def test_a_blip_of_s3_mid_ingest_is_ridden_out_by_retries(
        prefect_api: str, s3_through: Forwarder, tmp_path: Path) -> None:
    """GIVEN `letterbridge ingest` of a letter WHEN S3 drops every connection and refuses
    new ones for 1.5 s once its first page is read THEN the retries ride it out: the command
    exits 0 and the letter is released exactly once, with no recovery needed."""
    roster = import_roster(tmp_path)
    scans = tmp_path / "scans"
    write_letters(roster, scans, 1, seed=760)
    log = tmp_path / "ingest.log"

    proc = ingest_through_outage(scans, log, s3_through, lambda: pages_read() >= 1,
                                 "the first page read", blip=1.5)
    assert proc.returncode == 0, log.read_text()
    assert_each_letter_finished_once(1)


@pytest.mark.slow
@pytest.mark.prefect
def test_s3_stopped_before_ingest_stores_nothing_and_says_so(
        prefect_api: str, s3_through: Forwarder, tmp_path: Path) -> None:
    """GIVEN S3 unreachable WHEN `letterbridge ingest` is given a letter THEN it ends at once
    with a message naming the blob store (no traceback, exit 1) and records no file;
    WHEN S3 is back and the same ingest runs again THEN the letter is released once."""
    roster = import_roster(tmp_path)
    scans = tmp_path / "scans"
    write_letters(roster, scans, 1, seed=720)
    s3_through.down()
    result = letterbridge("ingest", str(scans), timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Stopped: the blob store (S3) could not be reached" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert count(SourceFile) == 0
    s3_through.up()
    result = letterbridge("ingest", str(scans))
    assert result.returncode == 0, result.stdout + result.stderr
    assert_each_letter_finished_once(1)


# --- the database ------------------------------------------------------------------------


PG_URL = os.environ.get("LETTERBRIDGE_TEST_DATABASE_URL", "")


@pytest.fixture
def pg_through(lb_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Forwarder, str]]:
    """A fresh PostgreSQL schema; this test reaches it directly, the processes it starts
    through a switchable forwarder (returned with their database URL)."""
    from config.settings import reset_settings
    from storage import db

    if not PG_URL:
        pytest.skip("LETTERBRIDGE_TEST_DATABASE_URL not set")
    base = make_url(db._normalise_url(PG_URL))
    schema = f"lb_outage_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    fwd = Forwarder(base.host or "127.0.0.1", base.port or 5432)
    options = {"options": f"-csearch_path={schema}"}
    direct = base.update_query_dict(options).render_as_string(hide_password=False)
    forwarded = base.set(host="127.0.0.1", port=fwd.port).update_query_dict(options) \
        .render_as_string(hide_password=False)
    monkeypatch.setenv("LETTERBRIDGE_DATABASE_URL", direct)
    reset_settings()
    db.dispose_engines()
    db.migrate()
    try:
        yield fwd, forwarded
    finally:
        fwd.close()
        db.dispose_engines()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.postgres
def test_database_unreachable_at_start_fails_cleanly(
        prefect_api: str, pg_through: tuple[Forwarder, str], tmp_path: Path) -> None:
    """GIVEN `letterbridge ingest` whose database URL leads to a closed port WHEN it runs
    THEN it ends with a message naming the database (exit 1, no traceback) and nothing is
    recorded; WHEN the port leads to the database again THEN the same ingest releases the
    letter once."""
    fwd, url = pg_through
    roster = import_roster(tmp_path)
    scans = tmp_path / "scans"
    write_letters(roster, scans, 1, seed=730)
    fwd.down()
    result = letterbridge("ingest", str(scans), timeout=120, LETTERBRIDGE_DATABASE_URL=url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Stopped: the database could not be reached" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert count(SourceFile) == 0
    fwd.up()
    result = letterbridge("ingest", str(scans), LETTERBRIDGE_DATABASE_URL=url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_each_letter_finished_once(1)


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.postgres
def test_database_down_mid_ingest_leaves_every_letter_for_recovery(
        prefect_api: str, pg_through: tuple[Forwarder, str], tmp_path: Path) -> None:
    """GIVEN `letterbridge ingest` of a letter reaching PostgreSQL through the forwarder
    WHEN the database goes away (live connections cut, new ones refused) once its first page
    is read THEN the command ends with a message naming the database, and nothing is
    quarantined, decided or marked failed for good; WHEN the database is back THEN
    `letterbridge recover` finishes the letter exactly once."""
    fwd, url = pg_through
    roster = import_roster(tmp_path)
    scans = tmp_path / "scans"
    write_letters(roster, scans, 1, seed=740)
    log = tmp_path / "ingest.log"

    proc = ingest_through_outage(scans, log, fwd, lambda: pages_read() >= 1,
                                 "the first page read", LETTERBRIDGE_DATABASE_URL=url)
    output = log.read_text()
    assert proc.returncode == 1, output
    assert "the database could not be reached" in output.strip().splitlines()[-1], output
    assert_nothing_final_from_the_outage()

    result = letterbridge("recover", LETTERBRIDGE_DATABASE_URL=url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resumed 1 source(s)" in result.stdout
    assert_each_letter_finished_once(1)


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.postgres
def test_a_worker_started_while_the_database_is_down_waits_for_it_then_works(
        prefect_api: str, pg_through: tuple[Forwarder, str], tmp_path: Path) -> None:
    """GIVEN `letterbridge worker` watching a hot folder with a letter in it, its database URL
    leading to a closed port WHEN it starts THEN it stays up, saying the database could not be
    reached (no traceback), and takes nothing; WHEN the database is reachable again THEN it
    processes the letter exactly once."""
    fwd, url = pg_through
    roster = import_roster(tmp_path)
    hot = tmp_path / "hot"
    write_letters(roster, hot, 1, seed=750)
    fwd.down()
    log = tmp_path / "worker.log"
    proc = start(["worker", "--poll", "0.5", "--settle", "0.5"], log,
                 LETTERBRIDGE_DATABASE_URL=url, LETTERBRIDGE_WATCH_ENABLED="true",
                 LETTERBRIDGE_WATCH_FOLDER=str(hot))
    try:
        wait_until(lambda: "the database could not be reached" in log.read_text(), 60,
                   "the worker to say the database is down", proc, log)
        time.sleep(2)
        assert proc.poll() is None, log.read_text()
        assert count(SourceFile) == 0
        assert [p.name for p in hot.iterdir() if p.is_file()] == ["scan-0000.pdf"]
        fwd.up()
        wait_until(lambda: list((hot / "done").glob("*.pdf")), 120, "the letter in done/",
                   proc, log)
        wait_until(all_decided, 60, "the letter decided", proc, log)
        assert "Traceback" not in log.read_text()  # (before the stop: Prefect's runner logs one)
    finally:
        stop(proc)
    assert_each_letter_finished_once(1)


def all_decided() -> bool:
    with session_scope() as session:
        items = session.scalars(select(MailItem)).all()
        return bool(items) and all(i.stage == "done" for i in items)
