"""The mailroom: upload scans, work the review queue, fix a letter, release it, approve replies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from letters import mailroom
from postal import replies
from review_ui import access, queries, uploads
from review_ui.auth import DB, CurrentUser, Staff, csrf_protect
from review_ui.web import redirect, render
from storage.db import audit
from storage.models import Inmate, MailItem, Page, Redaction, Reply

router = APIRouter(dependencies=[Depends(csrf_protect)])
QUEUE_PAGE = 100  # the oldest ones; the rest come as these are done




def _domain_errors() -> tuple[type[Exception], ...]:
    """Refusals the domain actions raise; their messages are written for people."""
    return (mailroom.ActionRefused, mailroom.ItemNotFound, replies.ReplyRefused)


def _act(
    request: Request,
    db: Session,
    back: str,
    done: str,
    action: Callable[[], object],
) -> Response:
    """Run a domain action in this request's transaction; show its refusal instead of a 500."""
    try:
        action()
        db.commit()
    except _domain_errors() as exc:
        db.rollback()
        message = getattr(exc, "reason", None) or str(exc) or exc.__class__.__name__
        return redirect(request, back, f"Not done: {message}", error=True)
    return redirect(request, back, done)


def _item(db: Session, user: CurrentUser, item_id: str) -> MailItem:
    return access.item_for(db, user, item_id)


# --- queue ---------------------------------------------------------------------------


@router.get("/mailroom")
def queue(
    request: Request,
    user: Staff,
    db: DB,
) -> Response:
    items = queries.review_queue(db, limit=QUEUE_PAGE)
    return render(
        request,
        "staff_queue.html",
        items=items,
        pages=queries.page_counts(db, [i.id for i in items]),
        counts=queries.status_counts(db),
        replies_waiting=queries.count_submitted_replies(db),
        queue_total=queries.queue_size(db),
    )


@router.get("/mailroom/next")
def next_letter(
    request: Request,
    user: Staff,
    db: DB,
    after: str = "",
) -> Response:
    current = db.get(MailItem, after) if after else None
    next_id = queries.next_in_queue(db, current)
    if next_id is None:
        return redirect(request, "/mailroom", "The queue is empty.")
    return redirect(request, f"/letters/{next_id}")


# --- upload --------------------------------------------------------------------------


@router.get("/mailroom/upload")
def upload_form(request: Request, user: Staff) -> Response:
    return render(request, "staff_upload.html")


@router.post("/mailroom/upload")
def upload(
    request: Request,
    user: Staff,
    db: DB,
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    wants_json = "application/json" in request.headers.get("accept", "")
    files = [f for f in files or [] if f.filename]
    try:
        if not files:
            raise uploads.UploadRefused("choose at least one file")
        for f in files:
            uploads.check_name(uploads.safe_filename(f.filename or ""))
        token, folder = uploads.new_upload_dir()
        max_bytes = request.app.state.settings.max_file_bytes
        saved = [
            uploads.save_stream(folder, uploads.safe_filename(f.filename or ""), f.file, max_bytes)
            for f in files
        ]
    except uploads.UploadRefused as exc:
        if wants_json:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return render(request, "staff_upload.html", status_code=400, error=str(exc))
    uploads.write_manifest(folder, user.email, saved)
    uploads.start_ingest(token, folder, user.email, saved)
    audit(db, "scans_uploaded", actor=user.email, upload=token, files=len(saved))
    db.commit()
    url = f"/mailroom/uploads/{token}"
    if wants_json:
        return JSONResponse({"token": token, "url": url, "status_url": f"{url}/status"})
    return redirect(request, url)


@router.get("/mailroom/uploads/{token}")
def upload_progress(
    request: Request,
    token: str,
    user: Staff,
    db: DB,
) -> Response:
    status = uploads.upload_status(db, token)
    if status is None:
        raise access.not_found()
    return render(request, "staff_upload_progress.html", status=status)


@router.get("/mailroom/uploads/{token}/status")
def upload_progress_json(
    token: str,
    user: Staff,
    db: DB,
) -> Response:
    status = uploads.upload_status(db, token)
    if status is None:
        raise access.not_found()
    return JSONResponse(status, headers={"Cache-Control": "no-store"})


# --- quarantined files -----------------------------------------------------------------


@router.get("/mailroom/quarantine")
def quarantine(request: Request, user: Staff, db: DB) -> Response:
    return render(request, "staff_quarantine.html", files=queries.quarantined_files(db))


@router.post("/mailroom/quarantine/{source_id}/retry")
def retry_quarantined(request: Request, source_id: str, user: Staff, db: DB) -> Response:
    """Take the file in again: a new upload of the kept original, so its progress shows."""
    try:
        name, data = mailroom.retry_quarantined(db, source_id, actor=user.email)
    except _domain_errors() as exc:
        db.rollback()
        return redirect(request, "/mailroom/quarantine", f"Not done: {exc}", error=True)
    token, folder = uploads.new_upload_dir()
    saved = uploads.save_bytes(folder, uploads.safe_filename(name), data)
    uploads.write_manifest(folder, user.email, [saved])
    db.commit()
    uploads.start_ingest(token, folder, user.email, [saved])
    return redirect(request, f"/mailroom/uploads/{token}", "Taken in again.")


@router.post("/mailroom/quarantine/{source_id}/delete")
def delete_quarantined(request: Request, source_id: str, user: Staff, db: DB,
                       confirm: str = Form("")) -> Response:
    if not confirm:
        return redirect(request, "/mailroom/quarantine",
                        "Tick the box to confirm: the file is deleted for good.", error=True)
    return _act(request, db, "/mailroom/quarantine", "File deleted.",
                lambda: mailroom.delete_quarantined(db, source_id, actor=user.email))


# --- fixing a letter -----------------------------------------------------------------


@router.post("/letters/{item_id}/redactions")
def add_redaction(
    request: Request,
    item_id: str,
    user: Staff,
    db: DB,
    page_index: int = Form(...),
    x0: int = Form(...),
    y0: int = Form(...),
    x1: int = Form(...),
    y1: int = Form(...),
) -> Response:
    item = _item(db, user, item_id)
    access.page_of(db, item, page_index)
    box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    # add_redaction re-burns the page and the delivered PDF itself.
    return _act(
        request,
        db,
        f"/letters/{item.id}#page-{page_index}",
        "Box added.",
        lambda: mailroom.add_redaction(
            db, item.id, page_index, box, actor=user.email, kind="manual"
        ),
    )


@router.post("/letters/{item_id}/redactions/{redaction_id}/remove")
def remove_redaction(
    request: Request,
    item_id: str,
    redaction_id: int,
    user: Staff,
    db: DB,
) -> Response:
    item = _item(db, user, item_id)
    found = db.execute(
        select(Redaction.id, Page.index)
        .join(Page, Page.id == Redaction.page_id)
        .where(Redaction.id == redaction_id, Page.item_id == item.id, Redaction.active.is_(True))
    ).first()
    if found is None:
        raise access.not_found()

    return _act(
        request,
        db,
        f"/letters/{item.id}#page-{found.index}",
        "Box removed.",
        lambda: mailroom.remove_redaction(db, redaction_id, actor=user.email),
    )


@router.post("/letters/{item_id}/pages/{n}/transcription")
def correct_transcription(
    request: Request,
    item_id: str,
    n: int,
    user: Staff,
    db: DB,
    text: str = Form(""),
) -> Response:
    item = _item(db, user, item_id)
    access.page_of(db, item, n)
    return _act(
        request,
        db,
        f"/letters/{item.id}#page-{n}",
        "Transcription saved.",
        lambda: mailroom.correct_transcription(
            db, item.id, n, text.replace("\r\n", "\n"), actor=user.email
        ),
    )


@router.post("/letters/{item_id}/sender")
def set_sender(
    request: Request,
    item_id: str,
    user: Staff,
    db: DB,
    inmate_id: int = Form(...),
    confirm_mismatch: str = Form(""),
    sender_q: str = Form(""),
) -> Response:
    item = _item(db, user, item_id)
    if db.get(Inmate, inmate_id) is None:
        raise access.not_found()
    try:
        mailroom.set_sender(db, item.id, inmate_id, actor=user.email,
                            confirm_mismatch=bool(confirm_mismatch))
        db.commit()
    except _domain_errors() as exc:
        db.rollback()
        # Back to the same search, so the person confirms without looking the writer up again.
        search = f"?{urlencode({'sender_q': sender_q.strip()})}" if sender_q.strip() else ""
        return redirect(request, f"/letters/{item.id}{search}#sender", f"Not done: {exc}",
                        error=True)
    return redirect(request, f"/letters/{item.id}#sender", "Sender changed.")


@router.post("/letters/{item_id}/release")
def release(
    request: Request,
    item_id: str,
    user: Staff,
    db: DB,
    acknowledge: str = Form(""),
) -> Response:
    item = _item(db, user, item_id)
    try:
        mailroom.release_item(db, item.id, actor=user.email, acknowledge=bool(acknowledge))
        db.commit()
    except _domain_errors() as exc:
        if getattr(exc, "keep", False):
            db.commit()  # the pages' new check results, shown on the letter
        else:
            db.rollback()
        message = getattr(exc, "reason", None) or str(exc) or exc.__class__.__name__
        return redirect(request, f"/letters/{item.id}", f"Not released: {message}", error=True)
    return redirect(request, f"/mailroom/next?after={item.id}", "Released.")


@router.post("/letters/{item_id}/hold")
def hold(
    request: Request,
    item_id: str,
    user: Staff,
    db: DB,
    note: str = Form(""),
) -> Response:
    item = _item(db, user, item_id)
    note = note.strip()
    if not note:
        return redirect(
            request, f"/letters/{item.id}#hold", "Write a note: what is wrong?", error=True
        )
    try:
        mailroom.hold_item(db, item.id, note, actor=user.email)
        db.commit()
    except _domain_errors() as exc:
        db.rollback()
        return redirect(request, f"/letters/{item.id}", f"Not done: {exc}", error=True)
    return redirect(request, f"/mailroom/next?after={item.id}", "Sent back to the queue.")


@router.get("/roster/search")
def roster_search(
    user: Staff,
    db: DB,
    q: str = "",
) -> Response:
    hits = queries.search_roster(db, q)
    return JSONResponse(
        [
            {
                "inmate_id": h.inmate.id,
                "name": h.inmate.name,
                "inmate_number": h.inmate.inmate_number,
                "facility": h.facility,
                "status": h.inmate.status,
                "volunteers": h.volunteers,
            }
            for h in hits
        ]
    )


# --- replies waiting for approval ----------------------------------------------------


@router.get("/mailroom/replies")
def replies_queue(
    request: Request,
    user: Staff,
    db: DB,
) -> Response:
    return render(request, "staff_replies.html", replies=queries.submitted_replies(db))


def _staff_reply(db: Session, reply_id: str) -> Reply:
    reply = db.get(Reply, reply_id)
    if reply is None:
        raise access.not_found()
    return reply


@router.post("/replies/{reply_id}/approve")
def approve_reply(
    request: Request,
    reply_id: str,
    user: Staff,
    db: DB,
) -> Response:
    reply = _staff_reply(db, reply_id)
    try:
        replies.approve(db, reply.id, actor=user.email)
    except replies.ReplyRefused as exc:
        db.commit()  # a refusal is recorded too: the problems found and an audit event
        return redirect(request, f"/replies/{reply.id}", f"Not approved: {exc.reason}", error=True)
    db.commit()
    return redirect(request, "/mailroom/replies", "Reply approved for printing.")


@router.post("/replies/{reply_id}/return")
def return_reply(
    request: Request,
    reply_id: str,
    user: Staff,
    db: DB,
    note: str = Form(""),
) -> Response:
    reply = _staff_reply(db, reply_id)
    if not note.strip():
        return redirect(request, f"/replies/{reply.id}", "Write a note for the writer.", error=True)
    return _act(
        request,
        db,
        "/mailroom/replies",
        "Reply returned to its writer.",
        lambda: replies.return_to_writer(db, reply.id, note.strip(), actor=user.email),
    )
