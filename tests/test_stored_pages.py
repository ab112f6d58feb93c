"""Pages stored before page images were zstd pixels (PNG) keep working, and leave nothing behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stored_items import new_item

from letters.redaction import rebuild_delivery
from ocr.images import decode_image, encode_png, is_page_format
from ocr.types import OcrPage
from storage.blobs import get_blob_store
from storage.db import session_scope
from storage.models import MailItem, Page, PageKind, Redaction


def test_a_page_stored_as_png_is_burned_again_in_place(lb_home: Path) -> None:
    """GIVEN a letter page stored as PNG (clean and delivered), and a box a person adds WHEN its
    delivery is rebuilt THEN the delivered image is burned under the box and written where the
    old one was (same key, now in the stored format): no copy of the page before the box is
    left in the blob store."""
    store = get_blob_store()
    page_img = np.full((200, 600), 255, np.uint8)
    page_img[80:120, 100:300] = 40  # the detail the new box must hide
    with session_scope() as session:
        item = new_item(session)
        prefix = f"items/{item.id}"
        words = OcrPage(width=600, height=200, confidence=95.0)
        page = Page(item_id=item.id, index=1, kind=PageKind.letter, stage="ocr", width=600,
                    height=200,
                    clean_key=store.put(f"{prefix}/page-1-clean.png", encode_png(page_img)),
                    redacted_key=store.put(f"{prefix}/page-1-delivered.png",
                                           encode_png(page_img)),
                    words_key=store.put(f"{prefix}/page-1-words.json", words.to_json().encode()))
        session.add(page)
        session.flush()
        session.add(Redaction(page_id=page.id, kind="phone", x0=100, y0=80, x1=300, y1=120,
                              made_by="admin@example.org"))
        item_id, old_key = item.id, page.redacted_key
    with session_scope() as session:
        rebuild_delivery(session, session.get(MailItem, item_id))
    with session_scope() as session:
        page = session.get(MailItem, item_id).pages[0]
        assert page.redacted_key == old_key
        data = store.get(page.redacted_key)
    assert is_page_format(data)
    burned = decode_image(data)
    assert burned[80:120, 100:300].max() == 0
    delivered = [k for k in store.list(f"items/{item_id}/") if "delivered" in k]
    assert delivered == [old_key]
