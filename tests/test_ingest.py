"""The first journey: scanned letters in, routed and exported letters out (real Tesseract, real Prefect)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from letterbridge.cli import app
from storage.db import session_scope
from storage.models import AuditEvent, MailItem, Page, SourceFile

pytestmark = pytest.mark.prefect


@pytest.fixture
def roster_and_letters(lb_home: Path, tmp_path: Path):
    from letterbridge.samples import make_letter, make_roster, write_letter

    roster = make_roster(6, seed=3)
    csvs = roster.write_csvs(tmp_path / "roster")
    runner = CliRunner()
    result = runner.invoke(app, ["roster", "import", *[a for kind, path in csvs.items()
                                                        for a in (f"--{kind}", str(path))]])
    assert result.exit_code == 0, result.output
    matched = {number for number, _ in roster.matches}
    senders = [p for p in roster.inmates if p.inmate_number in matched][:2]
    letters = []
    for n, sender in enumerate(senders):
        letter = make_letter(sender, seed=10 + n, style="typed", n_pages=1, degrade="scan")
        path = write_letter(letter, tmp_path / "scans" / f"scan-{n:04d}.pdf")
        letters.append((letter, path))
    volunteer_of = dict(roster.matches)
    return letters, volunteer_of


def test_ingest_routes_each_letter_to_its_pen_pal_and_exports_it(
    prefect_api: str, second_engine: None, roster_and_letters, tmp_path: Path
) -> None:
    """GIVEN two scanned typed letters from senders on the roster
    WHEN `letterbridge ingest` runs them and `letterbridge export` writes them out
    THEN each item names the right sender and the matched volunteer, its pages carry text with
    confidences, and the exported images exist."""
    letters, volunteer_of = roster_and_letters
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", *[str(path) for _, path in letters]])
    assert result.exit_code == 0, result.output
    out = tmp_path / "export"
    result = runner.invoke(app, ["export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    docs = {json.loads(p.read_text())["sources"][0]: json.loads(p.read_text())
            for p in out.glob("*/item.json")}
    assert len(docs) == 2
    for letter, path in letters:
        doc = docs[path.name]
        assert doc["sender"]["inmate_number"] == letter.sender.inmate_number
        assert doc["routed_to"] == volunteer_of[letter.sender.inmate_number]
        assert doc["status"] in {"released", "needs_review"}
        kinds = [p["kind"] for p in doc["pages"]]
        assert kinds[0] == "envelope" and "letter" in kinds
        for page in doc["pages"]:
            # Stored as page images (ocr/images.py), exported as PNG.
            image = (out / doc["id"] / page["image"]).read_bytes()
            assert image[:8] == b"\x89PNG\r\n\x1a\n", page["kind"]
            assert page["confidence"] > 0
        letter_text = " ".join(p["text"] for p in doc["pages"] if p["kind"] == "letter")
        assert letter.sender.name.split()[-1] in letter_text


def test_reingesting_the_same_file_makes_no_second_item(
    prefect_api: str, roster_and_letters
) -> None:
    """GIVEN a letter already ingested WHEN the same file is ingested again
    THEN no second source or item appears and the command still exits 0."""
    letters, _ = roster_and_letters
    _, path = letters[0]
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(path)]).exit_code == 0
    with session_scope() as s:
        before = s.scalar(select(func.count()).select_from(MailItem))
    result = runner.invoke(app, ["ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert "already ingested" in result.output
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(MailItem)) == before
        assert s.scalar(select(func.count()).select_from(SourceFile)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == "decided")) == before


def test_bad_files_are_quarantined_and_the_batch_goes_on(
    prefect_api: str, roster_and_letters, tmp_path: Path
) -> None:
    """GIVEN a batch with an empty file, a truncated PDF, an encrypted PDF, a huge image and a
    text file named .pdf next to one good letter WHEN ingested THEN each bad file is one
    quarantined item with its reason, the good letter is processed, the exit code is 0, and
    the progress bar ends at N/N with only the good letter's pages."""
    from letterbridge.samples import make_bad_inputs

    letters, _ = roster_and_letters
    expected = make_bad_inputs(tmp_path / "bad")
    paths = [tmp_path / "bad" / name for name in expected]
    result = CliRunner().invoke(app, ["ingest", *map(str, paths), str(letters[0][1])])
    assert result.exit_code == 0, result.output
    with session_scope() as s:
        for name, code in expected.items():
            source = s.scalar(select(SourceFile).where(SourceFile.filename == name))
            item = s.scalar(select(MailItem).where(MailItem.source_id == source.id))
            assert item.status == "quarantined", name
            assert item.quarantine_reason, name
            assert item.review_reasons[0] in {code, "corrupt_file", "unsupported_format"}, name
        good = s.scalar(select(SourceFile).where(SourceFile.filename == letters[0][1].name))
        assert s.scalar(select(MailItem).where(MailItem.source_id == good.id)).status != \
            "quarantined"
        assert not s.scalar(select(func.count()).select_from(MailItem)
                            .where(MailItem.status.in_(["processing", "received"])))
        good_pages = s.scalar(select(func.count(Page.id)).join(MailItem)
                              .where(MailItem.source_id == good.id))
    # Quarantined files drop out of the bar's total: it ends at N/N, N the good letter's pages.
    assert progress_at_the_end(result.output) == (good_pages, good_pages)


def test_a_scanner_run_becomes_one_item_per_letter_in_order(
    prefect_api: str, lb_home: Path, tmp_path: Path
) -> None:
    """GIVEN one scanner run holding three letters with separator sheets and blank duplex backs,
    the third from a sender who is not on the roster
    WHEN ingested THEN there are exactly three items in scan order, without separators or blank
    pages, the first two routed to their pen pals and the stranger's letter `unrouted`; the
    progress bar ends at N/N, N the pages of the three letters."""
    from letterbridge.samples import Person, make_letter, make_roster, make_scanner_run, write_run

    roster = make_roster(6, seed=21)
    csvs = roster.write_csvs(tmp_path / "roster")
    result = CliRunner().invoke(app, ["roster", "import", *[a for kind, path in csvs.items()
                                                             for a in (f"--{kind}", str(path))]])
    assert result.exit_code == 0, result.output
    matched = {number for number, _ in roster.matches}
    known = [p for p in roster.inmates if p.inmate_number in matched][:2]
    stranger = Person(inmate_number="55501-042", name="Walter Nobody",
                      facility=known[0].facility, system="federal")
    letters = [make_letter(person, seed=40 + n, style="typed", n_pages=1, degrade="none",
                           pii=False) for n, person in enumerate([*known, stranger])]
    pages, groups = make_scanner_run(letters, separators=True, duplex_blanks=True)
    run = write_run(pages, tmp_path / "run-0001.pdf")
    result = CliRunner().invoke(app, ["ingest", str(run)])
    assert result.exit_code == 0, result.output
    with session_scope() as s:
        items = s.scalars(select(MailItem).order_by(MailItem.first_source_page)).all()
        assert len(items) == 3
        assert [[p.source_page for p in item.pages] for item in items] == \
            [[n for n in group if not _is_blank_back(pages, n)] for group in groups]
        assert all(p.kind in {"envelope", "letter"} for item in items for p in item.pages)
        assert [item.inmate.inmate_number if item.inmate else None for item in items[:2]] == \
            [p.inmate_number for p in known]
        assert items[0].volunteer is not None and items[1].volunteer is not None
        assert items[2].status == "unrouted" and items[2].volunteer_id is None
        readable = sum(len(item.pages) for item in items)
    # The bar counts the pages really read: separators and blank backs are not in its total.
    assert readable < len(pages)
    assert progress_at_the_end(result.output) == (readable, readable)


def progress_at_the_end(output: str) -> tuple[int, int]:
    """(done, total) from the progress bar's last line."""
    [line] = [line for line in output.splitlines() if "Reading pages" in line][-1:]
    done, total = re.search(r"(\d+)/(\d+)", line).groups()
    return int(done), int(total)


def _is_blank_back(pages: list, n: int) -> bool:
    from ocr.preprocess import is_blank

    return is_blank(pages[n - 1])
