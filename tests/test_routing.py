"""Routing reads an envelope with Tesseract and asks PP-OCR only when the roster does not confirm
what Tesseract read (letters.routing.tesseract_vouches)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from stored_items import new_item

from letterbridge.samples import make_letter, make_roster
from letters import pages, routing
from letters.states import Stage
from ocr import ppocr
from ocr.envelope import SenderGuess
from ocr.errors import OcrFailed
from ocr.images import encode_png
from postal.matching import MatchDecision, MatchOutcome
from postal.roster import import_roster
from storage.blobs import get_blob_store
from storage.db import session_scope
from storage.models import AuditEvent, MailItem, Page, PageKind, Volunteer

ROSTER = make_roster(12, seed=0)
TYPED = ROSTER.inmates[0]  # federal: 75176-456
# A handwriting-style envelope whose "J" Tesseract reads as "3" ("392751"), at a sender
# confidence of 0.72 (the roster still routes it: a number one character off, name and facility
# agreeing); PP-OCR reads it exactly.
HANDWRITTEN = ROSTER.inmates[1]  # J92751
HANDWRITTEN_SEED = 2


@pytest.fixture
def roster_home(lb_home: Path, tmp_path: Path) -> Path:
    with session_scope() as session:
        import_roster(session, ROSTER.write_csvs(tmp_path / "roster"))
    return lb_home


@pytest.fixture
def no_ppocr(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """PP-OCR refuses to read; the list says which pages asked it."""
    asked: list[str] = []

    def refuse(img: np.ndarray, **_: object) -> None:
        asked.append(f"{img.shape}")
        raise AssertionError("PP-OCR was asked to read")

    monkeypatch.setattr(ppocr, "ocr_image", refuse)
    return asked


def envelope_item(person, *, style: str, seed: int) -> str:
    """A mail item holding one scanned envelope, as splitting leaves it (image, no reading)."""
    letter = make_letter(person, seed=seed, style=style, n_pages=1, pii=False)
    with session_scope() as session:
        item = new_item(session)
        key = get_blob_store().put(f"items/{item.id}/page-1.png", encode_png(letter.pages[0]),
                                   "image/png")
        session.add(Page(item_id=item.id, index=1, kind=PageKind.envelope, image_key=key))
        return item.id


def read_and_route(item_id: str) -> tuple[str, Page, str | None]:
    """The flow's steps for it: OCR the page, route the item. (outcome, page, pen pal's email)"""
    for page_id in pages.item_page_ids(item_id):
        pages.ocr_page(page_id)
    outcome = routing.route_item(item_id)
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        page = item.pages[0]
        session.expunge(page)
        email = session.get(Volunteer, item.volunteer_id).email if item.volunteer_id else None
    return outcome, page, email


def envelope_read_by(item_id: str) -> str:
    with session_scope() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id,
                                                         AuditEvent.action == "routed")).one()
        return event.detail["envelope_read_by"]


def test_a_typed_envelope_the_roster_confirms_is_read_by_tesseract_alone(
    roster_home: Path, second_engine: None, no_ppocr: list[str]
) -> None:
    """GIVEN a typed envelope of a roster sender, both engines switched on
    WHEN its page is read and the item routed
    THEN Tesseract's reading routes it to the sender's pen pal and PP-OCR never reads it; the
    page's stored words and the routing record say Tesseract read it."""
    item_id = envelope_item(TYPED, style="typed", seed=3)
    outcome, page, email = read_and_route(item_id)
    assert outcome == MatchOutcome.routed
    assert email == ROSTER.volunteer_for(TYPED.inmate_number)
    assert no_ppocr == []
    assert pages.load_words(page).engine == "tesseract"
    assert envelope_read_by(item_id) == "tesseract"


def test_a_handwritten_envelope_tesseract_misreads_is_read_again_by_ppocr(
    roster_home: Path, second_engine: None
) -> None:
    """GIVEN a handwriting-style envelope Tesseract misreads (a letter of the number as a digit,
    at low confidence)
    WHEN its page is read and the item routed
    THEN PP-OCR reads it again and routes it to the right pen pal; its reading becomes the
    page's words and text, and the routing record says PP-OCR read it."""
    item_id = envelope_item(HANDWRITTEN, style="handwriting", seed=HANDWRITTEN_SEED)
    for page_id in pages.item_page_ids(item_id):
        pages.ocr_page(page_id)
    with session_scope() as session:
        first = pages.load_words(session.get(MailItem, item_id).pages[0])
    assert first.engine == "tesseract" and HANDWRITTEN.inmate_number not in first.text
    outcome, page, email = read_and_route(item_id)
    assert outcome == MatchOutcome.routed
    assert email == ROSTER.volunteer_for(HANDWRITTEN.inmate_number)
    stored = pages.load_words(page)
    assert stored.engine == "ppocr" and HANDWRITTEN.inmate_number in stored.text
    assert page.text == stored.text
    assert envelope_read_by(item_id) == "ppocr"


def test_with_nobody_on_the_roster_ppocr_is_not_asked(
    lb_home: Path, second_engine: None, no_ppocr: list[str]
) -> None:
    """GIVEN the handwritten envelope PP-OCR would read again, both engines on, and a roster
    with nobody on it yet (a new program) WHEN read and routed THEN PP-OCR is not asked (no
    reading could match anyone): the letter waits for a person with Tesseract's reading."""
    item_id = envelope_item(HANDWRITTEN, style="handwriting", seed=HANDWRITTEN_SEED)
    outcome, page, email = read_and_route(item_id)
    assert no_ppocr == []
    assert outcome != MatchOutcome.routed and email is None
    assert pages.load_words(page).engine == "tesseract"
    with session_scope() as session:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.item_id == item_id, AuditEvent.action == "not_routed")).one()
        assert event.detail["envelope_read_by"] == "tesseract"


def test_with_the_second_engine_off_tesseracts_reading_decides(
    roster_home: Path, no_ppocr: list[str]
) -> None:
    """GIVEN the same handwritten envelope, the second engine switched off (the tests' default)
    WHEN read and routed
    THEN PP-OCR is never asked: the sender recorded is what Tesseract read, misread number and
    all."""
    item_id = envelope_item(HANDWRITTEN, style="handwriting", seed=HANDWRITTEN_SEED)
    _, page, _ = read_and_route(item_id)
    assert no_ppocr == []
    assert pages.load_words(page).engine == "tesseract"
    with session_scope() as session:
        number = session.get(MailItem, item_id).sender_number
    assert number and number != HANDWRITTEN.inmate_number


def test_when_ppocr_fails_tesseracts_reading_stands(
    roster_home: Path, second_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a handwritten envelope Tesseract cannot vouch for, and PP-OCR crashing on it
    WHEN routed
    THEN the letter is decided on Tesseract's reading (its misread number is the sender's), the
    stored words stay Tesseract's, and the item still finishes routing."""
    def crash(img: np.ndarray, **_: object) -> None:
        raise OcrFailed("engine crashed")

    item_id = envelope_item(HANDWRITTEN, style="handwriting", seed=HANDWRITTEN_SEED)
    for page_id in pages.item_page_ids(item_id):
        pages.ocr_page(page_id)
    monkeypatch.setattr(ppocr, "ocr_image", crash)
    routing.route_item(item_id)
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        assert item.stage == Stage.routed
        assert item.sender_number and item.sender_number != HANDWRITTEN.inmate_number
        assert pages.load_words(item.pages[0]).engine == "tesseract"


def guess(confidence: float) -> SenderGuess:
    return SenderGuess(name="Ray Ortiz", inmate_number="12345-678", facility="North Unit",
                       address_lines=[], confidence=confidence)


def decision(outcome: MatchOutcome, *, flags: tuple[str, ...] = ()) -> MatchDecision:
    return MatchDecision(outcome, 1, 2 if outcome == MatchOutcome.routed else None, 0.97,
                         "exact inmate number", list(flags))


@pytest.mark.parametrize(
    ("read", "decided", "vouches"),
    [
        (guess(0.95), decision(MatchOutcome.routed), True),
        (guess(0.95), decision(MatchOutcome.routed, flags=("inmate_released",)), True),
        (guess(routing.TESSERACT_MIN_SENDER_CONFIDENCE - 0.01), decision(MatchOutcome.routed),
         False),
        (guess(0.95), decision(MatchOutcome.ambiguous), False),
        (guess(0.95), decision(MatchOutcome.unknown), False),
        (guess(0.95), decision(MatchOutcome.no_match), False),
        (guess(0.95), decision(MatchOutcome.routed, flags=("code_only",)), False),
        (guess(0.95), decision(MatchOutcome.routed, flags=("likely_transfer",)), False),
    ],
)
def test_tesseract_vouches_only_for_a_confident_strict_match(read, decided, vouches) -> None:
    """GIVEN what Tesseract read on an envelope and the roster's decision on it
    WHEN asked whether Tesseract's reading is kept without PP-OCR
    THEN only a routed decision, on a reading at least TESSERACT_MIN_SENDER_CONFIDENCE sure,
    that leaves no doubt (only a reply code, a facility not the roster's) is kept."""
    assert routing.tesseract_vouches(read, decided) is vouches
