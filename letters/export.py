"""`letterbridge export`: each mail item as item.json plus its page images as delivered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ocr.images import browser_png
from storage.blobs import get_blob_store
from storage.db import session_scope
from storage.models import MailItem, PageKind


def item_document(item: MailItem) -> dict[str, Any]:
    """The fixed export format (shared/ARCHITECTURE.md), plus a few extra keys."""
    pages = []
    for page in item.pages:
        pages.append({
            "index": page.index,
            "kind": page.kind,
            "text": page.text,
            "redacted_text": page.redacted_text if page.kind == PageKind.letter else "",
            "image": f"page-{page.index}.png",
            "confidence": page.confidence,
            "needs_transcription": page.needs_transcription,
            "language": page.language,
            "redactions": [
                {"kind": r.kind, "box": r.box, "made_by": r.made_by}
                for r in page.redactions if r.active
            ],
        })
    sender = None
    if item.sender_name or item.sender_number or item.inmate is not None:
        sender = {
            "name": item.inmate.name if item.inmate else item.sender_name,
            "inmate_number": item.inmate.inmate_number if item.inmate else item.sender_number,
            "facility": (item.inmate.facility.name if item.inmate and item.inmate.facility
                         else item.sender_facility),
            "confidence": item.sender_confidence,
            "as_read": {"name": item.sender_name, "inmate_number": item.sender_number,
                        "facility": item.sender_facility},
        }
    return {
        "id": item.id,
        "sources": [item.source.filename],
        "status": item.status,
        "review_reasons": list(item.review_reasons),
        "quarantine_reason": item.quarantine_reason or None,
        "sender": sender,
        "routed_to": item.volunteer.email if item.volunteer else None,
        "match_reason": item.match_reason,
        "flags": list(item.flags),
        "language": item.language,
        "pages": pages,
    }


def delivered_image_key(item: MailItem, index: int) -> str | None:
    """Letter pages as a pen pal sees them; the envelope as the mailroom sees it."""
    for page in item.pages:
        if page.index == index:
            if page.kind == PageKind.letter:
                return page.redacted_key or None
            return page.clean_key or None
    return None


def export_item(session: Session, item: MailItem, out_dir: Path) -> None:
    folder = out_dir / item.id
    folder.mkdir(parents=True, exist_ok=True)
    store = get_blob_store()
    for page in item.pages:
        key = delivered_image_key(item, page.index)
        if key:
            (folder / f"page-{page.index}.png").write_bytes(browser_png(store.get(key)))
    (folder / "item.json").write_text(json.dumps(item_document(item), indent=2,
                                                 ensure_ascii=False))


def export_all(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    with session_scope() as session:
        for item in session.scalars(select(MailItem).order_by(MailItem.created_at,
                                                              MailItem.first_source_page)):
            export_item(session, item, out_dir)
            count += 1
    return count
