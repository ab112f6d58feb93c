"""Redaction of a letter, one path for everyone: find the details, burn them, check the result.

The flow, the mailroom, the exports, the tests and the benchmarks all go through here:

- `pii_context` is the one place that says whose numbers and which watch terms count;
- `pen_pal_words` is the one function for the words a pen pal reads (the redacted text and
  the PDF's text layer), made from the same boxes as the burned image;
- `burn_page` writes the delivered image and the redacted text together, so they never
  disagree.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import get_settings
from letters.pages import load_words, require_read
from letters.states import Stage
from ocr.bands import bands_of
from ocr.engines import TESSERACT, read_with
from ocr.images import PAGE_MEDIA_TYPE, PAGE_SUFFIX, decode_image, encode_page
from ocr.pdfbuild import searchable_pdf
from ocr.pii import Finding, find_in_text, find_pii
from ocr.redact import (
    Cover,
    Verification,
    burn,
    covers_from_findings,
    marker,
    redacted_text_from_string,
    words_after_redaction,
)
from ocr.redact import verify_page as verify_burned
from ocr.tesseract import reading_languages
from ocr.types import OcrPage, Word, words_to_text
from storage.blobs import get_blob_store
from storage.db import audit, session_scope
from storage.models import Inmate, MailItem, Page, PageKind, Redaction, WatchTerm


@dataclass(frozen=True)
class PiiContext:
    """What the finders must know about a letter beyond its words."""

    sender_number: str | None = None
    watch_terms: list[str] = field(default_factory=list)
    known_inmate_numbers: list[str] = field(default_factory=list)

    def as_kwargs(self) -> dict:
        return asdict(self)


def pii_context(session: Session, item: MailItem) -> PiiContext:
    """The sender's own number may stay; every other inmate's number and every watch term go."""
    sender = item.inmate.inmate_number if item.inmate else (item.sender_number or None)
    others = [n for n in session.scalars(select(Inmate.inmate_number)) if n != sender]
    terms = list(session.scalars(select(WatchTerm.term)))
    return PiiContext(sender_number=sender, watch_terms=terms, known_inmate_numbers=others)


def find_details(words: list[Word], context: PiiContext) -> list[Finding]:
    return find_pii(words, **context.as_kwargs())


def active_covers(page: Page) -> list[Cover]:
    """Every box in force on a page, automatic or a person's."""
    return [Cover(r.kind, tuple(r.box)) for r in page.redactions if r.active]


def pen_pal_words(words: list[Word], covers: list[Cover]) -> list[Word]:
    """The words a pen pal may read: no word under any box (see `ocr.redact`)."""
    return words_after_redaction(words, covers)


def pen_pal_text(words: list[Word], covers: list[Cover]) -> str:
    return words_to_text(pen_pal_words(words, covers))


def _covered_values(words: list[Word], covers: list[Cover]) -> list[tuple[str, str]]:
    """(kind, text) of each OCR word a box hides, for taking them out of a transcription too."""
    out = []
    for word in words:
        after = words_after_redaction([word], covers)
        if after[0].text != word.text:
            value = word.text.strip(".,;:!?()[]\"'")
            if len(value) >= 2:
                out.append((after[0].text, value))
    return out


def transcription_text(transcription: str, words: list[Word], covers: list[Cover],
                       context: PiiContext) -> str:
    """A person's transcription as a pen pal reads it: what the finders see in it is replaced
    by its marker, and so is every value the page's boxes hide in the OCR reading."""
    findings = find_in_text(transcription, **context.as_kwargs())
    text = redacted_text_from_string(transcription, findings)
    for label, value in _covered_values(words, covers):
        text = re.sub(rf"(?i)(?<!\w){re.escape(value)}(?!\w)", label, text)
    return text


def unboxed_transcription_findings(page: Page, context: PiiContext) -> list[str]:
    """Kinds of details the finders see in a person's transcription that no box on the image
    hides: the image would show what the text hides, so the letter can't go out as it is."""
    if not page.corrected_text.strip():
        return []
    words = load_words(page).words
    covers = active_covers(page)
    hidden = {value.lower() for _, value in _covered_values(words, covers)}
    problems = []
    for finding in find_in_text(page.corrected_text, **context.as_kwargs()):
        value = page.corrected_text[finding.start:finding.end]
        tokens = [t.strip(".,;:!?()[]\"'").lower() for t in value.split()]
        if not all(t in hidden for t in tokens if t):
            problems.append(finding.kind)
    return problems


# --- burning and the delivered files ------------------------------------------------------


def burn_page(session: Session, page: Page, context: PiiContext | None = None, *,
              clean: np.ndarray | None = None) -> np.ndarray:
    """Write the delivered image and the redacted text of one page, from its clean image and
    the same boxes. Returns the delivered image."""
    store = get_blob_store()
    if clean is None:
        clean = decode_image(store.get(page.clean_key))
    covers = active_covers(page)
    burned = burn(clean, [c.box for c in covers]) if covers else clean
    # Burned again where it was: a page stored before page images were zstd pixels keeps its
    # ".png" key (its bytes say their format), so no copy from before a new box stays behind.
    own = page.redacted_key and page.redacted_key not in (page.clean_key, page.image_key)
    key = page.redacted_key if own else \
        f"items/{page.item_id}/page-{page.index}-delivered{PAGE_SUFFIX}"
    store.put(key, encode_page(burned), PAGE_MEDIA_TYPE)
    page.redacted_key = key
    words = load_words(page).words
    if page.corrected_text.strip():
        context = context or pii_context(session, page.item)
        page.redacted_text = transcription_text(page.corrected_text, words, covers, context)
    else:
        page.redacted_text = pen_pal_text(words, covers)
    return burned


def build_pdfs(session: Session, item: MailItem,
               images: dict[int, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
    """The admins' searchable archive (all pages) and the pen pal's PDF (redacted letter pages).

    `images` may hold each page's (clean, delivered) images already in memory, by page id, so
    that they are not read and decoded again.
    """
    store = get_blob_store()
    images = images or {}
    archive, delivered = [], []
    for page in item.pages:
        if not page.clean_key:
            continue
        words = load_words(page).words
        clean, burned = images.get(page.id, (None, None))
        archive.append((clean if clean is not None else decode_image(store.get(page.clean_key)),
                        words))
        if page.kind == PageKind.letter and page.redacted_key:
            if burned is None:
                burned = decode_image(store.get(page.redacted_key))
            delivered.append((burned, pen_pal_words(words, active_covers(page))))
    if archive:
        item.archive_pdf_key = store.put(f"items/{item.id}/archive.pdf", searchable_pdf(archive),
                                         "application/pdf")
    if delivered:
        item.delivered_pdf_key = store.put(f"items/{item.id}/letter.pdf",
                                           searchable_pdf(delivered), "application/pdf")


def rebuild_delivery(session: Session, item: MailItem) -> None:
    """Burn every page again from the boxes in force now, and rebuild both PDFs."""
    context = pii_context(session, item)
    for page in item.pages:
        if page.clean_key and page.kind == PageKind.letter:
            burn_page(session, page, context)
    build_pdfs(session, item)


# --- the flow's steps -------------------------------------------------------------------------


def find_redactions(item_id: str) -> list[int]:
    """Run the PII finders on every letter page, record proposed boxes (made_by='auto') and
    burn them in. Returns the ids of pages that now carry boxes and must be re-checked."""
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        if item.stage in {Stage.redacted, Stage.done}:
            return [p.id for p in item.pages if p.kind == PageKind.letter and not p.verified]
        require_read(item)  # a page skipped now would never be redacted: the stage moves on
        context = pii_context(session, item)
        to_verify = []
        images: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for page in item.pages:
            if not page.clean_key:
                continue
            words = (load_words(page).words if page.kind == PageKind.letter and page.words_key
                     else None)
            if words is not None:
                for old in [r for r in page.redactions if r.made_by == "auto"]:
                    session.delete(old)
                session.flush()
                findings = find_details(words, context)
                for cover in covers_from_findings(findings):
                    x0, y0, x1, y1 = cover.box
                    session.add(Redaction(page_id=page.id, kind=cover.kind, x0=x0, y0=y0,
                                          x1=x1, y1=y1, made_by="auto"))
                session.flush()
                session.refresh(page)
                audit(session, "redactions_proposed", actor="auto", item_id=item_id,
                      page=page.index, kinds=sorted({f.kind for f in findings}),
                      boxes=sum(len(f.boxes) for f in findings))
            clean = decode_image(get_blob_store().get(page.clean_key))
            # Only letter pages are delivered; the mailroom and the archive show an envelope
            # as it was cleaned (nothing is burned into it, no pen pal sees it).
            images[page.id] = (clean, burn_page(session, page, context, clean=clean)
                               if page.kind == PageKind.letter else clean)
            # A page without boxes is delivered exactly as the finders saw it: nothing to read
            # again, but what was read must pass the checks a re-read would (check_reading).
            has_boxes = any(r.active for r in page.redactions)
            page.verified = page.kind != PageKind.letter or (
                not has_boxes and words is not None
                and check_reading(words, images[page.id][1], context).passed)
            if not page.verified:
                to_verify.append(page.id)
        # Checking the burned pages changes no box: the PDFs are made now, from the images
        # in hand, not decoded again at the end.
        build_pdfs(session, item, images)
        item.stage = Stage.redacted
        return to_verify


def check_burned(burned: np.ndarray, covers: list[Cover], context: PiiContext, *,
                 engine: str = TESSERACT, language: str = "") -> Verification:
    """Fail closed: OCR the burned page again and run the finders on what is still readable.

    The page is read again by the engine that read it first: re-reading a handwritten page
    with Tesseract proves nothing, since Tesseract could not read it in the first place.
    Under `ocr_languages = "auto"` it is read in the `language` its first reading found (an
    English page with English alone), so the bands are not read twice.
    Its problems say what was found (kinds and counts, never values), its regions where, in
    the page's coordinates.
    """
    settings = get_settings()
    # Only the bands around the boxes changed; the rest was already read and checked.
    bands = bands_of(burned, [c.box for c in covers])
    result = verify_burned(
        bands.image,
        ocr=lambda img: read_with(engine, img,
                                  languages=reading_languages(settings.ocr_languages, language),
                                  timeout=settings.ocr_page_timeout_seconds,
                                  page_long_side=max(burned.shape[:2])),
        **context.as_kwargs(),
    )
    result.regions = [(kind, bands.to_page(box)) for kind, box in result.regions]
    return result


# Said before what the first reading left readable away from every box (check_reading).
READING_PROBLEM = "read on the page, under no box: "


def check_reading(words: list[Word], burned: np.ndarray, context: PiiContext) -> Verification:
    """Fail closed on the first reading too: the words OCR read that no box burned must pass the
    checks a re-read does (no finding, no unexplained number of 4+ digits, no word mixing letters
    and digits, no "@"). The re-read sees only the bands around the boxes, and a page without
    boxes is not read again at all, so a number the finders cannot name ("ZZA8L84?", another
    prisoner's number read with letters for digits) would reach the pen pal unseen."""
    result = verify_burned(burned, ocr=lambda _img: OcrPage(words=list(words)),
                           **context.as_kwargs())
    result.problems = [READING_PROBLEM + p for p in result.problems]
    return result


def verify_page(page_id: int) -> bool:
    """The flow's check of one burned page; a failure is recorded for the mailroom."""
    with session_scope() as session:
        page = session.get(Page, page_id)
        if page.verified:
            return True
        burned = decode_image(get_blob_store().get(page.redacted_key))
        covers = active_covers(page)
        context = pii_context(session, page.item)
        reading = load_words(page)
    first = check_reading(reading.words, burned, context)
    # No transaction is held while OCR runs.
    result = (check_burned(burned, covers, context, engine=reading.engine,
                            language=reading.language) if covers
              else Verification(True))
    result = Verification(first.passed and result.passed, first.problems + result.problems,
                          first.regions + result.regions)
    with session_scope() as session:
        page = session.get(Page, page_id)
        page.verified = result.passed
        if not result.passed:
            record_failed_check(session, page, result)
    return result.passed


def record_failed_check(session: Session, page: Page, result: Verification) -> None:
    """The audit event the mailroom shows: what kinds were found and where (boxes, no values)."""
    audit(session, "redaction_verification_failed", actor="auto", item_id=page.item_id,
          page=page.index, problems=result.problems,
          regions=[[kind, *map(int, box)] for kind, box in result.regions])


__all__ = [
    "Cover",
    "PiiContext",
    "active_covers",
    "build_pdfs",
    "burn_page",
    "check_burned",
    "record_failed_check",
    "find_details",
    "find_redactions",
    "marker",
    "pen_pal_text",
    "pen_pal_words",
    "pii_context",
    "rebuild_delivery",
    "transcription_text",
    "unboxed_transcription_findings",
    "verify_page",
]
