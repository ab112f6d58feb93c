"""The daily print batch: one order across letters, envelopes or labels, and the manifest."""

from __future__ import annotations

import csv
import re
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from config.settings import reset_settings
from postal import replies
from postal.mailing import label_origin
from postal.print_batch import build_print_batch, mark_mailed
from storage.db import session_scope
from storage.models import Facility, Inmate, Match, PrintBatch, Reply, ReplyStatus, Volunteer

PARAGRAPH = "I thought about your letter on the way to work today. " * 14
INCH = 72


def text(n_paragraphs: int) -> str:
    return "\n\n".join(f"Part {n}. {PARAGRAPH}" for n in range(n_paragraphs))


# (facility, system, inmate, number, paragraphs) in the order the replies are written:
# not the print order, so sorting is exercised.
LETTERS = [
    ("Stateville Correctional Center", "il", "Carl Young", "R12345", 1),
    ("FCI Englewood", "federal", "José Martínez", "12345-678", 5),   # 2 pages
    ("Pelican Bay State Prison", "ca", "Dana Cruz", "AB1234", 9),    # 3 pages
    ("FCI Englewood", "federal", "Anna Smith", "23456-789", 1),
]
PRINT_ORDER = ["Anna Smith", "José Martínez", "Dana Cruz", "Carl Young"]


def approved_replies(session) -> None:  # Session
    """Three facilities, four recipients, one volunteer matched with each; every reply approved."""
    volunteer = Volunteer(email="ana.perez@example.org", display_name="Ana P.")
    session.add(volunteer)
    facilities: dict[str, Facility] = {}
    for facility_name, system, name, number, paragraphs in LETTERS:
        facility = facilities.get(facility_name)
        if facility is None:
            facility = facilities[facility_name] = Facility(
                name=facility_name, address_line="1 Prison Road", city="Town", state="XX",
                zip="00000", system=system)
        inmate = Inmate(name=name, inmate_number=number, facility=facility)
        session.add(inmate)
        session.flush()
        session.add(Match(inmate_id=inmate.id, volunteer_id=volunteer.id))
        reply = replies.save_draft(session, volunteer_id=volunteer.id, inmate_id=inmate.id,
                                   text=text(paragraphs), actor="ana")
        replies.submit(session, reply.id, actor="ana")
    approved, refused = replies.approve_all(session, actor="admin")
    assert not refused and len(approved) == len(LETTERS)


def page_texts(path: Path) -> list[str]:
    pages = len(PdfReader(path).pages)
    return [
        subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), str(path), "-"],
                       capture_output=True, text=True, check=True, timeout=30).stdout
        for n in range(1, pages + 1)
    ]


def word_boxes(path: Path) -> list[tuple[int, str, float, float, float, float]]:
    """(page, word, xMin, yMin, xMax, yMax) in points from the top-left, via pdftotext -bbox."""
    html = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True,
                          text=True, check=True, timeout=30).stdout
    words = []
    for page_number, page in enumerate(html.split("<page ")[1:], start=1):
        for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
                             r'yMax="([\d.]+)">([^<]*)</word>', page):
            x0, y0, x1, y1 = (float(v) for v in m.groups()[:4])
            words.append((page_number, m.group(5), x0, y0, x1, y1))
    return words


def read_manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_batch_to_three_facilities_comes_out_in_one_order(lb_home: Path, tmp_path: Path) -> None:
    """GIVEN approved replies of 1, 2, 3 and 1 pages to four people at three facilities
    WHEN the print batch is built
    THEN letters.pdf, envelopes.pdf and manifest.csv list them in the same order (facility,
    then recipient), each letter starts on a new duplex sheet (blank page after odd ones),
    envelopes are #10 with the return address top left and the recipient centred,
    the replies are marked printed, a second run prints nothing, and the batch can be mailed."""
    out = tmp_path / "batch"
    with session_scope() as session:
        approved_replies(session)
    with session_scope() as session:
        batch = build_print_batch(session, out, actor="admin")
        assert batch is not None
        batch_id = batch.id

    assert sorted(p.name for p in out.iterdir()) == ["envelopes.pdf", "letters.pdf",
                                                     "manifest.csv"]
    manifest = read_manifest(out)
    assert [row["recipient"] for row in manifest] == PRINT_ORDER
    assert [row["pages"] for row in manifest] == ["1", "2", "3", "1"]
    assert {row["batch"] for row in manifest} == {batch_id}
    assert [row["mailing"] for row in manifest] == ["envelope"] * 4

    letters = page_texts(out / "letters.pdf")
    assert len(letters) == 2 + 2 + 4 + 2  # each letter padded to whole sheets
    page = 0
    for row in manifest:
        pages = int(row["pages"])
        for n in range(pages):
            assert row["recipient"] in letters[page + n]
            assert row["inmate_number"] in letters[page + n]
            assert f"page {n + 1} of {pages}" in letters[page + n]
        if pages % 2:
            assert letters[page + pages].strip() == ""  # the blank back of the last sheet
        page += pages + pages % 2

    envelopes = out / "envelopes.pdf"
    reader = PdfReader(envelopes)
    assert [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages] == \
        [(9.5 * INCH, 4.125 * INCH)] * 4
    texts = page_texts(envelopes)
    for row, envelope in zip(manifest, texts, strict=True):
        assert row["recipient"] in envelope and row["inmate_number"] in envelope
        assert "Letterbridge Pen Pal Program" in envelope
        assert "ana.perez" not in envelope and "Ana P." not in envelope
    boxes = word_boxes(envelopes)
    program = next(b for b in boxes if b[0] == 1 and b[1] == "Letterbridge")
    assert program[2] < INCH and program[3] < INCH  # top left
    recipient = [b for b in boxes if b[0] == 1 and b[3] > 1.2 * INCH]
    left, right = min(b[2] for b in recipient), max(b[4] for b in recipient)
    assert abs(left - (9.5 * INCH - right)) < 3  # centred across the envelope

    with session_scope() as session:
        printed = session.query(Reply).order_by(Reply.print_order).all()
        assert [r.status for r in printed] == [ReplyStatus.printed] * 4
        assert [r.inmate.name for r in printed] == PRINT_ORDER
        assert {r.batch_id for r in printed} == {batch_id}

        assert build_print_batch(session, tmp_path / "again", actor="admin") is None
        assert not (tmp_path / "again").exists()

        mailed = mark_mailed(session, None, actor="admin")
        assert mailed.id == batch_id and mailed.status == "mailed"
        assert {r.status for r in session.query(Reply)} == {ReplyStatus.mailed}


def test_labels_follow_the_print_order_except_where_a_facility_forbids_them(
    lb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the program prints Avery 5160 labels, but Stateville refuses labelled mail
    WHEN the batch is built
    THEN labels.pdf holds the other three recipients in print order, cell by cell,
    envelopes.pdf holds Stateville's, and the manifest says which is which."""
    monkeypatch.setenv("LETTERBRIDGE_ENVELOPE_FORMAT", "labels")
    reset_settings()
    out = tmp_path / "batch"
    with session_scope() as session:
        approved_replies(session)
        session.query(Facility).filter_by(name="Stateville Correctional Center").one() \
            .labels_allowed = False
    with session_scope() as session:
        build_print_batch(session, out, actor="admin")

    manifest = read_manifest(out)
    assert [(r["recipient"], r["mailing"], r["mailing_position"]) for r in manifest] == [
        ("Anna Smith", "label", "1"), ("José Martínez", "label", "2"),
        ("Dana Cruz", "label", "3"), ("Carl Young", "envelope", "1"),
    ]
    labels = out / "labels.pdf"
    assert len(PdfReader(labels).pages) == 1
    boxes = word_boxes(labels)
    for position, (first_name, number) in enumerate(
        [("Anna", "23456-789"), ("José", "12345-678"), ("Dana", "#AB1234")]
    ):
        _sheet, x, top = label_origin(position)
        y = 11 * INCH - top  # pdftotext measures from the top
        inside = [b[1] for b in boxes
                  if x < b[2] and b[4] < x + 2.625 * INCH and y < b[3] and b[5] < y + INCH]
        assert first_name in inside and number in inside and "Town," in inside, inside
    assert "Carl Young" in page_texts(out / "envelopes.pdf")[0]


@pytest.mark.prefect
def test_print_batch_flow_leaves_an_artifact_without_names(
    prefect_api: str, lb_home: Path, tmp_path: Path
) -> None:
    """GIVEN approved replies and a Prefect server
    WHEN the print-batch flow runs
    THEN the batch is built and its table artifact lists reply ids, facilities and pages,
    never a recipient's name or number."""
    import httpx

    from flows.print_batch import print_batch_flow

    with session_scope() as session:
        approved_replies(session)
    batch_id = print_batch_flow(str(tmp_path / "batch"))

    with session_scope() as session:
        assert session.get(PrintBatch, batch_id).reply_count == 4
        ids = [r.id for r in session.query(Reply).order_by(Reply.print_order)]
    found = httpx.post(f"{prefect_api}/artifacts/filter", timeout=30, json={
        "artifacts": {"key": {"any_": ["print-batch"]}}, "sort": "CREATED_DESC", "limit": 1,
    }).raise_for_status().json()
    data = str(found[0]["data"])
    assert all(reply_id in data for reply_id in ids)
    assert "FCI Englewood" in data
    for name, number in [(x[2], x[3]) for x in LETTERS]:
        assert name not in data and number not in data
    assert (tmp_path / "batch" / "letters.pdf").exists()


def test_each_scheduled_batch_gets_its_own_folder(lb_home: Path, tmp_path: Path) -> None:
    """GIVEN a batch printed by the daily schedule and not yet taken to the printer
    WHEN the next day's batch is built
    THEN it goes into a new dated folder and the first batch's files are untouched: letters
    already marked printed are never lost from paper."""
    from sqlalchemy import update

    from flows.print_batch import build_batch

    parent = tmp_path / "print-batches"
    with session_scope() as session:
        approved_replies(session)
    first = build_batch.fn(str(parent), "system", dated=True)
    first_folder = Path(first["folder"])
    assert first_folder.parent == parent and re.fullmatch(r"\d{4}-\d\d-\d\d-\d{4}", first_folder.name)
    letters = (first_folder / "letters.pdf").read_bytes()

    with session_scope() as session:  # the next day: the same people, new approved replies
        session.execute(update(Reply).values(status=ReplyStatus.approved, batch_id=None))
    second = build_batch.fn(str(parent), "system", dated=True)
    second_folder = Path(second["folder"])

    assert second_folder != first_folder and second_folder.parent == parent
    assert (first_folder / "letters.pdf").read_bytes() == letters
    assert (second_folder / "manifest.csv").exists() and (second_folder / "letters.pdf").exists()
    assert build_batch.fn(str(parent), "system", dated=True) is None  # nothing left: no empty folder
    assert sorted(p.name for p in parent.iterdir()) == sorted([first_folder.name, second_folder.name])
