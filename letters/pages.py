"""Reading a letter's pages: clean each page up, OCR it, store the clean image and its words."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import get_settings
from letters.intake import NotReady
from letters.states import PageStage
from ocr.engines import EngineRule
from ocr.envelope import read_envelope
from ocr.errors import OcrFailed
from ocr.images import PAGE_MEDIA_TYPE, PAGE_SUFFIX, decode_image, encode_page
from ocr.pipeline import read_page
from ocr.preprocess import prepare
from ocr.tesseract import AUTO, reading_languages
from ocr.types import OcrPage
from storage.blobs import get_blob_store
from storage.db import audit, session_scope
from storage.models import MailItem, Page, PageKind


def item_page_ids(item_id: str, *, only_missing_ocr: bool = False) -> list[int]:
    with session_scope() as session:
        query = select(Page.id).where(Page.item_id == item_id).order_by(Page.index)
        if only_missing_ocr:
            query = query.where(Page.words_key == "")
        return list(session.scalars(query))


def page_languages(session: Session, page: Page, setting: str) -> str:
    """The languages to read a letter page with. Under "auto" (English first, Spanish again
    where the page reads Spanish), a page whose letter already has a page read as Spanish is
    read as Spanish at once, instead of English first and then again. (An envelope under
    "auto" is read with both at once: `ocr.envelope.read_envelope`.)"""
    if setting != AUTO or page.kind != PageKind.letter:
        return setting
    spanish = session.scalar(select(Page.id).where(
        Page.item_id == page.item_id, Page.kind == PageKind.letter, Page.language == "spa",
    ).limit(1))
    return reading_languages(setting, "spa" if spanish is not None else "")


def ocr_page(page_id: int) -> float:
    """Preprocess and OCR one page; store the clean image and the words. Returns confidence."""
    settings = get_settings()
    with session_scope() as session:
        page = session.get(Page, page_id)
        if page.words_key:
            return page.confidence
        item_id, index, image_key, kind = page.item_id, page.index, page.image_key, page.kind
        languages = page_languages(session, page, settings.ocr_languages)
    store = get_blob_store()
    img = decode_image(store.get(image_key))
    try:
        if kind == PageKind.envelope:
            # Turned upright by its stamp (letter-page cues misread some) and read by Tesseract;
            # routing asks PP-OCR to read it again when the roster does not confirm the reading.
            prepared, result = read_envelope(img, languages=languages,
                                             timeout=settings.ocr_page_timeout_seconds)
        else:
            prepared, result = read_page(img, languages=languages,
                                         timeout=settings.ocr_page_timeout_seconds,
                                         rule=EngineRule.from_settings(settings))
        failure = ""
    except OcrFailed as exc:
        # A page that crashes the OCR engine fails alone: it waits for a person to transcribe.
        prepared = prepare(img)
        result = OcrPage(width=prepared.image.shape[1], height=prepared.image.shape[0],
                         needs_transcription=True)
        failure = exc.code
    clean_key = f"items/{item_id}/page-{index}-clean{PAGE_SUFFIX}"
    words_key = f"items/{item_id}/page-{index}-words.json"
    store.put(clean_key, encode_page(prepared.image), PAGE_MEDIA_TYPE)
    store.put(words_key, result.to_json().encode(), "application/json")
    with session_scope() as session:
        page = session.get(Page, page_id)
        page.clean_key = clean_key
        page.words_key = words_key
        page.text = result.text
        page.confidence = round(result.confidence, 2)
        page.needs_transcription = result.needs_transcription
        page.language = result.language
        page.rotation = result.rotation
        page.skew = round(result.skew, 3)
        page.height, page.width = prepared.image.shape[:2]
        page.stage = PageStage.ocr_failed if failure else PageStage.ocr
        if failure:
            audit(session, "ocr_failed", item_id=item_id, page=index, code=failure)
    return result.confidence


def require_read(item: MailItem) -> None:
    """Raise `NotReady` unless every page of the item has its reading stored.

    Routing, redaction and the decision are verdicts on what the pages say: made on a page
    whose OCR step never finished (the blob store or the database failed), they would be
    final and wrong ("sender unknown", nothing redacted)."""
    unread = [p.index for p in item.pages if not p.words_key]
    if unread:
        raise NotReady(f"letter {item.id}: page {', '.join(map(str, unread))} not read yet")


def load_words(page: Page) -> OcrPage:
    """The page's OCR reading as stored (an empty reading for a page never read)."""
    if not page.words_key:
        return OcrPage(width=page.width or 0, height=page.height or 0)
    return OcrPage.from_json(get_blob_store().get(page.words_key))
