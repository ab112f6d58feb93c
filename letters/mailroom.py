"""The mailroom's moves on a letter: boxes, transcriptions, the sender, hold and release.

Every move works in the caller's session, re-burns what it changes through
`letters.redaction` (so image, text and PDF never disagree) and leaves an audit event; none
logs a value. A move the letter's state does not allow raises `ActionRefused`, whose text is
written for the person who asked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from letters.notifications import notify
from letters.pages import load_words
from letters.redaction import (
    active_covers,
    build_pdfs,
    burn_page,
    check_burned,
    pen_pal_words,
    pii_context,
    rebuild_delivery,
    record_failed_check,
    unboxed_transcription_findings,
)
from letters.release import needs_acknowledgement, release_blockers
from letters.states import ROUTING_REASONS, ReviewReason, Stage
from ocr.images import decode_image
from ocr.redact import LOW_LINE_CONFIDENCE, PPOCR_LOW_LINE_CONFIDENCE
from postal.roster import no_pen_pal_for_letter
from storage.blobs import get_blob_store
from storage.db import audit
from storage.models import (
    Inmate,
    ItemStatus,
    MailItem,
    Match,
    Page,
    PageKind,
    Redaction,
    SourceFile,
    SourceStatus,
    Volunteer,
    utcnow,
)

log = logging.getLogger(__name__)


class ItemNotFound(LookupError):
    pass


class ActionRefused(Exception):
    """A mailroom move that the item's state does not allow; `str()` says why.

    `keep` says the session holds something worth keeping anyway (the results of a check the
    refusal was based on): the caller commits instead of rolling back.
    """

    def __init__(self, message: str, *, keep: bool = False) -> None:
        super().__init__(message)
        self.keep = keep


def _item(session: Session, item_id: str) -> MailItem:
    item = session.get(MailItem, item_id)
    if item is None:
        raise ItemNotFound(item_id)
    return item


def _page(item: MailItem, index: int) -> Page:
    for page in item.pages:
        if page.index == index:
            return page
    raise ItemNotFound(f"{item.id} page {index}")


# --- boxes and transcriptions -----------------------------------------------------------


def add_redaction(session: Session, item_id: str, page_index: int,
                  box: tuple[int, int, int, int], *, actor: str, kind: str = "manual") -> Redaction:
    item = _item(session, item_id)
    page = _page(item, page_index)
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, x1 = sorted((max(0, x0), max(0, x1)))
    y0, y1 = sorted((max(0, y0), max(0, y1)))
    if page.width:
        x1, y1 = min(x1, page.width), min(y1, page.height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ActionRefused("the box is too small")
    redaction = Redaction(page_id=page.id, kind=kind, x0=x0, y0=y0, x1=x1, y1=y1, made_by=actor)
    session.add(redaction)
    session.flush()
    session.refresh(page)
    burn_page(session, page)
    build_pdfs(session, item)
    audit(session, "redaction_added", actor=actor, item_id=item_id, page=page_index, kind=kind,
          box=[x0, y0, x1, y1])
    return redaction


def remove_redaction(session: Session, redaction_id: int, *, actor: str) -> None:
    redaction = session.get(Redaction, redaction_id)
    if redaction is None:
        raise ItemNotFound(str(redaction_id))
    redaction.active = False
    page = redaction.page
    page.verified = False  # what the box hid is visible now: check it again before release
    session.flush()
    burn_page(session, page)
    build_pdfs(session, page.item)
    audit(session, "redaction_removed", actor=actor, item_id=page.item_id, page=page.index,
          kind=redaction.kind, box=redaction.box)


def correct_transcription(session: Session, item_id: str, page_index: int, text: str, *,
                          actor: str) -> None:
    item = _item(session, item_id)
    page = _page(item, page_index)
    page.corrected_text = text
    burn_page(session, page)
    build_pdfs(session, item)
    audit(session, "transcription_corrected", actor=actor, item_id=item_id, page=page_index,
          characters=len(text))


# --- the machine reading, for a person to correct ---------------------------------------


@dataclass(frozen=True)
class ReadingLine:
    """One line of a page's machine reading as the mailroom may see it, and where it is."""

    words: tuple[tuple[str, bool], ...]  # (text, the reader was unsure of it)
    box: tuple[int, int, int, int]  # the line on the clean page image

    @property
    def text(self) -> str:
        return " ".join(text for text, _unsure in self.words)

    @property
    def unsure(self) -> int:
        return sum(unsure for _text, unsure in self.words)


def machine_reading(page: Page) -> list[ReadingLine]:
    """The page's OCR words line by line, after every box in force: `pen_pal_words`, so a
    boxed value is its marker here as in the redacted text, never the value. A transcription
    starts from it, so that a person corrects the reading instead of typing the page again.

    A word is marked unsure below the line confidence the reading engine is trusted from (on
    its own scale: PP-OCR's runs higher than Tesseract's)."""
    reading = load_words(page)
    unsure_below = (PPOCR_LOW_LINE_CONFIDENCE if reading.engine == "ppocr"
                    else LOW_LINE_CONFIDENCE)
    lines = []
    for _key, group in groupby(pen_pal_words(reading.words, active_covers(page)),
                               key=lambda word: word.line_key):
        words = list(group)
        lines.append(ReadingLine(
            words=tuple((w.text, w.conf < unsure_below) for w in words),
            box=(min(w.x0 for w in words), min(w.y0 for w in words),
                 max(w.x1 for w in words), max(w.y1 for w in words))))
    return lines


# --- the sender -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SenderCheck:
    """How a chosen sender compares with what the envelope says (no values, only which)."""

    disagrees: tuple[str, ...]  # "name", "number", "facility"

    @property
    def ok(self) -> bool:
        return not self.disagrees


def _norm(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def sender_check(session: Session, item_id: str, inmate_id: int) -> SenderCheck:
    """Which of the envelope's name, number and facility the chosen inmate's record disagrees
    with. What the envelope did not show (nothing read) can't disagree."""
    item = _item(session, item_id)
    inmate = session.get(Inmate, inmate_id)
    if inmate is None:
        raise ItemNotFound(f"inmate {inmate_id}")
    disagrees = []
    if item.sender_name and _norm(item.sender_name) not in _norm(inmate.name) \
            and _norm(inmate.name) not in _norm(item.sender_name):
        disagrees.append("name")
    if item.sender_number and _norm(item.sender_number) != _norm(inmate.inmate_number):
        disagrees.append("number")
    facility = inmate.facility.name if inmate.facility else ""
    if item.sender_facility and facility and _norm(item.sender_facility) not in _norm(facility) \
            and _norm(facility) not in _norm(item.sender_facility):
        disagrees.append("facility")
    return SenderCheck(tuple(disagrees))


def set_sender(session: Session, item_id: str, inmate_id: int, *, actor: str,
               confirm_mismatch: bool = False) -> None:
    """A person names the sender: route to that inmate's active match, or leave unrouted.

    A sender who disagrees with the envelope is refused unless the person confirms it; the
    confirmation is recorded.
    """
    item = _item(session, item_id)
    inmate = session.get(Inmate, inmate_id)
    if inmate is None:
        raise ItemNotFound(f"inmate {inmate_id}")
    check = sender_check(session, item_id, inmate_id)
    if not check.ok and not confirm_mismatch:
        verb = "disagrees" if len(check.disagrees) == 1 else "disagree"
        raise ActionRefused(f"the envelope's {', '.join(check.disagrees)} {verb} with this "
                            "writer's record; confirm that this is the sender")
    match = session.scalar(
        select(Match).join(Volunteer).where(Match.inmate_id == inmate_id, Match.active.is_(True),
                                           Volunteer.active.is_(True))
    )
    item.inmate_id = inmate.id
    item.volunteer_id = match.volunteer_id if match else None
    item.match_reason = f"sender set by {actor}"
    reasons = [r for r in item.review_reasons if r not in ROUTING_REASONS]
    if match is None:
        reasons.append(ReviewReason.no_match)
        no_pen_pal_for_letter(session, inmate.id)  # onto the waiting list
    item.review_reasons = reasons
    if item.status == ItemStatus.unrouted and match is not None:
        item.status = ItemStatus.needs_review
    session.flush()
    session.refresh(item)
    rebuild_delivery(session, item)  # the sender's own number is no longer "another inmate's"
    audit(session, "sender_set", actor=actor, item_id=item_id, inmate_id=inmate.id,
          routed=match is not None, mismatch=list(check.disagrees))


# --- release and hold -----------------------------------------------------------------------


@dataclass(frozen=True)
class PageProblem:
    """A check that failed on one page: what kind of detail, and where (for the highlight)."""

    page: int
    problems: tuple[str, ...]


def recheck(session: Session, item: MailItem) -> list[PageProblem]:
    """Verify every letter page again, with the boxes in force now (a person's included)."""
    context = pii_context(session, item)
    store = get_blob_store()
    found = []
    for page in item.pages:
        if page.kind != PageKind.letter or not page.redacted_key:
            continue
        covers = active_covers(page)
        problems = []
        if covers or not page.verified:  # a page with no box went out as the finders saw it
            result = check_burned(decode_image(store.get(page.redacted_key)), covers, context,
                                  engine=load_words(page).engine, language=page.language)
            problems = list(result.problems)
            if not result.passed:
                record_failed_check(session, page, result)
        problems += [f"{kind} in the transcription has no box on the page"
                     for kind in unboxed_transcription_findings(page, context)]
        page.verified = not problems
        if problems:
            found.append(PageProblem(page.index, tuple(problems)))
    return found


def release_item(session: Session, item_id: str, *, actor: str,
                 acknowledge: bool = False) -> None:
    """A person releases a held letter to its pen pal.

    Only a letter that went through every step can go (`release_blockers`). Its pages are
    verified again with the boxes in force now. A letter held because its redaction could not
    be trusted, or whose check fails again, needs `acknowledge` (the person says they looked
    at every page); that is recorded with what was still found.
    """
    item = _item(session, item_id)
    if item.status not in {ItemStatus.needs_review, ItemStatus.unrouted}:
        raise ActionRefused(f"a letter in state {item.status} can't be released")
    blockers = release_blockers(item)
    if blockers:
        raise ActionRefused("; ".join(blockers))
    if item.volunteer_id is None:
        raise ActionRefused("set the sender first: this letter has no pen pal to go to")
    rebuild_delivery(session, item)
    asked = needs_acknowledgement(item)
    problems = recheck(session, item)
    if (asked or problems) and not acknowledge:
        what = "; ".join(f"page {p.page}: {', '.join(p.problems)}" for p in problems)
        session.flush()
        raise ActionRefused(
            (f"the check still finds {what}. " if what else
             "the pages were checked again and nothing was found, but this letter was held "
             "because its redaction could not be trusted. ")
            + "Look at every page, box what is left, and confirm that you checked it",
            keep=True)
    if asked or problems:
        audit(session, "release_acknowledged", actor=actor, item_id=item_id,
              reasons=list(item.review_reasons),
              problems=[f"page {p.page}: {', '.join(p.problems)}" for p in problems])
    item.status = ItemStatus.released
    item.released_at = utcnow()
    audit(session, "released", actor=actor, item_id=item_id, reasons=list(item.review_reasons))
    session.flush()
    _notify_after_commit(session, item.id)


def _notify_after_commit(session: Session, item_id: str) -> None:
    """Send the email once the release is committed; the outbox keeps it if sending fails."""

    @event.listens_for(session, "after_commit", once=True)
    def _send(_session: Session) -> None:
        try:
            notify(item_id)
        except Exception:  # the letter is released; the outbox sweep sends it later
            log.warning("notification for item %s not sent yet; it stays in the outbox", item_id)


def hold_item(session: Session, item_id: str, note: str, *, actor: str) -> None:
    item = _item(session, item_id)
    if item.status in {ItemStatus.quarantined}:
        raise ActionRefused("a quarantined file can't be held for review")
    item.status = ItemStatus.needs_review
    item.review_note = note
    if ReviewReason.held_by_mailroom not in item.review_reasons:
        item.review_reasons = [*item.review_reasons, ReviewReason.held_by_mailroom]
    audit(session, "held", actor=actor, item_id=item_id)


def reprocess_item(session: Session, item_id: str, *, actor: str) -> str:
    """A letter whose processing stopped goes back to the flow (not out to a pen pal).

    Its pages keep what they finished; routing, redaction and the decision run again.
    Returns the source id to hand to the ingest flow.
    """
    item = _item(session, item_id)
    if ReviewReason.processing_failed not in item.review_reasons and item.stage == Stage.done:
        raise ActionRefused("this letter finished processing; there is nothing to redo")
    item.status = ItemStatus.processing
    item.stage = Stage.new
    item.review_reasons = [r for r in item.review_reasons if r != ReviewReason.processing_failed]
    audit(session, "reprocess_requested", actor=actor, item_id=item_id)
    return item.source_id


def mark_read(session: Session, item_id: str, *, actor: str) -> None:
    item = _item(session, item_id)
    if item.status == ItemStatus.released:
        item.status = ItemStatus.read
        item.read_at = utcnow()
        audit(session, "read", actor=actor, item_id=item_id)


# --- quarantined files --------------------------------------------------------------------


def _quarantined_source(session: Session, source_id: str) -> tuple[SourceFile, list[MailItem]]:
    source = session.get(SourceFile, source_id)
    if source is None:
        raise ItemNotFound(source_id)
    items = list(session.scalars(select(MailItem).where(MailItem.source_id == source_id)))
    if source.status != SourceStatus.quarantined and not (
            items and all(i.status == ItemStatus.quarantined for i in items)):
        raise ActionRefused("this file is not quarantined")
    return source, items


def retry_quarantined(session: Session, source_id: str, *, actor: str) -> tuple[str, bytes]:
    """Take a quarantined file in again (a reader was fixed, a limit raised): its quarantined
    letter goes, the file is as if just received. Returns (file name, its bytes) for ingest."""
    source, items = _quarantined_source(session, source_id)
    store = get_blob_store()
    if not store.exists(source.blob_key):
        raise ActionRefused("the file itself was not kept (it was over the size limit): "
                            "scan it again in smaller parts")
    data = store.get(source.blob_key)
    for item in items:
        session.delete(item)
    source.status = SourceStatus.received
    source.error = ""
    source.pages_info = []
    source.page_count = 0
    audit(session, "quarantined_file_retried", actor=actor, source_id=source_id)
    return source.filename, data


def delete_quarantined(session: Session, source_id: str, *, actor: str) -> None:
    """Delete a quarantined file for good: its row, its letter and every blob made from it."""
    source, items = _quarantined_source(session, source_id)
    store = get_blob_store()
    keys = [source.blob_key, *(p["key"] for p in source.pages_info or [] if "key" in p)]
    for item in items:
        for page in item.pages:
            keys += [k for k in (page.image_key, page.clean_key, page.redacted_key,
                                 page.words_key) if k]
        session.delete(item)
    session.delete(source)
    session.flush()
    for key in dict.fromkeys(keys):
        store.delete(key)
    audit(session, "quarantined_file_deleted", actor=actor, source_id=source_id)
