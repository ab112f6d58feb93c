"""Quarantined files in the mailroom: listed with their reason, taken in again, or deleted."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from letters.intake import quarantine_source
from storage.blobs import get_blob_store
from storage.db import session_scope
from storage.models import AuditEvent, MailItem, SourceFile

ODD = b"\x00\x01 not a scan"


def _csrf(client, url: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).text).group(1)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The ingest commands the app starts, recorded instead of run (the CLI is tested apart)."""
    commands: list[list[str]] = []

    class Recorded:
        def __init__(self, args, **_kwargs) -> None:
            commands.append(args)

        def poll(self) -> int | None:
            return None

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    return commands


def _quarantined_file(name: str, data: bytes, reason: str) -> str:
    store = get_blob_store()
    with session_scope() as session:
        digest = hashlib.sha256(data).hexdigest()
        source = SourceFile(sha256=digest, filename=name, size=len(data),
                            blob_key=store.put(f"originals/{digest}", data))
        session.add(source)
        session.flush()
        source_id = source.id
    quarantine_source(source_id, "corrupt_file", reason)
    return source_id


def test_the_mailroom_lists_retries_and_deletes_quarantined_files(world, client_for,
                                                                   started) -> None:
    """GIVEN two files quarantined with their reasons WHEN the mailroom opens the queue
    THEN it links to them; the quarantine page names each file and its reason in words;
    WHEN one is taken in again THEN its quarantined letter is gone, the kept original is handed
    to `letterbridge ingest` as a new upload whose progress page opens; WHEN the other is
    deleted (only once confirmed) THEN its row, letter and original are gone; both audited."""
    damaged = _quarantined_file("scan-17.pdf", b"%PDF-1.4 damaged", "the PDF is damaged (truncated)")
    odd = _quarantined_file("photo.bin", ODD, "an unknown binary format")
    mailroom = client_for("mailroom")
    assert "2 quarantined files" in mailroom.get("/mailroom").text
    page = mailroom.get("/mailroom/quarantine").text
    assert "scan-17.pdf" in page and "the PDF is damaged (truncated)" in page
    assert "photo.bin" in page and "an unknown binary format" in page

    token = _csrf(mailroom, "/mailroom/quarantine")
    retried = mailroom.post(f"/mailroom/quarantine/{damaged}/retry", data={"csrf_token": token},
                            follow_redirects=False)
    assert retried.status_code == 303 and "/mailroom/uploads/" in retried.headers["location"]
    [command] = started
    assert command[-1].endswith("scan-17.pdf") and "ingest" in command
    assert Path(command[-1]).read_bytes() == b"%PDF-1.4 damaged"
    with session_scope() as session:
        assert session.get(SourceFile, damaged).status == "received"
        assert session.query(MailItem).filter_by(source_id=damaged).count() == 0

    unconfirmed = mailroom.post(f"/mailroom/quarantine/{odd}/delete", data={"csrf_token": token})
    assert unconfirmed.status_code == 303
    with session_scope() as session:
        assert session.get(SourceFile, odd) is not None
    mailroom.post(f"/mailroom/quarantine/{odd}/delete", data={"csrf_token": token, "confirm": "1"})
    with session_scope() as session:
        assert session.get(SourceFile, odd) is None
        assert session.query(MailItem).filter_by(source_id=odd).count() == 0
        actions = {e.action for e in session.query(AuditEvent)}
    assert not get_blob_store().exists(f"originals/{hashlib.sha256(ODD).hexdigest()}")
    assert {"quarantined_file_retried", "quarantined_file_deleted"} <= actions
    assert "photo.bin" not in mailroom.get("/mailroom/quarantine").text


@pytest.mark.browser
def test_in_the_browser_the_mailroom_takes_one_file_in_again_and_deletes_another(
        world, live_server, browser, started, sign_in) -> None:
    """GIVEN two quarantined files WHEN the mailroom follows the queue's link to them in the
    browser THEN each shows with its reason; WHEN "Take in again" is pressed THEN the upload's
    progress page opens for the kept original; WHEN "Delete" is pressed without ticking
    "for good" THEN the browser asks for the tick and nothing is deleted; ticked, the file is
    gone from the list."""
    damaged = _quarantined_file("scan-17.pdf", b"%PDF-1.4 damaged", "the PDF is damaged (truncated)")
    odd = _quarantined_file("photo.bin", ODD, "an unknown binary format")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in(page, "mailroom")
    page.goto(f"{live_server.url}/mailroom")
    with page.expect_navigation():
        page.click("a[href='/mailroom/quarantine']")
    rows = page.locator("table.quarantine tbody tr")
    assert rows.count() == 2
    assert "the PDF is damaged (truncated)" in page.locator(f"#file-{damaged}").inner_text()

    with page.expect_navigation():
        page.click(f"#file-{damaged} button:has-text('Take in again')")
    assert "/mailroom/uploads/" in page.url
    assert [c[-1].rsplit("/", 1)[-1] for c in started] == ["scan-17.pdf"]

    page.goto(f"{live_server.url}/mailroom/quarantine")
    page.click(f"#file-{odd} button:has-text('Delete')")  # unticked: the browser refuses
    assert page.locator(f"#file-{odd} input[name=confirm]").evaluate("e => !e.validity.valid")
    with session_scope() as session:
        assert session.get(SourceFile, odd) is not None
    page.check(f"#file-{odd} input[name=confirm]")
    with page.expect_navigation():
        page.click(f"#file-{odd} button:has-text('Delete')")
    assert page.locator(f"#file-{odd}").count() == 0
    with session_scope() as session:
        assert session.get(SourceFile, odd) is None
    context.close()
