"""The release decision and the mailroom's release, hold and sender moves, on stored letters.

`release_decision` is tested once per reason it can give; the stored-letter tests build a
letter the way the flow leaves it (a clean page image, its words, boxes) and use the shipped
functions of `letters.mailroom` and `letters.redaction`, with real Tesseract for re-checks.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

from letters import mailroom
from letters.redaction import find_redactions
from letters.release import PageFacts, decide, release_blockers, release_decision
from letters.states import ReviewReason, Stage
from ocr.images import encode_png
from ocr.types import OcrPage, Word
from storage.blobs import get_blob_store
from storage.db import session_scope
from storage.models import (
    AuditEvent,
    Facility,
    Inmate,
    ItemStatus,
    MailItem,
    Match,
    Page,
    PageKind,
    SourceFile,
    Volunteer,
    WatchTerm,
)

LETTER = PageFacts(kind=PageKind.letter)
ENVELOPE = PageFacts(kind=PageKind.envelope)


# --- the rule, one reason at a time ---------------------------------------------------------


def test_a_letter_that_passed_every_check_is_released() -> None:
    assert release_decision([ENVELOPE, LETTER], routed=True, carried=[]) == (
        ItemStatus.released, [])


@pytest.mark.parametrize(("page", "reasons"), [
    (PageFacts(kind="letter", ocr_failed=True), [ReviewReason.ocr_failed]),
    (PageFacts(kind="letter", doubtful=True, low_confidence=True),
     [ReviewReason.low_ocr_confidence, ReviewReason.redaction_unverified]),
    (PageFacts(kind="letter", doubtful=True, needs_transcription=True),
     [ReviewReason.needs_transcription, ReviewReason.redaction_unverified]),
    (PageFacts(kind="letter", doubtful=True), [ReviewReason.redaction_unverified]),
    (PageFacts(kind="letter", verified=False), [ReviewReason.redaction_failed_verification]),
])
def test_each_doubt_about_a_page_holds_the_letter_with_its_reason(page, reasons) -> None:
    """GIVEN a routed letter with one doubtful page WHEN decided THEN it waits for review,
    with exactly the reasons that page gives."""
    assert release_decision([ENVELOPE, page], routed=True, carried=[]) == (
        ItemStatus.needs_review, reasons)


def test_an_envelope_alone_is_not_a_letter() -> None:
    assert release_decision([ENVELOPE], routed=True, carried=[]) == (
        ItemStatus.needs_review, [ReviewReason.no_letter_pages])


@pytest.mark.parametrize("reason", [ReviewReason.sender_unknown, ReviewReason.no_match])
def test_a_sender_nobody_can_route_to_is_unrouted(reason) -> None:
    assert release_decision([LETTER], routed=False, carried=[reason]) == (
        ItemStatus.unrouted, [reason])


def test_an_ambiguous_sender_waits_for_a_person_to_choose() -> None:
    """GIVEN two writers the envelope could name WHEN decided THEN review, not unrouted."""
    carried = [ReviewReason.sender_ambiguous, ReviewReason.no_match]
    assert release_decision([LETTER], routed=False, carried=carried) == (
        ItemStatus.needs_review, carried)


def test_reasons_from_routing_are_kept_once() -> None:
    status, reasons = release_decision([LETTER], routed=True,
                                       carried=[ReviewReason.no_envelope, "no_envelope"])
    assert (status, reasons) == (ItemStatus.needs_review, [ReviewReason.no_envelope])


# --- stored letters ------------------------------------------------------------------------


def words_from(text: str) -> list[Word]:
    """Words laid out like a typed page: one line per text line, 20 px a character."""
    words: list[Word] = []
    for y, raw in enumerate(text.split("\n")):
        x = 2
        for token in raw.split(" "):
            box = (x * 20, 40 + y * 60, (x + len(token)) * 20, 40 + y * 60 + 30)
            words.append(Word(token, 95.0, *box, block=1, par=1, line=y + 1))
            x += len(token) + 1
    return words


def stored_letter(text: str, *, routed: bool = True, stage: str = Stage.done,
                  status: str = ItemStatus.needs_review, reasons: list[str] | None = None,
                  verified: bool = True) -> str:
    """A letter as the flow leaves it: a white clean page (Tesseract reads nothing there), the
    OCR words of `text`, burned and redacted by the shipped path."""
    store = get_blob_store()
    with session_scope() as session:
        inmate = session.query(Inmate).filter_by(inmate_number="12345-678").one_or_none()
        if inmate is None:
            facility = Facility(name="North Unit", system="federal")
            inmate = Inmate(inmate_number="12345-678", name="Ray Ortiz", facility=facility)
            volunteer = Volunteer(email="ana@example.org", display_name="Ana")
            session.add_all([facility, inmate, volunteer])
            session.flush()
            session.add(Match(inmate_id=inmate.id, volunteer_id=volunteer.id))
        volunteer = session.query(Volunteer).filter_by(email="ana@example.org").one()
        source = SourceFile(sha256=uuid.uuid4().hex * 2, filename="scan.pdf", size=1,
                            blob_key="originals/a", status="done")
        session.add(source)
        session.flush()
        item = MailItem(source_id=source.id, first_source_page=1, status=ItemStatus.processing,
                        inmate_id=inmate.id, volunteer_id=volunteer.id if routed else None,
                        sender_name="Ray Ortiz", sender_number="12345-678",
                        sender_facility="North Unit")
        session.add(item)
        session.flush()
        page_img = np.full((400, 1600), 255, np.uint8)
        words = OcrPage(words=words_from(text), width=1600, height=400, confidence=95.0)
        clean = store.put(f"items/{item.id}/page-1-clean.png", encode_png(page_img), "image/png")
        words_key = store.put(f"items/{item.id}/page-1-words.json", words.to_json().encode())
        session.add(Page(item_id=item.id, index=1, kind=PageKind.letter, clean_key=clean,
                         words_key=words_key, text=words.text, confidence=95.0, width=1600,
                         height=400, stage="ocr"))
        item.stage = Stage.routed
        item_id = item.id
    find_redactions(item_id)
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        item.stage = stage
        item.status = status
        item.review_reasons = list(reasons or [])
        for page in item.pages:
            page.verified = verified
    return item_id


def _page(session, item_id: str) -> Page:
    return session.get(MailItem, item_id).pages[0]


def test_decide_releases_a_checked_letter_and_holds_a_failed_check(lb_home: Path) -> None:
    """GIVEN two stored letters, one whose burned page passed its check and one whose did not
    WHEN decided THEN the first is released, the second waits with the reason."""
    ok = stored_letter("dear Ana all is well", stage=Stage.redacted, status="processing")
    failed = stored_letter("dear Ana all is well", stage=Stage.redacted, status="processing",
                           verified=False)
    assert decide(ok) == ItemStatus.released
    assert decide(failed) == ItemStatus.needs_review
    with session_scope() as session:
        assert session.get(MailItem, failed).review_reasons == [
            ReviewReason.redaction_failed_verification]


def test_a_letter_whose_processing_failed_cannot_be_released(lb_home: Path) -> None:
    """GIVEN a letter whose flow failed before redaction (regression: released with 0 boxes)
    WHEN the mailroom tries to release it THEN it is refused; it must be processed again."""
    item_id = stored_letter("call me 312-555-0142", stage=Stage.routed,
                            reasons=[ReviewReason.processing_failed])
    with session_scope() as session:
        assert release_blockers(session.get(MailItem, item_id))
        with pytest.raises(mailroom.ActionRefused, match="process"):
            mailroom.release_item(session, item_id, actor="mail@example.org")
        assert mailroom.reprocess_item(session, item_id, actor="mail@example.org")
        assert session.get(MailItem, item_id).status == ItemStatus.processing


def test_release_after_a_failed_check_needs_an_acknowledgement_on_record(lb_home: Path) -> None:
    """GIVEN a letter held because its check failed WHEN released without the person's word
    THEN refused (no single key press releases it); WITH it THEN released, the pages checked
    again, and the acknowledgement in the audit log."""
    item_id = stored_letter("dear Ana all is well",
                            reasons=[ReviewReason.redaction_failed_verification], verified=False)
    with session_scope() as session:
        with pytest.raises(mailroom.ActionRefused, match="confirm"):
            mailroom.release_item(session, item_id, actor="mail@example.org")
    with session_scope() as session:
        mailroom.release_item(session, item_id, actor="mail@example.org", acknowledge=True)
    with session_scope() as session:
        assert session.get(MailItem, item_id).status == ItemStatus.released
        assert _page(session, item_id).verified  # re-checked with the boxes in force
        actions = [e.action for e in session.query(AuditEvent).filter_by(item_id=item_id)]
        assert actions.index("release_acknowledged") < actions.index("released")


def test_a_box_over_part_of_a_word_hides_it_in_text_and_pdf(lb_home: Path) -> None:
    """GIVEN a stored letter WHEN a person boxes a fifth of "7781" (regression: the shipped
    path kept it readable) THEN neither the redacted text nor the PDF's text layer has it."""
    item_id = stored_letter("the code is 7781 ok")
    code = words_from("the code is 7781 ok")[3]
    box = (code.x0, code.y0, code.x0 + (code.x1 - code.x0) // 5, code.y1)
    with session_scope() as session:
        mailroom.add_redaction(session, item_id, 1, box, actor="mail@example.org")
    with session_scope() as session:
        page = _page(session, item_id)
        assert page.redacted_text == "the code is [removed] ok"
        pdf = get_blob_store().get(session.get(MailItem, item_id).delivered_pdf_key)
    text = subprocess.run(["pdftotext", "-q", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()
    assert "7781" not in text and "code" in text


def test_a_transcription_keeps_no_watch_term_and_no_boxed_word(lb_home: Path) -> None:
    """GIVEN a watch-list term and a person's box over a name WHEN a person saves a
    transcription holding both (regression: the mailroom's context had no watch terms)
    THEN neither is readable in the redacted text."""
    item_id = stored_letter("my cousin Tina says hi")
    with session_scope() as session:
        session.add(WatchTerm(term="blue door"))
    tina = words_from("my cousin Tina says hi")[2]
    with session_scope() as session:
        mailroom.add_redaction(session, item_id, 1, tina.box, actor="mail@example.org")
        mailroom.correct_transcription(session, item_id, 1,
                                       "my cousin Tina says hi, meet at the blue door",
                                       actor="mail@example.org")
    with session_scope() as session:
        text = _page(session, item_id).redacted_text
    assert "blue door" not in text.lower() and "Tina" not in text
    assert text.startswith("my cousin [removed] says hi")


def test_a_detail_in_a_transcription_with_no_box_on_the_page_blocks_release(
        lb_home: Path) -> None:
    """GIVEN a transcription with a phone number the page's boxes do not hide
    WHEN released THEN refused: the image would show what the text hides."""
    item_id = stored_letter("call me soon")
    with session_scope() as session:
        mailroom.correct_transcription(session, item_id, 1, "call me at 312-555-0142 soon",
                                       actor="mail@example.org")
    with session_scope() as session, pytest.raises(mailroom.ActionRefused, match="no box"):
        mailroom.release_item(session, item_id, actor="mail@example.org")


def test_a_sender_who_disagrees_with_the_envelope_needs_confirmation(lb_home: Path) -> None:
    """GIVEN an envelope naming Ray Ortiz 12345-678 WHEN a person picks a different writer
    THEN refused until confirmed, and the confirmation is recorded with what disagreed."""
    item_id = stored_letter("dear Ana")
    with session_scope() as session:
        other = Inmate(inmate_number="99999-000", name="Lee Park")
        session.add(other)
        session.flush()
        other_id = other.id
    with session_scope() as session, pytest.raises(mailroom.ActionRefused, match="confirm"):
        mailroom.set_sender(session, item_id, other_id, actor="mail@example.org")
    with session_scope() as session:
        mailroom.set_sender(session, item_id, other_id, actor="mail@example.org",
                            confirm_mismatch=True)
    with session_scope() as session:
        event = session.query(AuditEvent).filter_by(item_id=item_id, action="sender_set").one()
        assert event.detail["mismatch"] == ["name", "number"]


def test_a_failed_check_says_where_on_the_page_it_read_the_detail() -> None:
    """GIVEN a burned page where a phone number beside a box is still readable, low on the page
    WHEN the page is checked (on the bands around its boxes) THEN it fails, and the region it
    reports lies over the number in the page's own coordinates (for the mailroom's outline)."""
    import cv2

    from letters.redaction import PiiContext, check_burned
    from ocr.redact import Cover

    page = np.full((1400, 1700), 255, np.uint8)
    cv2.putText(page, "Dear Ana, all is well here.", (120, 200), cv2.FONT_HERSHEY_SIMPLEX, 1.6,
                0, 3)
    cv2.putText(page, "call 312-555-0142 soon", (120, 1000), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 0, 3)
    box = (1300, 960, 1500, 1010)  # a burned box on the number's line, past its end
    page[box[1]:box[3], box[0]:box[2]] = 0
    result = check_burned(page, [Cover("manual", box)], PiiContext())
    assert not result.passed
    kinds = {kind for kind, _ in result.regions}
    assert kinds & {"phone", "number"}
    x0, y0, x1, y1 = next(b for kind, b in result.regions if kind in {"phone", "number"})
    assert 900 < (y0 + y1) / 2 < 1020 and x0 >= 150 and x1 <= 700


def test_a_failed_letter_is_found_by_recovery_and_finishes_on_the_next_run(lb_home: Path) -> None:
    """GIVEN a letter whose flow failed after routing (it waits with `processing_failed`)
    WHEN recovery looks for unfinished work THEN its source is found; WHEN the remaining steps
    run again THEN the letter is decided on its checks and the failure reason is gone; and a
    letter that failed MAX_FAILED_RUNS times is left to a person."""
    from intake.leases import MAX_FAILED_RUNS, unfinished_source_ids
    from letters.batch import mark_failed

    item_id = stored_letter("dear Ana all is well", stage=Stage.redacted, status="processing")
    mark_failed(item_id)
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        assert item.status == ItemStatus.needs_review
        assert item.review_reasons == [ReviewReason.processing_failed]
        source_id = item.source_id
    assert unfinished_source_ids() == [source_id]
    assert decide(item_id) == ItemStatus.released
    assert unfinished_source_ids() == []

    again = stored_letter("dear Ana", stage=Stage.routed, status="processing")
    for _ in range(MAX_FAILED_RUNS):
        with session_scope() as session:
            session.get(MailItem, again).status = ItemStatus.processing
        mark_failed(again)
    assert unfinished_source_ids() == []
