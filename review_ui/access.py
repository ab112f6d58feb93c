"""Who may see which letter, page image and reply. Everything not yours is a 404."""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from review_ui.auth import CurrentUser
from storage.models import ItemStatus, MailItem, Page, PageKind, Reply, Role

PENPAL_STATUSES = (ItemStatus.released.value, ItemStatus.read.value)
PENPAL_PAGE_KINDS = (PageKind.letter.value, PageKind.blank.value)  # never the envelope


def not_found() -> HTTPException:
    return HTTPException(status_code=404)


def item_for(db: Session, user: CurrentUser, item_id: str) -> MailItem:
    """The item if this user may open it. Pen pals: only released letters routed to them."""
    item = db.get(MailItem, item_id)
    if item is None:
        raise not_found()
    if user.role == Role.penpal and not penpal_may_see(user, item):
        raise not_found()
    if user.role not in {Role.penpal, Role.mailroom, Role.admin}:
        raise not_found()
    return item


def penpal_may_see(user: CurrentUser, item: MailItem) -> bool:
    return (
        user.volunteer_id is not None
        and item.volunteer_id == user.volunteer_id
        and item.status in PENPAL_STATUSES
    )


def page_index(n: str) -> int:
    """A page number from a URL; anything that isn't one is a page that doesn't exist."""
    if not n.isdigit() or len(n) > 5:
        raise not_found()
    return int(n)


def page_of(db: Session, item: MailItem, index: int) -> Page:
    page = db.scalar(select(Page).where(Page.item_id == item.id, Page.index == index))
    if page is None:
        raise not_found()
    return page


def delivered_key(user: CurrentUser, page: Page) -> str:
    """Blob key of the image served at /letters/{id}/pages/{n}.png for this user.

    Pen pals get the delivered (redacted) image of a letter page and nothing else;
    the mailroom and admins get the envelope's clean image, and delivered letter pages.
    """
    if user.role == Role.penpal:
        if page.kind not in PENPAL_PAGE_KINDS or not page.redacted_key:
            raise not_found()
        return page.redacted_key
    if page.kind == PageKind.envelope:
        key = page.clean_key
    else:
        key = page.redacted_key
    if not key:
        raise not_found()
    return key


def reply_for(db: Session, user: CurrentUser, reply_id: str) -> Reply:
    reply = db.get(Reply, reply_id)
    if reply is None:
        raise not_found()
    if user.role == Role.penpal and (
        user.volunteer_id is None or reply.volunteer_id != user.volunteer_id
    ):
        raise not_found()
    return reply
