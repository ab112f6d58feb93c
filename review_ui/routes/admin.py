"""Admin: the dashboard, the roster and matching (facilities, people, volunteers, the waiting
list), users and password resets, the audit log, originals and unredacted text.

Every form answers with a redirect (post/redirect/get): a reload never sends it again, and
what happened is a one-time flash message. A refused form comes back with what was typed.
"""

from __future__ import annotations

import logging
import os
import smtplib
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.leases import unfinished_report
from postal import notify
from postal import roster as roster_edit
from review_ui import access, accounts, prefect_status, queries
from review_ui.auth import DB, Admin, csrf_protect
from review_ui.routes.letters import image_response
from review_ui.web import PageNumber, RowId, page_offset, parse_day, redirect, render
from storage.db import audit
from storage.models import (
    Facility,
    Inmate,
    ItemStatus,
    MailItem,
    Match,
    Role,
    User,
    Volunteer,
    utcnow,
)

log = logging.getLogger(__name__)
router = APIRouter(dependencies=[Depends(csrf_protect)])
PAGE = 100
AUDIT_PAGE = 50
LIST_PAGE = 50


def _optional_id(value: str) -> int | None:
    """A select's value: empty is none; anything but a row id is a form that can't be right."""
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise roster_edit.RosterError("that choice is not in the list")
    return int(value)


def _prefect_ui(settings) -> str:  # Settings
    return prefect_status.ui_base(os.environ.get("PREFECT_API_URL", ""), settings.prefect_ui_url)


@router.get("/admin")
def dashboard(
    request: Request,
    user: Admin,
    db: DB,
) -> Response:
    settings = request.app.state.settings
    return render(
        request,
        "admin_dashboard.html",
        board=queries.dashboard(db),
        # Files not yet split into letters are in no letter count: what waits, is being
        # processed, retries or failed for good, with the reason in words (ids only).
        unfinished=unfinished_report(limit=10),
        statuses=[s.value for s in ItemStatus],
        flow_runs=prefect_status.failed_flow_runs(settings.prefect_ui_url),
        prefect_ui=_prefect_ui(settings),
    )


# --- the roster: people --------------------------------------------------------------


@router.get("/admin/roster")
def roster(
    request: Request,
    user: Admin,
    db: DB,
    q: str = "",
    page: PageNumber = 1,
) -> Response:
    inmates, matches, total = queries.roster(db, q, PAGE, page_offset(page, PAGE))
    return render(
        request,
        "admin_roster.html",
        inmates=inmates,
        matches=matches,
        total=total,
        q=q,
        page=page,
        more=page * PAGE < total,
    )


def _inmate_page(
    request: Request, db: Session, inmate: Inmate | None, *, status_code: int = 200,
    form: dict | None = None, error: str | None = None,
) -> Response:
    volunteers, _ = queries.volunteers_with_load(db, active_only=True) if inmate else ([], 0)
    return render(
        request,
        "admin_inmate.html",
        status_code=status_code,
        inmate=inmate,
        form=form or {},
        facilities=queries.active_facilities(db),
        volunteers=volunteers,
        matches=queries.matches_of(db, inmate_id=inmate.id) if inmate else [],
        reasons=roster_edit.LEAVE_REASONS,
        error=error,
    )


def _letter(db: Session, item: str) -> MailItem | None:
    item = item.strip()
    return db.get(MailItem, item[:32]) if item else None


@router.get("/admin/inmates/new")
def new_inmate(request: Request, user: Admin, db: DB, item: str = "") -> Response:
    """`?item=<letter id>`: a new writer whose letter came in; the envelope fills the form and
    the next step is finding them a pen pal."""
    letter = _letter(db, item)
    form = ({"name": letter.sender_name, "inmate_number": letter.sender_number, "item": letter.id}
            if letter else {})
    return _inmate_page(request, db, None, form=form)


@router.get("/admin/inmates/{inmate_id}")
def inmate_page(request: Request, inmate_id: int, user: Admin, db: DB) -> Response:
    inmate = db.get(Inmate, inmate_id)
    if inmate is None:
        raise access.not_found()
    return _inmate_page(request, db, inmate)


@router.post("/admin/inmates")
@router.post("/admin/inmates/{inmate_id}")
def save_inmate(
    request: Request,
    user: Admin,
    db: DB,
    inmate_id: int | None = None,
    inmate_number: str = Form(""),
    name: str = Form(""),
    facility_id: str = Form(""),
    item: str = Form(""),
) -> Response:
    inmate = db.get(Inmate, inmate_id) if inmate_id is not None else None
    if inmate_id is not None and inmate is None:
        raise access.not_found()
    try:
        saved = roster_edit.save_inmate(
            db, actor=user.email, inmate_id=inmate_id, inmate_number=inmate_number, name=name,
            facility_id=_optional_id(facility_id),
        )
        db.commit()
    except roster_edit.RosterError as exc:
        db.rollback()
        form = {"inmate_number": inmate_number, "name": name, "facility_id": facility_id,
                "item": item}
        return _inmate_page(request, db, inmate, status_code=400, form=form,
                            error=f"Not saved: {exc}.")
    verb = "Added" if inmate is None else "Saved"
    letter = _letter(db, item) if inmate is None else None
    if letter is not None:  # came from a letter: on to choosing the pen pal
        query = urlencode({"inmate": saved.id, "item": letter.id})
        return redirect(request, f"/admin/waiting?{query}#find-pen-pal",
                        f"{verb} {saved.name}. Now find them a pen pal.")
    return redirect(request, f"/admin/inmates/{saved.id}", f"{verb} {saved.name}.")


def _roster_action(request: Request, db: Session, back: str, action, done: str) -> Response:
    try:
        action()
        db.commit()
    except roster_edit.RosterError as exc:
        db.rollback()
        return redirect(request, back, f"Not done: {exc}.", error=True)
    return redirect(request, back, done)


@router.post("/admin/inmates/{inmate_id}/transfer")
def transfer_inmate(
    request: Request, inmate_id: int, user: Admin, db: DB, facility_id: str = Form("")
) -> Response:
    back = f"/admin/inmates/{inmate_id}"
    try:
        target = _optional_id(facility_id)
    except roster_edit.RosterError as exc:
        return redirect(request, back, f"Not done: {exc}.", error=True)
    return _roster_action(
        request, db, back,
        lambda: roster_edit.transfer_inmate(db, inmate_id, target, actor=user.email),
        "Transfer recorded: replies go to the new facility from now on.",
    )


@router.post("/admin/inmates/{inmate_id}/leave")
def inmate_leaves(
    request: Request, inmate_id: int, user: Admin, db: DB, reason: str = Form("")
) -> Response:
    return _roster_action(
        request, db, f"/admin/inmates/{inmate_id}",
        lambda: roster_edit.release_inmate(db, inmate_id, reason, actor=user.email),
        "Recorded as left the program; their matches have ended.",
    )


@router.post("/admin/inmates/{inmate_id}/return")
def inmate_returns(request: Request, inmate_id: int, user: Admin, db: DB) -> Response:
    return _roster_action(
        request, db, f"/admin/inmates/{inmate_id}",
        lambda: roster_edit.return_inmate(db, inmate_id, actor=user.email),
        "Back in the program, on the waiting list for a pen pal.",
    )


# --- matching ------------------------------------------------------------------------


@router.post("/admin/matches")
def start_match(
    request: Request,
    user: Admin,
    db: DB,
    inmate_id: str = Form(""),
    volunteer_id: str = Form(""),
    item: str = Form(""),
    back: str = Form(""),
) -> Response:
    """Match a writer with a volunteer. From the waiting list, the result page offers to
    route the letter that brought the writer there (`item`)."""
    item = item.strip()[:32]
    from_waiting = back == "waiting"
    try:
        inmate_ref, volunteer_ref = _optional_id(inmate_id), _optional_id(volunteer_id)
        if inmate_ref is None or volunteer_ref is None:
            raise roster_edit.RosterError("choose a volunteer")
        match = roster_edit.start_match(db, inmate_ref, volunteer_ref, actor=user.email)
        db.commit()
    except roster_edit.RosterError as exc:
        db.rollback()
        if from_waiting:
            query = {"inmate": inmate_id} | ({"item": item} if item else {})
            back_url = f"/admin/waiting?{urlencode(query)}"
        else:
            back_url = f"/admin/inmates/{inmate_id}" if inmate_id.isdigit() else "/admin/roster"
        return redirect(request, back_url, f"Not matched: {exc}.", error=True)
    message = f"Matched {match.inmate.name} with {match.volunteer.display_name}."
    if from_waiting:
        query = {"matched": str(match.id)} | ({"item": item} if item else {})
        return redirect(request, f"/admin/waiting?{urlencode(query)}", message)
    return redirect(request, f"/admin/inmates/{match.inmate_id}", message)


@router.post("/admin/matches/{match_id}/end")
def end_match(
    request: Request, match_id: int, user: Admin, db: DB, back: str = Form("")
) -> Response:
    match = db.get(Match, match_id)
    if match is None:
        raise access.not_found()
    target = (f"/admin/volunteers/{match.volunteer_id}" if back == "volunteer"
              else f"/admin/inmates/{match.inmate_id}")
    return _roster_action(
        request, db, target, lambda: roster_edit.end_match(db, match_id, actor=user.email),
        "Match ended; the writer is back on the waiting list.",
    )


@router.get("/admin/waiting")
def waiting(
    request: Request,
    user: Admin,
    db: DB,
    page: PageNumber = 1,
    inmate: RowId | None = None,
    item: str = "",
    matched: RowId | None = None,
) -> Response:
    """Writers without a pen pal, the longest waiting first.

    The mailroom's "find this writer a pen pal" for an unrouted / no-match letter links here:
    `?inmate=<id>&item=<letter id>` opens the choice of volunteer for that writer, and
    `?item=<letter id>` alone (sender not known yet) offers the roster entries the envelope
    resembles, or adding the writer. After the match, `?matched=<match id>&item=<letter id>`
    offers to route the letter."""
    rows, total = queries.waiting_list(db, LIST_PAGE, page_offset(page, LIST_PAGE))
    # Loaded once and held: the session's identity map keeps rows only while referenced.
    chosen_inmate = db.get(Inmate, inmate) if inmate is not None else None
    if inmate is not None and chosen_inmate is None:
        raise access.not_found()
    chosen = queries.waiting_entry(db, chosen_inmate) if chosen_inmate is not None else None
    match = db.get(Match, matched) if matched is not None else None
    letter = _letter(db, item)
    candidates = []
    if letter is not None and inmate is None and match is None:
        clue = letter.sender_number or letter.sender_name
        candidates = queries.search_roster(db, clue, limit=10) if clue else []
    volunteers, _ = queries.volunteers_with_load(db, active_only=True) if chosen else ([], 0)
    return render(
        request,
        "admin_waiting.html",
        rows=rows,
        total=total,
        page=page,
        more=page * LIST_PAGE < total,
        chosen=chosen,
        chosen_inmate=chosen_inmate,
        volunteers=volunteers,
        match=match,
        letter=letter,
        candidates=candidates,
    )


# --- facilities ----------------------------------------------------------------------

FACILITY_FORM = ("name", "address_line", "city", "state", "zip", "system", "notes")


def _facility_page(request: Request, db: Session, facility: Facility | None, *,
                   status_code: int = 200, form: dict | None = None, error: str | None = None,
                   page: int = 1) -> Response:
    rows, total = queries.facilities(db, limit=LIST_PAGE, offset=page_offset(page, LIST_PAGE))
    return render(
        request, "admin_facilities.html", status_code=status_code, facility=facility,
        form=form or ({k: getattr(facility, k) for k in FACILITY_FORM} if facility else {}),
        rows=rows, total=total, page=page, more=page * LIST_PAGE < total, error=error,
    )


@router.get("/admin/facilities")
def facilities(request: Request, user: Admin, db: DB, page: PageNumber = 1) -> Response:
    return _facility_page(request, db, None, page=page)


@router.get("/admin/facilities/{facility_id}")
def facility_page(request: Request, facility_id: int, user: Admin, db: DB) -> Response:
    facility = db.get(Facility, facility_id)
    if facility is None:
        raise access.not_found()
    return _facility_page(request, db, facility)


@router.post("/admin/facilities")
@router.post("/admin/facilities/{facility_id}")
def save_facility(
    request: Request,
    user: Admin,
    db: DB,
    facility_id: int | None = None,
    name: str = Form(""),
    address_line: str = Form(""),
    city: str = Form(""),
    state: str = Form(""),
    zip: str = Form(""),  # the form field's name
    system: str = Form(""),
    notes: str = Form(""),
) -> Response:
    facility = db.get(Facility, facility_id) if facility_id is not None else None
    if facility_id is not None and facility is None:
        raise access.not_found()
    form = {"name": name, "address_line": address_line, "city": city, "state": state,
            "zip": zip, "system": system, "notes": notes}
    try:
        saved = roster_edit.save_facility(db, actor=user.email, facility_id=facility_id, **form)
        db.commit()
    except roster_edit.RosterError as exc:
        db.rollback()
        return _facility_page(request, db, facility, status_code=400, form=form,
                              error=f"Not saved: {exc}.")
    return redirect(request, "/admin/facilities", f"Saved {saved.name}.")


@router.post("/admin/facilities/{facility_id}/active")
def facility_active(
    request: Request, facility_id: int, user: Admin, db: DB, active: str = Form("")
) -> Response:
    if db.get(Facility, facility_id) is None:
        raise access.not_found()
    return _roster_action(
        request, db, "/admin/facilities",
        lambda: roster_edit.set_facility_active(db, facility_id, active=active == "1",
                                                actor=user.email),
        "Facility reopened." if active == "1" else "Facility closed.",
    )


# --- volunteers ----------------------------------------------------------------------


@router.get("/admin/volunteers")
def volunteers(
    request: Request, user: Admin, db: DB, q: str = "", page: PageNumber = 1,
    email: str = "",
) -> Response:
    rows, total = queries.volunteers_with_load(
        db, q=q, limit=LIST_PAGE, offset=page_offset(page, LIST_PAGE)
    )
    return render(
        request, "admin_volunteers.html", rows=rows, total=total, q=q, page=page,
        more=page * LIST_PAGE < total, form={"email": email[:320]}, volunteer=None,
    )


@router.get("/admin/volunteers/{volunteer_id}")
def volunteer_page(request: Request, volunteer_id: int, user: Admin, db: DB) -> Response:
    volunteer = db.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise access.not_found()
    return render(
        request, "admin_volunteer.html", volunteer=volunteer,
        form={"email": volunteer.email, "display_name": volunteer.display_name},
        matches=queries.matches_of(db, volunteer_id=volunteer.id),
    )


@router.post("/admin/volunteers")
@router.post("/admin/volunteers/{volunteer_id}")
def save_volunteer(
    request: Request,
    user: Admin,
    db: DB,
    volunteer_id: int | None = None,
    email: str = Form(""),
    display_name: str = Form(""),
) -> Response:
    volunteer = db.get(Volunteer, volunteer_id) if volunteer_id is not None else None
    if volunteer_id is not None and volunteer is None:
        raise access.not_found()
    try:
        saved = roster_edit.save_volunteer(db, actor=user.email, volunteer_id=volunteer_id,
                                           email=email, display_name=display_name)
        db.commit()
    except roster_edit.RosterError as exc:
        db.rollback()
        form = {"email": email, "display_name": display_name}
        if volunteer is not None:
            return render(request, "admin_volunteer.html", status_code=400, volunteer=volunteer,
                          form=form, matches=queries.matches_of(db, volunteer_id=volunteer.id),
                          error=f"Not saved: {exc}.")
        rows, total = queries.volunteers_with_load(db, limit=LIST_PAGE)
        return render(request, "admin_volunteers.html", status_code=400, rows=rows, total=total,
                      q="", page=1, more=total > LIST_PAGE, form=form, volunteer=None,
                      error=f"Not saved: {exc}.")
    return redirect(request, f"/admin/volunteers/{saved.id}", f"Saved {saved.display_name}.")


@router.get("/admin/volunteers/{volunteer_id}/leave")
def confirm_volunteer_leaves(
    request: Request, volunteer_id: int, user: Admin, db: DB
) -> Response:
    volunteer = db.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise access.not_found()
    active = [m for m in queries.matches_of(db, volunteer_id=volunteer.id) if m.active]
    return render(
        request, "admin_confirm.html", title=f"{volunteer.display_name} leaves the program?",
        message=(f"Their {len(active)} active match{'es' if len(active) != 1 else ''} end and "
                 "those writers go back to the waiting list. Their login is disabled and "
                 "logged out at once."),
        action=f"/admin/volunteers/{volunteer.id}/active", fields={"active": "0"},
        button="Yes, they leave", cancel=f"/admin/volunteers/{volunteer.id}",
    )


@router.post("/admin/volunteers/{volunteer_id}/active")
def volunteer_active(
    request: Request, volunteer_id: int, user: Admin, db: DB, active: str = Form("")
) -> Response:
    volunteer = db.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise access.not_found()
    back = f"/admin/volunteers/{volunteer.id}"
    _volunteer, ended = roster_edit.set_volunteer_active(
        db, volunteer.id, active=active == "1", actor=user.email
    )
    if active != "1":  # their account goes with them
        linked = db.scalars(
            select(User).where(User.volunteer_id == volunteer.id, User.active.is_(True))
        )
        for account in list(linked):
            accounts.set_active(db, account.email, active=False, actor=user.email)
    db.commit()
    if active == "1":
        return redirect(request, back, f"{volunteer.display_name} is back; enable their login "
                        "on the Users page if they need it.")
    return redirect(request, back, f"{volunteer.display_name} has left; {ended} matches ended.")


# --- users ---------------------------------------------------------------------------


def _users_page(request: Request, db: Session, *, status_code: int = 200, form: dict | None = None,
                error: str | None = None, missing_volunteer: str = "") -> Response:
    return render(
        request,
        "admin_users.html",
        status_code=status_code,
        users=queries.users(db),
        now=utcnow(),  # which invitations have run out
        roles=[r.value for r in Role],
        form=form or {},
        missing_volunteer=missing_volunteer,
        error=error,
    )


@router.get("/admin/users")
def users(
    request: Request,
    user: Admin,
    db: DB,
) -> Response:
    return _users_page(request, db)


@router.post("/admin/users/invite")
def invite(
    request: Request,
    user: Admin,
    db: DB,
    email: str = Form(""),
    role: str = Form(""),
    volunteer_email: str = Form(""),
    add_volunteer: str = Form(""),
    display_name: str = Form(""),
) -> Response:
    form = {"email": email, "role": role, "volunteer_email": volunteer_email,
            "display_name": display_name}
    days = request.app.state.settings.invite_days
    try:
        if add_volunteer == "1":  # the offer made when the pen pal wasn't in the roster yet
            roster_edit.save_volunteer(db, actor=user.email,
                                       email=volunteer_email.strip() or email,
                                       display_name=display_name)
        invited, token = accounts.invite_user(
            db,
            email=email,
            role=role,
            actor=user.email,
            days=days,
            volunteer_email=volunteer_email.strip() or None,
        )
        db.commit()
    except accounts.VolunteerMissing as exc:
        db.rollback()
        return _users_page(
            request, db, status_code=400, form=form, missing_volunteer=exc.email,
            error="Not invited yet: there is no volunteer with that email in the roster. "
            "Add them below and the invitation goes out at once.",
        )
    except (accounts.AccountError, roster_edit.RosterError) as exc:
        db.rollback()
        return _users_page(request, db, status_code=400, form=form, error=f"Not invited: {exc}.")
    settings = request.app.state.settings
    link, sent = _send_invitation(settings, invited, token)
    # Shown once, on the page this redirect leads to; only the token's digest is kept.
    return redirect(
        request, "/admin/users",
        f"Invited {invited.email}; the link works once, for {_days(days)}. {sent}",
        link=link, link_for=invited.email, link_kind="invite",
    )


def _days(days: int) -> str:
    return f"{days} day{'s' if days != 1 else ''}"


@router.post("/admin/users/{user_id}/invite")
def reissue_invite(request: Request, user_id: int, user: Admin, db: DB) -> Response:
    """A new invitation link for someone who has not chosen a password (theirs expired or got
    lost); the old link stops working. Emailed too when a mail server is set up."""
    target = _target_user(db, user_id)
    settings = request.app.state.settings
    try:
        token = accounts.reissue_invite(db, target, actor=user.email, days=settings.invite_days)
        db.commit()
    except accounts.AccountError as exc:
        db.rollback()
        return redirect(request, "/admin/users", f"No new invitation: {exc}.", error=True)
    link, sent = _send_invitation(settings, target, token)
    return redirect(
        request, "/admin/users",
        f"New invitation for {target.email}; the link works once, for "
        f"{_days(settings.invite_days)}, and the old one no longer works. {sent}",
        link=link, link_for=target.email, link_kind="invite",
    )


def _target_user(db: Session, user_id: int) -> User:
    target = db.get(User, user_id)
    if target is None:
        raise access.not_found()
    return target


@router.get("/admin/users/{user_id}/disable")
def confirm_disable(request: Request, user_id: int, user: Admin, db: DB) -> Response:
    target = _target_user(db, user_id)
    if target.id == user.id:
        return redirect(request, "/admin/users", "You can't disable your own account.", error=True)
    return render(
        request, "admin_confirm.html", title=f"Disable {target.email}?",
        message="They are logged out everywhere at once and can't log in until an admin "
        "enables the account again. Their letters and replies stay.",
        action=f"/admin/users/{target.id}/active", fields={"active": "0"},
        button="Disable", cancel="/admin/users",
    )


@router.post("/admin/users/{user_id}/active")
def set_active(
    request: Request,
    user_id: int,
    user: Admin,
    db: DB,
    active: str = Form(""),
) -> Response:
    target = _target_user(db, user_id)
    if target.id == user.id:
        return redirect(request, "/admin/users", "You can't disable your own account.", error=True)
    accounts.set_active(db, target.email, active=active == "1", actor=user.email)
    db.commit()
    return redirect(
        request, "/admin/users", f"{target.email} {'enabled' if active == '1' else 'disabled'}."
    )


def _send_invitation(settings, target: User, token: str) -> tuple[str, str]:  # Settings
    """The invitation link for `token`, emailed when SMTP is set up: (link, what to tell)."""
    link = f"{settings.base_url.rstrip('/')}/login?invite={token}"
    message = accounts.invite_message(target, link, settings, target.invite_expires_at)
    return link, _send_link(settings, target, message, "invitation")


def _send_link(settings, target: User, message, what: str) -> str:  # Settings, EmailMessage
    """Email a link when SMTP is set up. Returns what to tell the admin."""
    if not settings.smtp_host:
        return "No mail server is set up: pass the link on yourself."
    try:
        notify.send_message(message, settings)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("%s mail for user %s failed: %s", what, target.id, type(exc).__name__)
        return "Sending the email failed: pass the link on yourself."
    return f"It was emailed to {target.email} too."


@router.post("/admin/users/{user_id}/reset")
def reset_password(request: Request, user_id: int, user: Admin, db: DB) -> Response:
    """A one-time link that sets a new password (and ends the account's sessions when used)."""
    target = _target_user(db, user_id)
    settings = request.app.state.settings
    try:
        token = accounts.start_password_reset(
            db, target, actor=user.email, hours=settings.password_reset_hours
        )
        db.commit()
    except accounts.AccountError as exc:
        db.rollback()
        return redirect(request, "/admin/users", f"No reset: {exc}.", error=True)
    link = f"{settings.base_url.rstrip('/')}/reset?token={token}"
    sent = _send_link(
        settings, target,
        accounts.reset_message(target, link, settings, settings.password_reset_hours),
        "password reset",
    )
    return redirect(
        request, "/admin/users",
        f"Password reset started for {target.email}; the link works once, for "
        f"{settings.password_reset_hours} hours. {sent}",
        link=link, link_for=target.email, link_kind="reset",
    )


# --- audit log and originals ---------------------------------------------------------


@router.get("/admin/audit")
def audit_log(
    request: Request,
    user: Admin,
    db: DB,
    q: str = "",
    action: str = "",
    item: str = "",
    date_from: str = "",
    date_to: str = "",
    page: PageNumber = 1,
) -> Response:
    day_from, day_to = parse_day(date_from, "From"), parse_day(date_to, "To")
    events, more = queries.audit_log(
        db, q=q, action=action, item_id=item.strip(), day_from=day_from, day_to=day_to,
        limit=AUDIT_PAGE, offset=page_offset(page, AUDIT_PAGE),
    )
    filters = {"q": q, "action": action, "item": item, "date_from": date_from,
               "date_to": date_to}
    return render(
        request,
        "admin_audit.html",
        events=events,
        more=more,
        page=page,
        actions=queries.audit_actions(db),
        filters=filters,
        query=urlencode({k: v for k, v in filters.items() if v}),
        **filters,
    )


@router.get("/admin/letters/{item_id}/pages/{n}/original")
def original_image(
    item_id: str,
    n: str,
    user: Admin,
    db: DB,
) -> Response:
    """The page as scanned, before any cleaning or redaction. Admins only, and audited."""
    item = access.item_for(db, user, item_id)
    page = access.page_of(db, item, access.page_index(n))
    if not page.image_key:
        raise access.not_found()
    audit(db, "original_viewed", actor=user.email, item_id=item.id, page=page.index)
    db.commit()
    return image_response(page.image_key)

