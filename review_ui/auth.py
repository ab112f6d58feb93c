"""Who is asking (sessions), CSRF tokens, where a request comes from, and the role checks."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from config.settings import Settings, get_settings
from review_ui import sessions
from storage.db import session_scope
from storage.models import Role, User

SESSION_COOKIE = "lb_session"
PRELOGIN_COOKIE = "lb_csrf"  # seeds the login form's CSRF token before there is a session
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

HOME_FOR_ROLE = {Role.mailroom: "/mailroom", Role.penpal: "/inbox", Role.admin: "/admin"}


# --- the secret ----------------------------------------------------------------------


def load_secret_key(settings: Settings | None = None) -> str:
    """`LETTERBRIDGE_SECRET_KEY`, else `$LETTERBRIDGE_HOME/secret_key`, made once with mode 600."""
    settings = settings or get_settings()
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.home) / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if key:
            return key
        path.unlink()  # an empty file left by a crash; make a new key
        return load_secret_key(settings)
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


# --- who is asking -------------------------------------------------------------------


@dataclass(frozen=True)
class CurrentUser:
    id: int
    email: str
    role: str
    volunteer_id: int | None
    sid: str  # the session row's id; CSRF tokens are bound to it

    @property
    def home(self) -> str:
        return HOME_FOR_ROLE[Role(self.role)]


class NotLoggedIn(Exception):
    """Raised by the role checks; the app turns it into a redirect to /login."""


class SessionSigner:
    """The app's secret at work: CSRF tokens, and keyed digests of what must not be kept plain."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()

    def csrf_token(self, seed: str) -> str:
        return hmac.new(self.secret, b"csrf:" + seed.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, seed: str | None, token: str | None) -> bool:
        if not seed or not token:
            return False
        return hmac.compare_digest(self.csrf_token(seed), token)

    def keyed(self, value: str) -> str:
        return hmac.new(self.secret, b"key:" + value.encode(), hashlib.sha256).hexdigest()


def signer(request: Request) -> SessionSigner:
    return request.app.state.signer


def timeouts(settings: Settings) -> sessions.Timeouts:
    return sessions.Timeouts(
        idle=timedelta(minutes=settings.session_idle_minutes),
        absolute=timedelta(hours=settings.session_max_hours),
    )


def get_db() -> Iterator[Session]:
    """One session per request; handlers that write call `db.commit()` themselves."""
    with session_scope() as session:
        yield session


def cookie_session_id(request: Request) -> str | None:
    """The session id the cookie names (not proof that it is live: see `session_user`)."""
    token = request.cookies.get(SESSION_COOKIE)
    return sessions.token_digest(token) if token else None


def session_user(request: Request, db: Session) -> CurrentUser | None:
    """The logged-in user of this request, or None. Ended, timed-out and disabled sessions
    open nothing, from the first request after."""
    cached = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    row = sessions.resume(
        db, request.cookies.get(SESSION_COOKIE), timeouts(request.app.state.settings)
    )
    user = db.get(User, row.user_id) if row is not None else None
    if row is not None and (user is None or not user.active or not user.password_hash):
        sessions.end(db, row.id, "disabled")
        user = None
    # Commit now: the touch (or the ending) must not wait on, or roll back with, the page.
    db.commit()
    if row is None or user is None:
        return None
    current = CurrentUser(user.id, user.email, user.role, user.volunteer_id, row.id)
    request.state.user = current
    return current


def require(*roles: Role) -> Callable[..., CurrentUser]:
    """Dependency: the caller is logged in with one of `roles`; anyone else sees 404."""
    allowed = {r.value for r in roles}

    def dependency(request: Request, db: Annotated[Session, Depends(get_db)]) -> CurrentUser:
        user = session_user(request, db)
        if user is None:
            raise NotLoggedIn()
        if user.role not in allowed:
            # 404, not 403: a page that isn't yours looks like a page that isn't there.
            raise HTTPException(status_code=404)
        return user

    return dependency


any_user = require(Role.mailroom, Role.penpal, Role.admin)
staff = require(Role.mailroom, Role.admin)
admin_only = require(Role.admin)
penpal_only = require(Role.penpal)


# --- CSRF ----------------------------------------------------------------------------


class CsrfRejected(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=403, detail="csrf")


async def submitted_csrf_token(request: Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette caches it; the endpoint reads the same form
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def csrf_protect(request: Request) -> None:
    """Router dependency: every state-changing request carries the token of its session."""
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return
    session_id = cookie_session_id(request)
    if session_id is None:
        raise NotLoggedIn()  # without a session every page leads to /login, POSTs too
    if not signer(request).csrf_ok(session_id, await submitted_csrf_token(request)):
        raise CsrfRejected()


def csrf_token_for(request: Request) -> str:
    """The token forms on this page carry: bound to the session, or to the pre-login cookie."""
    user = getattr(request.state, "user", None)
    if user is not None:
        return signer(request).csrf_token(user.sid)
    seed = getattr(request.state, "prelogin_seed", None) or request.cookies.get(PRELOGIN_COOKIE)
    if not seed:
        seed = secrets.token_urlsafe(16)
        request.state.prelogin_seed = seed  # the login route sets it as a cookie
    return signer(request).csrf_token(seed)


# --- where the request comes from ----------------------------------------------------


def _trusted_proxy(request: Request) -> bool:
    allowed = {a.strip() for a in request.app.state.settings.forwarded_allow_ips.split(",")}
    allowed.discard("")
    peer = request.client.host if request.client else ""
    return "*" in allowed or peer in allowed


def _forwarded_pairs(request: Request, name: str) -> list[str]:
    """Values of `name` (for / proto) in RFC 7239 `Forwarded`, first hop first."""
    values = []
    for element in request.headers.get("forwarded", "").split(","):
        for pair in element.split(";"):
            key, _, value = pair.strip().partition("=")
            if key.lower() == name:
                values.append(value.strip().strip('"'))
    return values


def client_address(request: Request) -> str:
    """The client's address: the peer, or (behind a trusted proxy) the hop the proxy saw."""
    peer = request.client.host if request.client else "unknown"
    if not _trusted_proxy(request):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    hops = hops or _forwarded_pairs(request, "for")
    # The last hop is the one our proxy added; anything left of it the client could have made up.
    return hops[-1] if hops else peer


def is_https(request: Request) -> bool:
    """Did the browser reach us over TLS — directly, or at a trusted TLS-terminating proxy?"""
    if request.app.state.settings.base_url.startswith("https://") or request.url.scheme == "https":
        return True
    if not _trusted_proxy(request):
        return False
    proto = request.headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
    return proto == "https" or (_forwarded_pairs(request, "proto") or [""])[-1].lower() == "https"


def safe_next(target: str | None, default: str) -> str:
    """Only same-site paths may follow a login (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


# Annotated parameter types for the routes: `user: Staff`, `db: DB`.
DB = Annotated[Session, Depends(get_db)]
AnyUser = Annotated[CurrentUser, Depends(any_user)]
Staff = Annotated[CurrentUser, Depends(staff)]
Admin = Annotated[CurrentUser, Depends(admin_only)]
Penpal = Annotated[CurrentUser, Depends(penpal_only)]
