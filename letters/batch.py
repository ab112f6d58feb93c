"""A batch of files as a whole: what is finished, what failed, what the progress bar shows."""

from __future__ import annotations

from sqlalchemy import func, select

from letters.states import ReviewReason, Stage
from storage.db import audit, session_scope
from storage.models import ItemStatus, MailItem, Page, PageKind, SourceFile, SourceStatus


def item_done(item_id: str) -> bool:
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        return item is None or item.stage == Stage.done


def mark_failed(item_id: str, *, outage: bool = False) -> None:
    """An item whose flow failed waits in the queue, visibly, rather than staying in
    `processing`; it can't be released until it is processed again (`letters.release`).

    A run stopped by an outage around it (the blob store, the database: `storage.outages`)
    is audited as `processing_interrupted`, which does not count toward the failed runs after
    which recovery leaves a letter to a person: an outage of any length gives no letter up."""
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        if item is None or item.stage == Stage.done:
            return
        item.status = ItemStatus.needs_review
        if ReviewReason.processing_failed not in item.review_reasons:
            item.review_reasons = [*item.review_reasons, ReviewReason.processing_failed]
        audit(session, "processing_interrupted" if outage else "processing_failed",
              item_id=item_id, stage=item.stage)


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
    """(pages read, pages to read) for a batch: what the progress bar shows.

    Only pages that will be read count: blank backs and separator sheets are not, and a
    file that was quarantined drops out of the total.
    """
    readable = (PageKind.letter, PageKind.envelope)
    with session_scope() as session:
        in_items = select(func.count(Page.id)).join(MailItem).where(
            MailItem.source_id.in_(source_ids), Page.kind.in_(readable))
        total = session.scalar(in_items) or 0
        done = session.scalar(in_items.where(Page.words_key != "")) or 0
        # Files not yet split: all their pages may still be letters.
        waiting = session.scalar(
            select(func.coalesce(func.sum(SourceFile.page_count), 0))
            .where(SourceFile.id.in_(source_ids),
                   SourceFile.status.in_((SourceStatus.received, SourceStatus.rasterised)))
        ) or 0
        return done, total + waiting
