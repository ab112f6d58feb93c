"""A letter at /letters/{id} and its page images: one address, what you see depends on your role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from letters import mailroom, release
from ocr.images import browser_png
from review_ui import access, page_images, queries
from review_ui.auth import DB, AnyUser, CurrentUser, Staff
from review_ui.web import BadRequest, render
from storage.blobs import BlobNotFound, get_blob_store
from storage.db import audit
from storage.models import ItemStatus, Page, PageKind, Reply, Role

router = APIRouter()
PRIVATE = "private, no-store"  # letters: no shared caches, and the browser asks again after an edit


def image_response(key: str) -> Response:
    try:
        data = get_blob_store().get(key)
    except BlobNotFound:
        raise access.not_found() from None
    data = browser_png(data)  # a stored page image (ocr.images.encode_page) as PNG
    if data.startswith(b"\x89PNG"):
        media_type = "image/png"
    elif data.startswith(b"\xff\xd8"):
        media_type = "image/jpeg"
    elif data[:4] in (b"II*\x00", b"MM\x00*"):
        media_type = "image/tiff"
    else:
        media_type = "application/octet-stream"
    return Response(data, media_type=media_type, headers={"Cache-Control": PRIVATE})


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
        # Transcriptions start from the machine reading, redacted for every staff role alike.
        readings={p.index: mailroom.machine_reading(p) for p in item.pages
                  if p.kind != PageKind.envelope and p.words_key},
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


@router.get("/letters/{item_id}/pages/{n}.jpg")
def screen_image(
    item_id: str,
    n: str,
    user: AnyUser,
    db: DB,
    w: Annotated[int, Query(ge=1, le=100_000)] = page_images.WIDTHS[0],
) -> Response:
    """The same image as /pages/{n}.png (same checks, same key), as a JPEG `w` px wide.

    Made from that image only: a pen pal's copy comes from the delivered, redacted page."""
    if w not in page_images.WIDTHS:
        raise BadRequest(f"w must be one of {', '.join(map(str, page_images.WIDTHS))}")
    item = access.item_for(db, user, item_id)
    page = access.page_of(db, item, access.page_index(n))
    try:
        data = page_images.screen_image(access.delivered_key(user, page), w)
    except (BlobNotFound, page_images.NotAnImage):
        raise access.not_found() from None
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": PRIVATE})


@router.get("/letters/{item_id}/letter.pdf")
def letter_pdf(
    item_id: str,
    user: AnyUser,
    db: DB,
) -> Response:
    """The redacted letter as one PDF (the delivered pages, searchable), to keep or print.

    Who may have it is who may see the page images: a pen pal only a released or read letter
    routed to them."""
    item = access.item_for(db, user, item_id)
    if not item.delivered_pdf_key:
        raise access.not_found()
    try:
        data = get_blob_store().get(item.delivered_pdf_key)
    except BlobNotFound:
        raise access.not_found() from None
    audit(db, "letter_pdf_downloaded", actor=user.email, item_id=item.id, role=user.role)
    db.commit()
    day = (item.released_at or item.created_at).strftime("%Y-%m-%d")
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Cache-Control": PRIVATE,
            "Content-Disposition": f'attachment; filename="letter-{day}.pdf"',
        },
    )
