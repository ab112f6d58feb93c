"""Outages end in the right state: S3 or the database going away mid-ingest never becomes a
verdict on a letter (quarantined, "every page is blank", released unredacted); the command says
so in words, and recovery finishes every letter exactly once when the service is back."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from forwarder import Forwarder
from sqlalchemy import func, select
from test_exactly_once import start, wait_until
from test_intake import import_roster, write_letters

from storage.db import session_scope
from storage.models import AuditEvent, ItemStatus, MailItem, PageKind, SourceFile

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


def letterbridge(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "letterbridge"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def count(model) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


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

    proc = start(["ingest", str(scans)], log)
    try:
        wait_until(lambda: count(SourceFile) == 2, 60, "both files stored", proc, log)
        s3_through.down()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        s3_through.up()
    output = log.read_text()
    assert proc.returncode == 1, output
    # Prefect logs each failed task's traceback; the command itself ends with words.
    assert "2 file(s) not finished" in output.strip().splitlines()[-1], output
    assert_nothing_final_from_the_outage()

    result = letterbridge("recover")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resumed 2 source(s)" in result.stdout
    assert_each_letter_finished_once(2)


def pages_read() -> int:
    from storage.models import Page

    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Page)
                              .where(Page.words_key != "")) or 0


@pytest.mark.slow
@pytest.mark.prefect
def test_s3_down_while_letters_are_read_never_decides_a_letter_on_missing_pages(
        prefect_api: str, s3_through: Forwarder, tmp_path: Path) -> None:
    """GIVEN `letterbridge ingest` of two letters WHEN S3 goes away once the first page is
    read, until the command gives up THEN no letter is decided on pages that were never read or redacted (none
    quarantined, none released without its redactions); WHEN S3 is back and
    `letterbridge recover` runs THEN each letter is read, redacted and released exactly once."""
    roster = import_roster(tmp_path)
    scans = tmp_path / "scans"
    write_letters(roster, scans, 2, seed=710)
    log = tmp_path / "ingest.log"

    proc = start(["ingest", str(scans)], log)
    try:
        wait_until(lambda: pages_read() >= 1, 120, "the first page read", proc, log)
        s3_through.down()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        s3_through.up()
    output = log.read_text()
    assert_nothing_final_from_the_outage()
    with session_scope() as session:
        held = [i.id for i in session.scalars(select(MailItem)) if i.stage != "done"]
    assert held, "the outage must catch a letter part way"
    assert proc.returncode == 1 and "not finished" in output.strip().splitlines()[-1], output
    result = letterbridge("recover")
    assert result.returncode == 0, result.stdout + result.stderr
    assert_each_letter_finished_once(2)
