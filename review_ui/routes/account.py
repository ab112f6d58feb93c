"""Logging in and out, accepting an invitation, and the front door that sends each role home."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from review_ui import accounts, sessions
from review_ui.auth import (
    DB,
    HOME_FOR_ROLE,
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    AnyUser,
    CsrfRejected,
    client_address,
    csrf_protect,
    is_https,
    safe_next,
    session_user,
    signer,
)
from review_ui.web import redirect, render
from storage.db import audit
from storage.models import Role, utcnow

router = APIRouter()


def _same_origin(request: Request, origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "") or origin.rstrip("/") == (
        request.app.state.settings.base_url.rstrip("/")
    )


def _login_csrf_ok(request: Request, token: str) -> bool:
    """The login form carries a token bound to a pre-login cookie.

    A client that sends no token at all (a script posting to the fixed /login interface)
    is accepted only without a foreign Origin: browsers always send Origin on a
    cross-site POST, so a forged login from another site is still refused.
    """
    if token:
        return signer(request).csrf_ok(request.cookies.get(PRELOGIN_COOKIE), token)
    origin = request.headers.get("origin") or request.headers.get("referer")
    return origin is None or _same_origin(request, origin)


@router.get("/login")
def login_form(
    request: Request,
    db: DB,
    next: str = "",
    invite: str = "",
) -> Response:
    user = session_user(request, db)
    if user is not None and not invite:
        return RedirectResponse(safe_next(next, user.home), status_code=303)
    invited = None
    if invite:
        found = accounts.find_invitation(db, invite)
        if found is None or found.expired:
            return _invite_refused(request, db, found)
        invited = found.user
    return render(
        request,
        "login.html",
        next=next,
        invite=invite,
        invited_email=invited.email if invited else "",
    )


def _start_session(request: Request, db: Session, user, next_url: str) -> Response:  # User
    address_key = request.app.state.login_limiter.address_key(client_address(request))
    token, _row = sessions.start(db, user.id, address_key=address_key)
    db.commit()
    home = HOME_FOR_ROLE[Role(user.role)]
    response = RedirectResponse(safe_next(next_url, home), status_code=303)
    # No max_age: the cookie goes with the browser; the server decides when the session ends.
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )
    response.delete_cookie(PRELOGIN_COOKIE, path="/")
    return response


@router.post("/login")
def login(
    request: Request,
    db: DB,
    email: str = Form(""),
    password: str = Form(""),
    password2: str = Form(""),
    invite: str = Form(""),
    next: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    if not _login_csrf_ok(request, csrf_token):
        raise CsrfRejected()
    if invite:
        return _accept_invite(request, db, invite, password, password2, next)
    address = client_address(request)
    key = accounts.normalise_email(email)
    limiter = request.app.state.login_limiter
    user = accounts.user_by_email(db, key)
    known = user is not None and sessions.known_address(
        db, user.id, limiter.address_key(address)
    )
    wait = limiter.wait_seconds(db, key, address, known_address=known)
    if wait > 0:
        minutes = max(1, round(wait / 60))
        return render(
            request,
            "login.html",
            status_code=429,
            next=next,
            email=email,
            error=f"Too many attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
        )
    if not accounts.check_password(user, password):
        limiter.failed(db, key, address)
        # An unknown email is not written down: people type passwords into the wrong box.
        audit(db, "login_failed", actor=user.email if user else "unknown")
        db.commit()
        return render(
            request,
            "login.html",
            status_code=401,
            next=next,
            email=email,
            error="That email and password don't match an active account.",
        )
    limiter.succeeded(db, key, address)
    accounts.rehash_if_needed(user, password)
    if user.role == Role.penpal and user.volunteer_id is None:
        try:  # the roster may have been imported after the account was made
            accounts.link_volunteer(db, user)
        except accounts.AccountError:
            pass
    user.last_login_at = utcnow()
    audit(db, "login", actor=user.email)
    db.commit()
    return _start_session(request, db, user, next)


def _invite_refused(
    request: Request, db: Session, found: accounts.Invitation | None
) -> Response:
    """An unknown or used link is a 404; one that ran out says so in words (410), and the
    attempt is audited so the admin sees who needs a new one."""
    if found is None:
        return render(
            request,
            "login.html",
            status_code=404,
            error="This invitation is not valid any more. Ask an admin for a new one.",
        )
    audit(db, "invite_link_expired", actor=found.user.email, user_id=found.user.id)
    db.commit()
    return render(
        request,
        "invite_expired.html",
        status_code=410,
        expires_at=found.expires_at,
        program=request.app.state.settings.program_name,
    )


def _accept_invite(
    request: Request,
    db: Session,
    invite: str,
    password: str,
    password2: str,
    next_url: str,
) -> Response:
    found = accounts.find_invitation(db, invite)
    if found is None or found.expired:
        return _invite_refused(request, db, found)
    invited = found.user
    error = None
    if password != password2:
        error = "The two passwords differ."
    else:
        try:
            user = accounts.accept_invite(db, invite, password)
        except accounts.AccountError as exc:
            error = f"Could not set the password: {exc}."
    if error:
        return render(
            request,
            "login.html",
            status_code=400,
            invite=invite,
            invited_email=invited.email,
            error=error,
        )
    user.last_login_at = utcnow()
    audit(db, "login", actor=user.email)
    db.commit()
    return _start_session(request, db, user, next_url)


@router.post("/logout", dependencies=[Depends(csrf_protect)])
def logout(request: Request, user: AnyUser, db: DB) -> Response:
    # Ended in the table, so the cookie opens nothing even if a copy of it survives.
    sessions.end(db, user.sid, "logout")
    audit(db, "logout", actor=user.email)
    db.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- password reset (an admin starts it: /admin/users/{id}/reset) ----------------------


@router.get("/reset")
def reset_form(request: Request, db: DB, token: str = "") -> Response:
    target = accounts.user_for_reset(db, token)
    if target is None:
        return render(
            request,
            "login.html",
            status_code=404,
            error="This reset link is not valid any more. Ask an admin for a new one.",
        )
    return render(request, "login.html", reset=token, invited_email=target.email)


@router.post("/reset")
def reset_password(
    request: Request,
    db: DB,
    token: str = Form(""),
    password: str = Form(""),
    password2: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    if not signer(request).csrf_ok(request.cookies.get(PRELOGIN_COOKIE), csrf_token):
        raise CsrfRejected()
    target = accounts.user_for_reset(db, token)
    if target is None:
        return render(
            request,
            "login.html",
            status_code=404,
            error="This reset link is not valid any more. Ask an admin for a new one.",
        )
    error = None
    if password != password2:
        error = "The two passwords differ."
    else:
        try:
            accounts.finish_password_reset(db, token, password)
            db.commit()
        except accounts.AccountError as exc:
            db.rollback()
            error = f"Could not set the password: {exc}."
    if error:
        return render(
            request, "login.html", status_code=400, reset=token, invited_email=target.email,
            error=error,
        )
    response = redirect(request, "/login", "Your password is changed. Log in with it now.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(user: AnyUser) -> Response:
    return RedirectResponse(user.home, status_code=303)
