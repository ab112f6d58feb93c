"""The pen pal's side: inbox, correspondence with each person, and the reply editor."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from postal import replies
from review_ui import access, queries
from review_ui.auth import DB, AnyUser, CurrentUser, Penpal, csrf_protect
from review_ui.web import PageNumber, redirect, render
from storage.db import audit
from storage.models import Inmate, ItemStatus, MailItem, Reply, ReplyStatus, Role

router = APIRouter(dependencies=[Depends(csrf_protect)])

INBOX_PAGE = 50
EDITABLE = (ReplyStatus.draft.value, ReplyStatus.returned_to_writer.value)



def _volunteer(user: CurrentUser) -> int:
    if user.volunteer_id is None:
        raise access.not_found()
    return user.volunteer_id


@router.get("/inbox")
def inbox(
    request: Request,
    user: Penpal,
    db: DB,
    page: PageNumber = 1,
) -> Response:
    if user.volunteer_id is None:
        return render(
            request,
            "penpal_inbox.html",
            new_total=0,
            unlinked=True,
            new=[],
            read=[],
            pages={},
            replies={},
            page=1,
            more=False,
        )
    page = max(1, page)
    # New letters first (the newest 50 are plenty for one sitting), then read ones by page.
    new = queries.inbox(db, user.volunteer_id, ItemStatus.released, limit=INBOX_PAGE)
    new_total = queries.count_items(db, user.volunteer_id, ItemStatus.released)
    read = queries.inbox(
        db, user.volunteer_id, ItemStatus.read, limit=INBOX_PAGE + 1, offset=(page - 1) * INBOX_PAGE
    )
    more = len(read) > INBOX_PAGE
    read = read[:INBOX_PAGE]
    ids = [i.id for i in new + read]
    return render(
        request,
        "penpal_inbox.html",
        unlinked=False,
        new=new,
        new_total=new_total,
        read=read,
        pages=queries.page_counts(db, ids, queries.LETTER_KINDS),
        replies=queries.replies_by_item(db, user.volunteer_id, ids),
        page=page,
        more=more,
    )


@router.get("/correspondence")
def pen_pals(
    request: Request,
    user: Penpal,
    db: DB,
) -> Response:
    matches = queries.my_matches(db, _volunteer(user))
    return render(request, "penpal_pen_pals.html", matches=matches)


@router.get("/correspondence/{inmate_id}")
def thread(
    request: Request,
    inmate_id: int,
    user: Penpal,
    db: DB,
) -> Response:
    volunteer_id = _volunteer(user)
    entries = queries.correspondence(db, volunteer_id, inmate_id)
    if not entries and not queries.has_match(db, volunteer_id, inmate_id):
        raise access.not_found()
    inmate = db.get(Inmate, inmate_id)
    audit(db, "correspondence_viewed", actor=user.email, inmate_id=inmate_id)
    db.commit()
    return render(
        request,
        "penpal_thread.html",
        inmate=inmate,
        entries=entries,
        may_write=queries.has_match(db, volunteer_id, inmate_id),
    )


# --- replies -------------------------------------------------------------------------


def _reply_target(
    db: Session,
    user: CurrentUser,
    item_id: str,
    inmate_id: int | None,
) -> tuple[MailItem | None, int]:
    """Which letter (if any) and which person a new reply answers; 404 unless they are yours."""
    volunteer_id = _volunteer(user)
    item = None
    if item_id:
        item = access.item_for(db, user, item_id)
        if item.inmate_id is None:
            raise access.not_found()
        inmate_id = item.inmate_id
    if inmate_id is None or not queries.has_match(db, volunteer_id, inmate_id):
        raise access.not_found()
    return item, inmate_id


@router.get("/replies")
def my_replies(
    request: Request,
    user: Penpal,
    db: DB,
) -> Response:
    rows = list(
        db.scalars(
            select(Reply)
            .where(Reply.volunteer_id == _volunteer(user))
            .options(joinedload(Reply.inmate))
            .order_by(Reply.updated_at.desc())
            .limit(200)
        )
    )
    return render(request, "penpal_replies.html", replies=rows)


@router.get("/replies/new")
def new_reply(
    request: Request,
    user: Penpal,
    db: DB,
    item_id: str = "",
    inmate_id: int | None = None,
) -> Response:
    item, inmate_id = _reply_target(db, user, item_id, inmate_id)
    if item is not None:
        existing = queries.replies_by_item(db, user.volunteer_id, [item.id]).get(item.id)
        if existing is not None:
            return redirect(request, f"/replies/{existing.id}")
    return render(
        request,
        "penpal_reply.html",
        reply=None,
        item=item,
        inmate=db.get(Inmate, inmate_id),
        editable=True,
    )


@router.get("/replies/{reply_id}")
def show_reply(
    request: Request,
    reply_id: str,
    user: AnyUser,
    db: DB,
) -> Response:
    reply = access.reply_for(db, user, reply_id)
    if user.role != Role.penpal:
        return render(request, "staff_reply.html", reply=reply)
    return render(
        request,
        "penpal_reply.html",
        reply=reply,
        item=reply.item,
        inmate=reply.inmate,
        editable=reply.status in EDITABLE,
    )


def _save(
    db: Session,
    user: CurrentUser,
    *,
    reply_id: str,
    item_id: str,
    inmate_id: int | None,
    text: str,
) -> Reply:
    if reply_id:
        reply = access.reply_for(db, user, reply_id)
        if reply.status not in EDITABLE:
            raise access.not_found()
        return replies.save_draft(
            db, volunteer_id=user.volunteer_id, text=text, reply_id=reply.id, actor=user.email
        )
    item, inmate_id = _reply_target(db, user, item_id, inmate_id)
    return replies.save_draft(
        db,
        volunteer_id=user.volunteer_id,
        text=text,
        item_id=item.id if item else None,
        inmate_id=inmate_id,
        actor=user.email,
    )


def _optional_int(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


@router.post("/replies/autosave")
def autosave(
    user: Penpal,
    db: DB,
    reply_id: str = Form(""),
    item_id: str = Form(""),
    inmate_id: str = Form(""),
    text: str = Form(""),
) -> Response:
    """Called by the editor as the pen pal types; creates the draft on the first keystrokes."""
    try:
        reply = _save(
            db,
            user,
            reply_id=reply_id,
            item_id=item_id,
            inmate_id=_optional_int(inmate_id),
            text=text.replace("\r\n", "\n"),
        )
        db.commit()
    except replies.ReplyRefused as exc:
        db.rollback()
        return JSONResponse({"error": exc.reason}, status_code=400)
    saved = reply.updated_at
    # saved_at for older pages still open in a tab; the editor shows `saved_iso` in local time.
    return JSONResponse(
        {
            "reply_id": reply.id,
            "saved_at": saved.strftime("%H:%M:%S"),
            "saved_iso": saved.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


@router.post("/replies/save")
def save(
    request: Request,
    user: Penpal,
    db: DB,
    reply_id: str = Form(""),
    item_id: str = Form(""),
    inmate_id: str = Form(""),
    text: str = Form(""),
    action: str = Form("save"),
) -> Response:
    """The editor's buttons: save the draft, or save and submit it for mailing."""
    text = text.replace("\r\n", "\n")
    try:
        reply = _save(
            db,
            user,
            reply_id=reply_id,
            item_id=item_id,
            inmate_id=_optional_int(inmate_id),
            text=text,
        )
        db.commit()
    except replies.ReplyRefused as exc:
        db.rollback()
        # Show the editor again with what was typed: nothing written is lost.
        if reply_id:
            existing = access.reply_for(db, user, reply_id)
            item, inmate = existing.item, existing.inmate
        else:
            existing = None
            item, inmate_pk = _reply_target(db, user, item_id, _optional_int(inmate_id))
            inmate = db.get(Inmate, inmate_pk)
        return render(
            request,
            "penpal_reply.html",
            status_code=400,
            reply=existing,
            item=item,
            inmate=inmate,
            editable=True,
            text=text,
            error=f"Not saved: {exc.reason}",
        )
    if action != "submit":
        return redirect(request, f"/replies/{reply.id}", "Draft saved.")
    try:
        replies.submit(db, reply.id, actor=user.email)
        db.commit()
    except replies.ReplyRefused as exc:
        db.rollback()
        return redirect(
            request, f"/replies/{reply.id}", f"Not submitted yet: {exc.reason}", error=True
        )
    return redirect(
        request,
        f"/replies/{reply.id}",
        "Submitted. The mailroom checks it, then it is printed and mailed.",
    )
