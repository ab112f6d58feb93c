"""No planted detail reaches a pen pal by any road: the whole journey, as shipped.

Generated typed letters with planted personal details go through `letterbridge ingest` (real
Prefect, both OCR engines as shipped, the real flow). For every letter released to a pen pal, each planted
value is looked for in everything the pen pal can get: the delivered page image (read again by
Tesseract), `pdftotext` of the delivered PDF, the redacted text, the pen pal's letter page in
the web app, and the notification email. None may hold it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from config.settings import reset_settings
from letterbridge.cli import app as cli
from letterbridge.samples import WATCH_TERMS, make_letter, make_roster, write_letter
from ocr.images import decode_image
from ocr.pii import fold_confusions
from ocr.tesseract import ocr_image
from review_ui import accounts
from review_ui.app import create_app
from storage.blobs import get_blob_store
from storage.db import session_scope
from storage.models import ItemStatus, MailItem, PageKind, WatchTerm

pytestmark = pytest.mark.prefect

NUMERIC = {"phone", "ssn", "card", "bank", "inmate_number"}
PASSWORD = "a long enough password 42"


def _digits(text: str) -> str:
    return re.sub(r"\D", "", fold_confusions(text))


def _alnum(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def readable(text: str, kind: str, value: str) -> bool:
    """Whether the value (for an address, either of its lines) can be read in `text`."""
    if kind in NUMERIC:
        return len(_digits(value)) >= 4 and _digits(value) in _digits(text)
    parts = value.split("\n") if "\n" in value else [value]
    return any(len(_alnum(p)) >= 4 and _alnum(p) in _alnum(text) for p in parts)


def _pdftotext(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-q", "-", "-"], input=pdf, capture_output=True,
                          check=True, timeout=60).stdout.decode("utf-8", "replace")


def _login(client: TestClient, email: str) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"email": email, "password": PASSWORD,
                                            "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text


def test_no_planted_value_reaches_a_pen_pal_by_any_road(
    prefect_api: str, lb_home: Path, second_engine: None, tmp_path: Path, smtp_server,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN typed letters from matched writers, with phones, SSNs, emails, cards, bank
    numbers, addresses and other prisoners' numbers planted in them
    WHEN ingested as shipped, with mail going to a real SMTP server
    THEN at least one letter is released, and for each released one no planted value is in its
    delivered image read again, its PDF text, its redacted text, its pen pal's page, or its
    email."""
    host, port, received = smtp_server
    monkeypatch.setenv("LETTERBRIDGE_SMTP_HOST", host)
    monkeypatch.setenv("LETTERBRIDGE_SMTP_PORT", str(port))
    reset_settings()
    roster = make_roster(8, seed=21)
    csvs = roster.write_csvs(tmp_path / "roster")
    runner = CliRunner()
    result = runner.invoke(cli, ["roster", "import", *[a for kind, path in csvs.items()
                                                        for a in (f"--{kind}", str(path))]])
    assert result.exit_code == 0, result.output
    with session_scope() as session:  # the program's private watch list
        session.add_all(WatchTerm(term=term) for term in WATCH_TERMS)
    matched = dict(roster.matches)
    senders = [p for p in roster.inmates if p.inmate_number in matched]
    letters, kinds = [], set()
    for seed in range(40):  # chosen by seed, before any OCR, to plant many kinds
        letter = make_letter(senders[seed % len(senders)], seed=100 + seed, style="typed",
                             n_pages=1, others=roster.inmates)
        new = {d.kind for d in letter.details} - kinds
        if new:
            letters.append(letter)
            kinds |= new
        if len(letters) == 3:
            break
    assert len(kinds) >= 4
    paths = [write_letter(letter, tmp_path / "scans" / f"scan-{n}.pdf")
             for n, letter in enumerate(letters)]
    result = runner.invoke(cli, ["ingest", *map(str, paths)])
    assert result.exit_code == 0, result.output

    planted = {path.name: letter for path, letter in zip(paths, letters, strict=True)}
    store = get_blob_store()
    leaks, checked, released = [], 0, 0
    app = create_app()
    with session_scope() as session:
        for volunteer_email in {matched[s.inmate_number] for s in senders}:
            accounts.add_user(session, email=volunteer_email, role="penpal", password=PASSWORD,
                              actor="test", volunteer_email=volunteer_email)
    with session_scope() as session:
        items = session.query(MailItem).all()
        for item in items:
            if item.status != ItemStatus.released:
                continue
            released += 1
            letter = planted[item.source.filename]
            pages = [p for p in item.pages if p.kind == PageKind.letter]
            roads = {
                "image": " ".join(ocr_image(decode_image(store.get(p.redacted_key))).text
                                  for p in pages),
                "pdf": _pdftotext(store.get(item.delivered_pdf_key)),
                "text": " ".join(p.redacted_text for p in pages),
                "email": " ".join(m.content.decode("utf-8", "replace") for m in received),
            }
            with TestClient(app) as client:
                _login(client, item.volunteer.email)
                page = client.get(f"/letters/{item.id}")
                assert page.status_code == 200
                roads["web page"] = page.text
            for detail in letter.details:
                if detail.kind == "sender_number":
                    continue
                checked += 1
                for road, text in roads.items():
                    if readable(text, detail.kind, detail.value):
                        leaks.append(f"{item.id} {detail.kind} in the {road}")
    assert released >= 1 and checked >= 3
    assert leaks == []
