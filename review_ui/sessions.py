"""Server-side sessions: a row per login, so logout, disabling and a password reset end it at once.

The cookie carries a random token and nothing else; the table keeps only its SHA-256, so a
copy of the database (or a backup) can't be turned back into a working cookie. A session ends
on logout, when its account is disabled or its password reset, after `session_idle_minutes`
without a request, and `session_max_hours` after login whatever happens.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import UserSession, utcnow

# last_seen_at is written at most this often: a page with many images would otherwise write
# the row once per image, and SQLite has one writer.
TOUCH_SECONDS = 60


@dataclass(frozen=True)
class Timeouts:
    idle: timedelta
    absolute: timedelta


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(db: Session, user_id: int, *, address_key: str = "") -> tuple[str, UserSession]:
    """A new session for `user_id`. Returns (the cookie token, the row)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(
        id=token_digest(token),
        user_id=user_id,
        address_key=address_key,
        created_at=now,
        last_seen_at=now,
    )
    db.add(row)
    db.flush()
    return token, row


def _ended_reason(row: UserSession, now: datetime, timeouts: Timeouts) -> str:
    if row.ended_at is not None:
        return row.end_reason or "ended"
    if now - row.created_at >= timeouts.absolute:
        return "expired"
    if now - row.last_seen_at >= timeouts.idle:
        return "idle"
    return ""


def resume(db: Session, token: str | None, timeouts: Timeouts) -> UserSession | None:
    """The live session this cookie token opens, or None. A timed-out one is ended here."""
    if not token or len(token) > 200:
        return None
    row = db.get(UserSession, token_digest(token))
    if row is None:
        return None
    now = utcnow()
    reason = _ended_reason(row, now, timeouts)
    if reason:
        if row.ended_at is None:
            row.ended_at, row.end_reason = now, reason
        return None
    if (now - row.last_seen_at).total_seconds() >= TOUCH_SECONDS:
        row.last_seen_at = now
    return row


def end(db: Session, session_id: str, reason: str) -> None:
    db.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
    )


def end_all(db: Session, user_id: int, reason: str) -> int:
    """End every live session of this user (disabled, password reset). Returns how many."""
    result = db.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
    )
    return result.rowcount or 0


def known_address(db: Session, user_id: int, address_key: str, days: int = 30) -> bool:
    """Has this user logged in from this address lately? (The limiter trusts such places more.)"""
    if not address_key:
        return False
    since = utcnow() - timedelta(days=days)
    return (
        db.scalar(
            select(UserSession.id)
            .where(
                UserSession.user_id == user_id,
                UserSession.address_key == address_key,
                UserSession.created_at >= since,
            )
            .limit(1)
        )
        is not None
    )


def live_count(db: Session, user_id: int, timeouts: Timeouts) -> int:
    now = utcnow()
    rows = db.scalars(
        select(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    )
    return sum(1 for row in rows if not _ended_reason(row, now, timeouts))
