"""A letter at /letters/{id} and its page images: one address, what you see depends on your role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from letters import mailroom, release
from review_ui import access, queries
from review_ui.auth import DB, AnyUser, CurrentUser, Staff
from review_ui.web import render
from storage.blobs import BlobNotFound, get_blob_store
from storage.db import audit
from storage.models import ItemStatus, Page, Reply, Role

router = APIRouter()



def image_response(key: str) -> Response:
    try:
        data = get_blob_store().get(key)
    except BlobNotFound:
        raise access.not_found() from None
    if data.startswith(b"\x89PNG"):
        media_type = "image/png"
    elif data.startswith(b"\xff\xd8"):
        media_type = "image/jpeg"
    elif data[:4] in (b"II*\x00", b"MM\x00*"):
        media_type = "image/tiff"
    else:
        media_type = "application/octet-stream"
    # Letters are private: no shared caches, and the browser asks again after an edit.
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, no-store"})


@router.get("/letters/{item_id}")
def letter(
    request: Request,
    item_id: str,
    user: AnyUser,
    db: DB,
    sender_q: str = "",
) -> Response:
    if user.role == Role.penpal:
        return _penpal_letter(request, db, user, item_id)
    return _staff_letter(request, db, user, item_id, sender_q)


def _penpal_letter(request: Request, db: Session, user: CurrentUser, item_id: str) -> Response:
    item = access.item_for(db, user, item_id)
    if item.status == ItemStatus.released:
        mailroom.mark_read(db, item.id, actor=user.email)
    audit(db, "letter_viewed", actor=user.email, item_id=item.id, role=user.role)
    db.commit()
    pages = [p for p in item.pages if p.kind in access.PENPAL_PAGE_KINDS and p.redacted_key]
    reply = queries.replies_by_item(db, user.volunteer_id, [item.id]).get(item.id)
    return render(
        request, "penpal_letter.html", item=item, pages=pages, reply=reply, inmate=item.inmate
    )


def _staff_letter(
    request: Request,
    db: Session,
    user: CurrentUser,
    item_id: str,
    sender_q: str,
) -> Response:
    item = queries.staff_item(db, item_id)
    if item is None:
        raise access.not_found()
    audit(db, "letter_viewed", actor=user.email, item_id=item.id, role=user.role)
    db.commit()
    hits = queries.search_roster(db, sender_q) if sender_q else []
    mismatch = {hit.inmate.id: mailroom.sender_check(db, item.id, hit.inmate.id).disagrees
                for hit in hits}
    replies = list(db.scalars(select(Reply).where(Reply.item_id == item.id)))
    return render(
        request,
        "staff_letter.html",
        item=item,
        pages=item.pages,
        sender_q=sender_q,
        hits=hits,
        mismatch=mismatch,
        replies=replies,
        blockers=release.release_blockers(item),
        needs_ack=release.needs_acknowledgement(item),
        page_problems=queries.page_problems(db, item.id),
        is_admin=user.role == Role.admin,
        in_queue=item.status in queries.QUEUE_STATUSES,
        next_id=queries.next_in_queue(db, item),
    )


@router.get("/letters/{item_id}/pages/{n}.png")
def page_image(
    item_id: str,
    n: str,
    user: AnyUser,
    db: DB,
) -> Response:
    """The page as delivered (pen pals: letter pages only; staff: the envelope's clean image)."""
    item = access.item_for(db, user, item_id)
    page = access.page_of(db, item, access.page_index(n))
    return image_response(access.delivered_key(user, page))


@router.get("/letters/{item_id}/pages/{n}/clean.png")
def clean_image(
    item_id: str,
    n: str,
    user: Staff,
    db: DB,
) -> Response:
    """The upright clean image, under the redaction boxes the mailroom edits."""
    item = access.item_for(db, user, item_id)
    page: Page = access.page_of(db, item, access.page_index(n))
    if not page.clean_key:
        raise access.not_found()
    return image_response(page.clean_key)
