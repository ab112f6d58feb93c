"""A mail item as splitting leaves it, for tests that build their letters by hand."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from storage.models import MailItem, SourceFile


def new_item(session: Session) -> MailItem:
    """A fresh mail item of its own (done) source file, flushed so it has its id; add its
    pages yourself."""
    source = SourceFile(sha256=uuid.uuid4().hex * 2, filename="scan.pdf", size=1,
                        blob_key="originals/a", status="done")
    session.add(source)
    session.flush()
    item = MailItem(source_id=source.id, first_source_page=1, status="processing")
    session.add(item)
    session.flush()
    return item
