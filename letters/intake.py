"""A registered file becomes mail items: rasterise its pages, split the run, or quarantine it.

Each function reads its inputs from the database and blob store, records how far it got
(`SourceFile.status`) and is safe to run again. A bad file is quarantined with a reason a
volunteer understands; a failure around it (blob store, database) is raised, never turned
into a verdict on the file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select

from config.settings import get_settings
from letters.states import ReviewReason, Stage
from ocr import raster
from ocr.errors import LetterbridgeInputError
from ocr.images import PAGE_MEDIA_TYPE, PAGE_SUFFIX, encode_page
from ocr.split import PageInfo, classify_page, split_run
from storage.blobs import get_blob_store
from storage.db import audit, session_scope
from storage.models import AuditEvent, ItemStatus, MailItem, Page, SourceFile, SourceStatus

log = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """A step was asked to run before the step it needs had finished (retry later)."""


def _source_temp_file(source: SourceFile) -> Path:
    """Rasterising needs a real file; blobs may live in S3."""
    work = get_settings().home / "work"
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{source.id}.bin"
    if not path.exists():
        partial = path.with_suffix(".part")
        partial.write_bytes(get_blob_store().get(source.blob_key))
        partial.replace(path)  # a half-written copy never passes for the file
    return path


def quarantine_source(source_id: str, code: str, reason: str) -> None:
    """A file that can't be processed becomes one quarantined item with its reason."""
    with session_scope() as session:
        source = session.get(SourceFile, source_id)
        source.status = SourceStatus.quarantined
        source.error = reason
        item = session.scalar(select(MailItem).where(MailItem.source_id == source_id))
        if item is None:
            item = MailItem(source_id=source_id, first_source_page=1)
            session.add(item)
        item.status = ItemStatus.quarantined
        item.review_reasons = [code]
        item.quarantine_reason = reason
        item.stage = Stage.done
        session.flush()
        audit(session, "quarantined", item_id=item.id, source_id=source_id, code=code)
    log.warning("source %s quarantined: %s", source_id, code)


# A file that was never split into letters is resumed by recovery at most this many times
# after a run that ended without a word (its process died: killed, out of memory). Then it is
# quarantined: a file that kills its worker would otherwise do so every minute, for ever.
# A run stopped by an outage says so (`source_interrupted`) and does not count.
MAX_SILENT_RESUMES = 3
NOT_SPLIT = (SourceStatus.received, SourceStatus.rasterised)
RESUME_EVENTS = ("source_resumed", "source_interrupted", "quarantined_file_retried")


def resume_or_give_up(source_ids: list[str]) -> list[str]:
    """Recovery's check, holding the sources' leases: the sources it may resume (each resume
    is audited `source_resumed`); a file not yet split whose earlier resumes all ended
    silently MAX_SILENT_RESUMES times is quarantined instead, with a reason in words."""
    keep, give_up = [], []
    with session_scope() as session:
        for source_id in source_ids:
            source = session.get(SourceFile, source_id)
            if source is None or source.status not in NOT_SPLIT:
                keep.append(source_id)
                continue
            events = session.execute(
                select(AuditEvent.action, AuditEvent.detail)
                .where(AuditEvent.action.in_(RESUME_EVENTS), AuditEvent.at >= source.created_at)
                .order_by(AuditEvent.id)).all()
            silent = 0
            for action, detail in events:
                if (detail or {}).get("source_id") != source_id:
                    continue
                if action == "quarantined_file_retried":  # taken in again: a fresh start
                    silent = 0
                else:
                    silent += 1 if action == "source_resumed" else -1
            if silent >= MAX_SILENT_RESUMES:
                give_up.append(source_id)
                continue
            audit(session, "source_resumed", source_id=source_id)
            keep.append(source_id)
    for source_id in give_up:
        quarantine_source(source_id, "processing_stopped", (
            f"processing stopped {MAX_SILENT_RESUMES} times before the file was split into "
            "letters, not by an outage (the worker may have died on it, or a step kept "
            "failing: see its runs in the Prefect UI). Take it in again to retry."))
    return keep


def note_interrupted(source_id: str) -> None:
    """A run stopped on this file by an outage: not a resume that counts against it."""
    with session_scope() as session:
        audit(session, "source_interrupted", source_id=source_id)


def rasterise_source(source_id: str) -> list[dict]:
    """Render every page at the OCR resolution into the blob store and classify it.

    Returns [{"source_page", "key", "kind"}]; an unreadable file is quarantined and
    returns [].
    """
    settings = get_settings()
    with session_scope() as session:
        source = session.get(SourceFile, source_id)
        if source.status in {SourceStatus.rasterised, SourceStatus.split, SourceStatus.done} \
                and source.pages_info:
            return list(source.pages_info)
        if source.status == SourceStatus.quarantined:
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
        # The file's limits (pages, pixels per page) are raster's, from the settings.
        raster.count_pages(path)
        for number, img in enumerate(raster.iter_pages(path, dpi=settings.ocr_dpi), start=1):
            key = f"sources/{source_id}/page-{number:04d}{PAGE_SUFFIX}"
            store.put(key, encode_page(img), PAGE_MEDIA_TYPE)
            info.append({"source_page": number, "key": key, "kind": classify_page(img)})
    except LetterbridgeInputError as exc:
        path.unlink(missing_ok=True)
        quarantine_source(source_id, exc.code, exc.reason)
        return []
    path.unlink(missing_ok=True)
    if not info:
        quarantine_source(source_id, "empty_file", "the file has no pages")
        return []
    with session_scope() as session:
        source = session.get(SourceFile, source_id)
        source.page_count = len(info)
        source.pages_info = info
        source.status = SourceStatus.rasterised
    return info


def split_source(source_id: str) -> list[str]:
    """Cut the file's pages into mail items (separators, envelopes, blank backs).

    Only a file whose pages were all rendered is split: "no letter in it" is a verdict on
    the file, never on a rasterising step that failed for another reason.
    """
    with session_scope() as session:
        source = session.get(SourceFile, source_id)
        if source.status == SourceStatus.quarantined:
            return []
        existing = session.scalars(
            select(MailItem.id).where(MailItem.source_id == source_id)
            .order_by(MailItem.first_source_page)
        ).all()
        if source.status in {SourceStatus.split, SourceStatus.done}:
            return list(existing)
        if source.status != SourceStatus.rasterised or not source.pages_info:
            raise NotReady(f"source {source_id} is {source.status}, not rasterised")
        by_page = {p["source_page"]: p for p in source.pages_info}
        groups = split_run([PageInfo(p["source_page"], p["kind"]) for p in source.pages_info])
        if not groups:
            source.status = SourceStatus.done
            item = MailItem(source_id=source_id, first_source_page=1,
                            status=ItemStatus.quarantined,
                            review_reasons=[ReviewReason.no_content],
                            quarantine_reason=ReviewReason.no_content.label, stage=Stage.done)
            session.add(item)
            session.flush()
            audit(session, "quarantined", item_id=item.id, code=ReviewReason.no_content)
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
        source.status = SourceStatus.split
        return item_ids


def finish_source(source_id: str) -> None:
    with session_scope() as session:
        source = session.get(SourceFile, source_id)
        if source.status == SourceStatus.split:
            source.status = SourceStatus.done
