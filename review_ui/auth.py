"""Sessions, CSRF tokens, the login rate limit and the role checks every route goes through."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from config.settings import Settings, get_settings
from storage.db import session_scope
from storage.models import Role, User

SESSION_COOKIE = "lb_session"
PRELOGIN_COOKIE = "lb_csrf"  # seeds the login form's CSRF token before there is a session
SESSION_SECONDS = 12 * 3600
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
    sid: str  # random per login; CSRF tokens are bound to it

    @property
    def home(self) -> str:
        return HOME_FOR_ROLE[Role(self.role)]


class NotLoggedIn(Exception):
    """Raised by the role checks; the app turns it into a redirect to /login."""


def _fingerprint(password_hash: str) -> str:
    # In the cookie so that a password change ends every other session.
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class SessionSigner:
    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self._serializer = URLSafeTimedSerializer(secret, salt="letterbridge-session")

    def issue(self, user: User) -> tuple[str, str]:
        sid = secrets.token_urlsafe(16)
        value = self._serializer.dumps(
            {"u": user.id, "s": sid, "p": _fingerprint(user.password_hash)}
        )
        return value, sid

    def read(self, value: str | None) -> dict | None:
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None

    def csrf_token(self, seed: str) -> str:
        return hmac.new(self.secret, b"csrf:" + seed.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, seed: str | None, token: str | None) -> bool:
        if not seed or not token:
            return False
        return hmac.compare_digest(self.csrf_token(seed), token)


def signer(request: Request) -> SessionSigner:
    return request.app.state.signer


def get_db() -> Iterator[Session]:
    """One session per request; handlers that write call `db.commit()` themselves."""
    with session_scope() as session:
        yield session


def session_user(request: Request, db: Session) -> CurrentUser | None:
    """The logged-in user of this request, or None. Disabled accounts are logged out at once."""
    cached = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    data = signer(request).read(request.cookies.get(SESSION_COOKIE))
    if data is None:
        return None
    user = db.get(User, data.get("u"))
    if user is None or not user.active or not user.password_hash:
        return None
    if not hmac.compare_digest(data.get("p", ""), _fingerprint(user.password_hash)):
        return None
    current = CurrentUser(user.id, user.email, user.role, user.volunteer_id, data.get("s", ""))
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
    data = signer(request).read(request.cookies.get(SESSION_COOKIE))
    if data is None:
        raise NotLoggedIn()  # without a session every page leads to /login, POSTs too
    if not signer(request).csrf_ok(data.get("s"), await submitted_csrf_token(request)):
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


# --- login rate limit ----------------------------------------------------------------


class LoginLimiter:
    """At most `max_failures` failed logins per (email, address) and per address in a window."""

    def __init__(
        self, max_failures: int = 5, per_address: int = 50, window_seconds: float = 900
    ) -> None:
        self.max_failures = max_failures
        self.per_address = per_address
        self.window = window_seconds
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        stamps = self._failures.setdefault(key, deque())
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        return stamps

    def blocked(self, email: str, address: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return (
                len(self._recent((email, address), now)) >= self.max_failures
                or len(self._recent(("*", address), now)) >= self.per_address
            )

    def failed(self, email: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent((email, address), now).append(now)
            self._recent(("*", address), now).append(now)
            if len(self._failures) > 50_000:  # forget idle keys so memory stays bounded
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]

    def succeeded(self, email: str, address: str) -> None:
        with self._lock:
            self._failures.pop((email, address), None)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


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
