"""The steps of a letter's journey as plain functions over ids and blob keys.

The Prefect flows in `flows/ingest.py` and `flows/mail_item.py` call these one per task;
tests call them directly, without Prefect. Each step reads its inputs from the database
and blob store, records what it finished (`stage`), and is safe to run again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from config.settings import get_settings
from ocr.errors import LetterbridgeInputError, OcrFailed
from ocr.images import decode_png, encode_png
from ocr.types import OcrPage
from storage.blobs import get_blob_store, original_key, sha256_file
from storage.db import audit, session_scope
from storage.models import (
    Inmate,
    ItemStatus,
    MailItem,
    Page,
    PageKind,
    Redaction,
    SourceFile,
    WatchTerm,
)

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = {".pdf", ".tif", ".tiff", ".png", ".jpg", ".jpeg"}


# --- 1. take a file in -----------------------------------------------------------------


@dataclass
class Registered:
    source_id: str
    filename: str
    duplicate: bool  # the same bytes were ingested before
    done: bool  # ...and fully processed (nothing left to do)


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; folders walked in name order. Hidden files are skipped."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found.append(path)
    return found


def register_source(path: Path, *, uploaded_by: str = "") -> Registered:
    """Store the original under its SHA-256 (idempotency key) and record it once."""
    settings = get_settings()
    digest = sha256_file(path)
    with session_scope() as session:
        existing = session.scalar(select(SourceFile).where(SourceFile.sha256 == digest))
        if existing is not None:
            return Registered(existing.id, existing.filename, duplicate=True,
                              done=existing.status in {"done", "quarantined"})
        size = path.stat().st_size
        key = original_key(digest)
        store = get_blob_store()
        if size <= settings.max_file_bytes and not store.exists(key):
            store.put(key, path.read_bytes())
        source = SourceFile(sha256=digest, filename=path.name, size=size, blob_key=key,
                            uploaded_by=uploaded_by)
        session.add(source)
        from sqlalchemy.exc import IntegrityError

        try:
            session.flush()
        except IntegrityError:
            # Another worker registered the same bytes a moment ago: theirs is the source.
            session.rollback()
            existing = session.scalar(select(SourceFile).where(SourceFile.sha256 == digest))
            return Registered(existing.id, existing.filename, duplicate=True,
                              done=existing.status in {"done", "quarantined"})
        audit(session, "source_received", actor=uploaded_by or "system", source_id=source.id,
              bytes=size)
        return Registered(source.id, source.filename, duplicate=False, done=False)


# --- 2. pages out of a file ------------------------------------------------------------


def _source_temp_file(source: SourceFile) -> Path:
    """Rasterising needs a real file; blobs may live in S3."""
    settings = get_settings()
    work = settings.home / "work"
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{source.id}.bin"
    if not path.exists():
        path.write_bytes(get_blob_store().get(source.blob_key))
    return path


def quarantine_source(source_id: str, code: str, reason: str) -> None:
    """A file that can't be processed becomes one quarantined item with its reason."""
    with session_scope() as session:
        source = session.get(SourceFile, source_id)
        source.status = "quarantined"
        source.error = reason
        item = session.scalar(select(MailItem).where(MailItem.source_id == source_id))
        if item is None:
            item = MailItem(source_id=source_id, first_source_page=1)
            session.add(item)
        item.status = ItemStatus.quarantined
        item.review_reasons = [code]
        item.quarantine_reason = reason
        item.stage = "done"
        session.flush()
        audit(session, "quarantined", item_id=item.id, source_id=source_id, code=code)
    log.warning("source %s quarantined: %s", source_id, code)


def rasterise_source(source_id: str) -> list[dict]:
    """Render every page at 300 DPI into the blob store and classify it.

    Returns [{"source_page", "key", "kind"}]; an unreadable file is quarantined and
    returns [].
    """
    from ocr import raster
    from ocr.split import classify_page

    settings = get_settings()
    with session_scope() as session:
        source = session.get(SourceFile, source_id)
        if source.status in {"rasterised", "split", "done"} and source.pages_info:
            return list(source.pages_info)
        if source.status == "quarantined":
            return []
        if source.size > settings.max_file_bytes:
            limit = settings.max_file_bytes // (1024 * 1024)
            reason = f"file is {source.size // (1024 * 1024)} MB; the limit is {limit} MB"
            quarantine_source(source_id, "file_too_large", reason)
            return []
        path = _source_temp_file(source)
    store = get_blob_store()
    info: list[dict] = []
    try:
        raster.sniff_format(path)
        pages = raster.count_pages(path)
        if pages > settings.max_pages_per_file:
            from ocr.errors import TooManyPages

            raise TooManyPages(
                f"file has {pages} pages; the limit is {settings.max_pages_per_file}"
            )
        for number, img in enumerate(
            raster.iter_pages(path, dpi=settings.ocr_dpi, max_pixels=settings.max_image_pixels),
            start=1,
        ):
            key = f"sources/{source_id}/page-{number:04d}.png"
            store.put(key, encode_png(img), "image/png")
            info.append({"source_page": number, "key": key, "kind": classify_page(img)})
    except LetterbridgeInputError as exc:
        quarantine_source(source_id, exc.code, exc.reason)
        return []
    finally:
        path.unlink(missing_ok=True)
    if not info:
        quarantine_source(source_id, "empty_file", "the file has no pages")
        return []
    with session_scope() as session:
        source = session.get(SourceFile, source_id)
        source.page_count = len(info)
        source.pages_info = info
        source.status = "rasterised"
    return info


def split_source(source_id: str) -> list[str]:
    """Cut the file's pages into mail items (separators, envelopes, blank backs)."""
    from ocr.split import PageInfo, split_run

    with session_scope() as session:
        source = session.get(SourceFile, source_id)
        if source.status == "quarantined":
            return []
        existing = session.scalars(
            select(MailItem.id).where(MailItem.source_id == source_id)
            .order_by(MailItem.first_source_page)
        ).all()
        if source.status in {"split", "done"}:
            return list(existing)
        by_page = {p["source_page"]: p for p in source.pages_info}
        groups = split_run([PageInfo(p["source_page"], p["kind"]) for p in source.pages_info])
        if not groups:
            source.status = "done"
            item = MailItem(source_id=source_id, first_source_page=1,
                            status=ItemStatus.quarantined, review_reasons=["no_content"],
                            quarantine_reason="every page is blank or a separator sheet",
                            stage="done")
            session.add(item)
            session.flush()
            audit(session, "quarantined", item_id=item.id, code="no_content")
            return []
        item_ids = []
        for group in groups:
            first = group[0].source_page
            item = session.scalar(select(MailItem).where(
                MailItem.source_id == source_id, MailItem.first_source_page == first))
            if item is None:
                item = MailItem(source_id=source_id, first_source_page=first,
                                status=ItemStatus.processing)
                session.add(item)
                session.flush()
                for index, page_info in enumerate(group, start=1):
                    session.add(Page(item_id=item.id, index=index,
                                     source_page=page_info.source_page, kind=page_info.kind,
                                     image_key=by_page[page_info.source_page]["key"]))
                audit(session, "item_created", item_id=item.id, source_id=source_id,
                      pages=len(group))
            item_ids.append(item.id)
        source.status = "split"
        return item_ids


# --- 3. read every page ----------------------------------------------------------------


def item_page_ids(item_id: str, *, only_missing_ocr: bool = False) -> list[int]:
    with session_scope() as session:
        query = select(Page.id).where(Page.item_id == item_id).order_by(Page.index)
        if only_missing_ocr:
            query = query.where(Page.words_key == "")
        return list(session.scalars(query))


def ocr_page(page_id: int) -> float:
    """Preprocess and OCR one page; store the clean image and the words. Returns confidence."""
    from ocr.envelope import read_envelope
    from ocr.pipeline import read_page

    settings = get_settings()
    with session_scope() as session:
        page = session.get(Page, page_id)
        if page.words_key:
            return page.confidence
        item_id, index, image_key, kind = page.item_id, page.index, page.image_key, page.kind
    store = get_blob_store()
    img = decode_png(store.get(image_key))
    # Envelopes are turned upright by their stamp; letter-page cues misread some of them.
    reader = read_envelope if kind == PageKind.envelope else read_page
    try:
        prepared, result = reader(img, languages=settings.ocr_languages,
                                  timeout=settings.ocr_page_timeout_seconds)
        failure = ""
    except OcrFailed as exc:
        # A page that crashes Tesseract fails alone: it waits for a person to transcribe.
        from ocr.preprocess import prepare

        prepared = prepare(img)
        result = OcrPage(width=prepared.image.shape[1], height=prepared.image.shape[0],
                         needs_transcription=True)
        failure = exc.code
    clean_key = f"items/{item_id}/page-{index}-clean.png"
    words_key = f"items/{item_id}/page-{index}-words.json"
    store.put(clean_key, encode_png(prepared.image), "image/png")
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
        page.stage = "ocr_failed" if failure else "ocr"
        if failure:
            audit(session, "ocr_failed", item_id=item_id, page=index, code=failure)
    return result.confidence


def load_words(page: Page) -> OcrPage:
    return OcrPage.from_json(get_blob_store().get(page.words_key))


# --- 4. who sent it, and who gets it ---------------------------------------------------


def route_item(item_id: str) -> str:
    """Read the envelope, match the roster, record the decision. Returns the outcome."""
    from ocr.envelope import SenderGuess, read_sender
    from postal.matching import match_sender

    settings = get_settings()
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        if item.stage in {"routed", "redacted", "done"}:
            return item.match_reason
        envelope = next((p for p in item.pages if p.kind == PageKind.envelope), None)
        guess = read_sender(load_words(envelope)) if envelope else SenderGuess(
            name="", inmate_number="", facility="", address_lines=[], confidence=0.0)
        letter_text = "\n".join(p.text for p in item.pages if p.kind == PageKind.letter)
        decision = match_sender(session, guess, min_confidence=settings.match_min_confidence,
                                letter_text=letter_text)
        item.sender_name = guess.name
        item.sender_number = guess.inmate_number
        item.sender_facility = guess.facility
        item.sender_confidence = round(decision.confidence, 3)
        item.match_reason = decision.reason
        item.flags = list(decision.flags)
        languages = [p.language for p in item.pages if p.kind == PageKind.letter and p.language]
        item.language = max(set(languages), key=languages.count) if languages else ""
        reasons: list[str] = []
        if decision.outcome == "routed":
            item.inmate_id = decision.inmate_id
            item.volunteer_id = decision.volunteer_id
        else:
            item.inmate_id = decision.inmate_id
            item.volunteer_id = None
            reasons.append({"ambiguous": "sender_ambiguous", "unknown": "sender_unknown",
                            "no_match": "no_match"}[decision.outcome])
            if envelope is None:
                reasons.append("no_envelope")
        item.review_reasons = reasons
        item.stage = "routed"
        audit(session, "routed" if decision.outcome == "routed" else "not_routed",
              item_id=item_id, outcome=decision.outcome, confidence=round(decision.confidence, 3),
              flags=list(decision.flags))
        return decision.outcome


# --- 5. redaction ----------------------------------------------------------------------


def _pii_context(session, item: MailItem) -> dict:  # noqa: ANN001
    sender_number = item.inmate.inmate_number if item.inmate else (item.sender_number or None)
    others = [n for n in session.scalars(select(Inmate.inmate_number)) if n != sender_number]
    terms = list(session.scalars(select(WatchTerm.term)))
    return {"sender_number": sender_number, "watch_terms": terms,
            "known_inmate_numbers": others}


def find_redactions(item_id: str) -> list[int]:
    """Run the PII finders on every letter page, record proposed boxes (made_by='auto') and
    burn them in. Returns the ids of pages that now carry boxes and must be re-checked."""
    from ocr.pii import find_pii
    from postal.delivery import burn_page

    with session_scope() as session:
        item = session.get(MailItem, item_id)
        if item.stage in {"redacted", "done"}:
            return [p.id for p in item.pages if p.kind == PageKind.letter and not p.verified]
        context = _pii_context(session, item)
        to_verify = []
        for page in item.pages:
            if not page.clean_key:
                continue
            if page.kind == PageKind.letter and page.words_key:
                for old in [r for r in page.redactions if r.made_by == "auto"]:
                    session.delete(old)
                session.flush()
                findings = find_pii(load_words(page).words, **context)
                for finding in findings:
                    for box in finding.boxes:
                        session.add(Redaction(page_id=page.id, kind=finding.kind, x0=box[0],
                                              y0=box[1], x1=box[2], y1=box[3], made_by="auto"))
                session.flush()
                session.refresh(page)
                audit(session, "redactions_proposed", actor="auto", item_id=item_id,
                      page=page.index, kinds=sorted({f.kind for f in findings}),
                      boxes=sum(len(f.boxes) for f in findings))
            burn_page(session, page)
            # A page without boxes is delivered exactly as the finders saw it: nothing to re-check.
            has_boxes = any(r.active for r in page.redactions)
            page.verified = page.kind != PageKind.letter or not has_boxes
            if not page.verified:
                to_verify.append(page.id)
        item.stage = "redacted"
        return to_verify


def verify_page(page_id: int) -> bool:
    """Fail closed: OCR the burned page again and run the finders on what is still readable."""
    from ocr.redact import verify_page as verify
    from ocr.tesseract import ocr_image

    settings = get_settings()
    with session_scope() as session:
        page = session.get(Page, page_id)
        if page.verified:
            return True
        burned = decode_png(get_blob_store().get(page.redacted_key))
        boxes = [tuple(r.box) for r in page.redactions if r.active]
        context = _pii_context(session, page.item)
    from ocr.bands import band_image

    # Only the bands around the boxes changed; the rest was already read and checked.
    result = verify(
        band_image(burned, boxes),
        ocr=lambda img: ocr_image(img, languages=settings.ocr_languages,
                                  timeout=settings.ocr_page_timeout_seconds),
        **context,
    )
    with session_scope() as session:
        page = session.get(Page, page_id)
        page.verified = result.passed
        if not result.passed:
            audit(session, "redaction_verification_failed", actor="auto", item_id=page.item_id,
                  page=page.index, problems=result.problems)
    return result.passed


# --- 6. decide -------------------------------------------------------------------------


def decide(item_id: str) -> str:
    """Release only what passed every check; everything else waits for a person."""
    from ocr.redact import needs_human
    from postal.delivery import build_pdfs

    settings = get_settings()
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        if item.stage == "done":
            return item.status
        reasons = list(item.review_reasons)
        for page in item.pages:
            if page.kind != PageKind.letter:
                continue
            if page.stage == "ocr_failed" and "ocr_failed" not in reasons:
                reasons.append("ocr_failed")
            words = load_words(page)
            if needs_human(words, low_confidence=settings.ocr_low_confidence):
                if words.confidence < settings.ocr_low_confidence and \
                        "low_ocr_confidence" not in reasons:
                    reasons.append("low_ocr_confidence")
                if words.needs_transcription and "needs_transcription" not in reasons:
                    reasons.append("needs_transcription")
                if "redaction_unverified" not in reasons:
                    reasons.append("redaction_unverified")
            if not page.verified and "redaction_failed_verification" not in reasons:
                reasons.append("redaction_failed_verification")
        if not any(p.kind == PageKind.letter for p in item.pages) and "no_letter_pages" not in reasons:
            reasons.append("no_letter_pages")
        build_pdfs(session, item)
        if item.volunteer_id is None:
            unrouted = {"sender_unknown", "no_match"} & set(reasons)
            item.status = ItemStatus.unrouted if unrouted and "sender_ambiguous" not in reasons \
                else ItemStatus.needs_review
        elif reasons:
            item.status = ItemStatus.needs_review
        else:
            item.status = ItemStatus.released
            item.released_at = item.updated_at
        item.review_reasons = reasons
        item.stage = "done"
        audit(session, "decided", actor="auto", item_id=item_id, status=item.status,
              reasons=reasons)
        return item.status


def notify(item_id: str) -> bool:
    """Tell the volunteer a letter waits (once). No letter text, no inmate details."""
    from postal.notify import notify_letter_waiting

    with session_scope() as session:
        item = session.get(MailItem, item_id)
        if item.status != ItemStatus.released or item.notified_at or item.volunteer is None:
            return False
        email = item.volunteer.email
    notify_letter_waiting(email, item_id)
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        from storage.models import utcnow

        item.notified_at = utcnow()
        audit(session, "volunteer_notified", item_id=item_id)
    return True


def finish_source(source_id: str) -> None:
    with session_scope() as session:
        source = session.get(SourceFile, source_id)
        if source.status != "quarantined":
            source.status = "done"


# --- bookkeeping -----------------------------------------------------------------------


def item_done(item_id: str) -> bool:
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        return item is None or item.stage == "done"


def mark_failed(item_id: str) -> None:
    """An item whose flow failed waits for a person rather than staying in `processing`."""
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        if item is None or item.stage == "done":
            return
        item.status = ItemStatus.needs_review
        item.review_reasons = [*item.review_reasons, "processing_failed"]
        audit(session, "processing_failed", item_id=item_id, stage=item.stage)


def batch_summary(source_ids: list[str]) -> list[dict]:
    """Rows for the batch's Prefect artifact: ids, counts and states only."""
    with session_scope() as session:
        items = session.scalars(
            select(MailItem).where(MailItem.source_id.in_(source_ids))
            .order_by(MailItem.created_at, MailItem.first_source_page)
        ).all()
        return [{"letter": item.id, "pages": len(item.pages), "status": item.status,
                 "reasons": ", ".join(item.review_reasons)} for item in items]


def pages_progress(source_ids: list[str]) -> tuple[int, int]:
    """(pages read, pages known) for a batch: what the progress bar shows."""
    from sqlalchemy import func

    with session_scope() as session:
        total = session.scalar(
            select(func.count(Page.id)).join(MailItem).where(MailItem.source_id.in_(source_ids))
        ) or 0
        done = session.scalar(
            select(func.count(Page.id)).join(MailItem)
            .where(MailItem.source_id.in_(source_ids), Page.words_key != "")
        ) or 0
        known = session.scalar(
            select(func.coalesce(func.sum(SourceFile.page_count), 0))
            .where(SourceFile.id.in_(source_ids))
        ) or 0
        return done, max(total, known)
