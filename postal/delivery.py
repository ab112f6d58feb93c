"""What a pen pal receives, and the mailroom's moves on a letter: burn, rebuild, route, release.

Every function works in the caller's session and leaves an audit event; none logs a value.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ocr.images import decode_png, encode_png
from ocr.redact import MARKERS
from ocr.types import OcrPage, Word, words_to_text
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
    Volunteer,
    utcnow,
)

log = logging.getLogger(__name__)

BURN_PAD = 8


class ItemNotFound(LookupError):
    pass


class ActionRefused(Exception):
    """A mailroom move that the item's state does not allow; `str()` says why."""


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


# --- burning ---------------------------------------------------------------------------


def _overlap_share(word: Word, box: tuple[int, int, int, int]) -> float:
    x0, y0 = max(word.x0, box[0]), max(word.y0, box[1])
    x1, y1 = min(word.x1, box[2]), min(word.y1, box[3])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    area = max(1, (word.x1 - word.x0) * (word.y1 - word.y0))
    return (x1 - x0) * (y1 - y0) / area


def words_after_redaction(words: list[Word], redactions: list[Redaction]) -> list[Word]:
    """Words a pen pal may read: each run of covered words becomes one marker word.

    A word counts as covered when a quarter of it lies under a box, so a box drawn a
    little short still removes the whole word from the text.
    """
    kept: list[Word] = []
    previous_marker: tuple[int, tuple[int, int, int]] | None = None
    for word in words:
        cover = next((r for r in redactions if _overlap_share(word, r.box) >= 0.25), None)
        if cover is None:
            kept.append(word)
            previous_marker = None
            continue
        marker_id = (cover.id or id(cover), word.line_key)
        if previous_marker == marker_id:
            last = kept[-1]
            last.x1, last.y1 = max(last.x1, word.x1), max(last.y1, word.y1)
            continue
        kept.append(Word(MARKERS.get(cover.kind, "[removed]"), 100.0, word.x0, word.y0,
                         word.x1, word.y1, word.block, word.par, word.line))
        previous_marker = marker_id
    return kept


def burn_boxes(img: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    from ocr.redact import burn

    return burn(img, boxes, pad=BURN_PAD)


def burn_page(session: Session, page: Page) -> np.ndarray:
    """Write the delivered image and redacted text of one page from its clean image."""
    store = get_blob_store()
    clean = decode_png(store.get(page.clean_key))
    active = [r for r in page.redactions if r.active]
    burned = burn_boxes(clean, [tuple(r.box) for r in active]) if active else clean
    key = f"items/{page.item_id}/page-{page.index}-delivered.png"
    store.put(key, encode_png(burned), "image/png")
    page.redacted_key = key
    page.redacted_text = _redacted_text(session, page, active)
    return burned


def _redacted_text(session: Session, page: Page, active: list[Redaction]) -> str:
    if page.corrected_text.strip():
        # A person's transcription: run the text finders over it as well.
        from ocr.pii import find_in_text
        from ocr.redact import redacted_text_from_string

        item = page.item
        sender = item.inmate.inmate_number if item.inmate else (item.sender_number or None)
        others = [n for n in session.scalars(select(Inmate.inmate_number)) if n != sender]
        findings = find_in_text(page.corrected_text, sender_number=sender,
                                known_inmate_numbers=others)
        return redacted_text_from_string(page.corrected_text, findings)
    if not page.words_key:
        return ""
    words = OcrPage.from_json(get_blob_store().get(page.words_key)).words
    return words_to_text(words_after_redaction(words, active))


def build_pdfs(session: Session, item: MailItem) -> None:
    """The admins' searchable archive (all pages) and the pen pal's PDF (redacted letter pages)."""
    from ocr.pdfbuild import searchable_pdf

    store = get_blob_store()
    archive, delivered = [], []
    for page in item.pages:
        if not page.clean_key:
            continue
        words = OcrPage.from_json(store.get(page.words_key)).words if page.words_key else []
        archive.append((decode_png(store.get(page.clean_key)), words))
        if page.kind == PageKind.letter and page.redacted_key:
            active = [r for r in page.redactions if r.active]
            delivered.append((decode_png(store.get(page.redacted_key)),
                              words_after_redaction(words, active)))
    if archive:
        item.archive_pdf_key = store.put(f"items/{item.id}/archive.pdf", searchable_pdf(archive),
                                         "application/pdf")
    if delivered:
        item.delivered_pdf_key = store.put(f"items/{item.id}/letter.pdf",
                                           searchable_pdf(delivered), "application/pdf")


def rebuild_delivery(session: Session, item_id: str) -> None:
    item = _item(session, item_id)
    for page in item.pages:
        if page.clean_key:
            burn_page(session, page)
    build_pdfs(session, item)


# --- the mailroom's moves ----------------------------------------------------------------


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
    audit(session, "transcription_corrected", actor=actor, item_id=item_id, page=page_index,
          characters=len(text))


def set_sender(session: Session, item_id: str, inmate_id: int, *, actor: str) -> None:
    """A person names the sender: route to that inmate's active match, or leave unrouted."""
    item = _item(session, item_id)
    inmate = session.get(Inmate, inmate_id)
    if inmate is None:
        raise ItemNotFound(f"inmate {inmate_id}")
    match = session.scalar(
        select(Match).join(Volunteer).where(Match.inmate_id == inmate_id, Match.active.is_(True),
                                           Volunteer.active.is_(True))
    )
    item.inmate_id = inmate.id
    item.volunteer_id = match.volunteer_id if match else None
    item.match_reason = f"sender set by {actor}"
    reasons = [r for r in item.review_reasons
               if r not in {"sender_ambiguous", "sender_unknown", "no_match"}]
    if match is None:
        reasons.append("no_match")
    item.review_reasons = reasons
    if item.status == ItemStatus.unrouted and match is not None:
        item.status = ItemStatus.needs_review
    rebuild_delivery(session, item_id)  # the sender's own number is no longer "another inmate's"
    audit(session, "sender_set", actor=actor, item_id=item_id, inmate_id=inmate.id,
          routed=match is not None)


def release_item(session: Session, item_id: str, *, actor: str) -> None:
    item = _item(session, item_id)
    if item.status not in {ItemStatus.needs_review, ItemStatus.unrouted}:
        raise ActionRefused(f"a letter in state {item.status} can't be released")
    if item.volunteer_id is None:
        raise ActionRefused("set the sender first: this letter has no pen pal to go to")
    rebuild_delivery(session, item_id)
    for page in item.pages:
        page.verified = True  # a person looked at every box
    item.status = ItemStatus.released
    item.released_at = utcnow()
    audit(session, "released", actor=actor, item_id=item_id, reasons=list(item.review_reasons))
    session.flush()
    _notify_after_commit(session, item)


def _notify_after_commit(session: Session, item: MailItem) -> None:
    from sqlalchemy import event

    email, item_id = item.volunteer.email, item.id

    @event.listens_for(session, "after_commit", once=True)
    def _send(_session: Any) -> None:
        from postal.notify import notify_letter_waiting

        try:
            notify_letter_waiting(email, item_id)
        except Exception:  # noqa: BLE001 - the letter is released; mail can be re-sent
            log.exception("notification for item %s failed", item_id)


def hold_item(session: Session, item_id: str, note: str, *, actor: str) -> None:
    item = _item(session, item_id)
    if item.status in {ItemStatus.quarantined}:
        raise ActionRefused("a quarantined file can't be held for review")
    item.status = ItemStatus.needs_review
    item.review_note = note
    if "held_by_mailroom" not in item.review_reasons:
        item.review_reasons = [*item.review_reasons, "held_by_mailroom"]
    audit(session, "held", actor=actor, item_id=item_id)


def mark_read(session: Session, item_id: str, *, actor: str) -> None:
    item = _item(session, item_id)
    if item.status == ItemStatus.released:
        item.status = ItemStatus.read
        item.read_at = utcnow()
        audit(session, "read", actor=actor, item_id=item_id)
