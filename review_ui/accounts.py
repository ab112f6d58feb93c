"""People who log in: argon2 password hashes, invitations, linking pen pals to roster volunteers."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.db import audit
from storage.models import Role, User, Volunteer

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about an account that can't be honoured; the message is safe to show."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    """True when `password` opens this active account. Takes the same time for unknown users."""
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        ok = False
    return ok and user is not None and user.active and bool(user.password_hash)


def rehash_if_needed(user: User, password: str) -> None:
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))


def _volunteer_for(session: Session, email: str) -> Volunteer | None:
    wanted = normalise_email(email)
    return session.scalar(select(Volunteer).where(func.lower(Volunteer.email) == wanted))


def _check_role(role: str) -> str:
    if role not in {r.value for r in Role}:
        raise AccountError(f"role must be one of: {', '.join(r.value for r in Role)}")
    return role


def link_volunteer(session: Session, user: User, volunteer_email: str | None = None) -> None:
    """A pen pal account belongs to the roster volunteer with the same email (or the one named)."""
    if user.role != Role.penpal:
        user.volunteer_id = None
        return
    volunteer = _volunteer_for(session, volunteer_email or user.email)
    if volunteer is None:
        raise AccountError(
            "no volunteer with that email in the roster; import the roster first "
            "(letterbridge roster import --volunteers ...)"
        )
    user.volunteer_id = volunteer.id


def add_user(
    session: Session,
    *,
    email: str,
    role: str,
    password: str,
    actor: str,
    volunteer_email: str | None = None,
) -> User:
    """Create an account, or set role and password of an existing one."""
    email = normalise_email(email)
    if "@" not in email:
        raise AccountError("that does not look like an email address")
    _check_role(role)
    user = user_by_email(session, email)
    created = user is None
    if user is None:
        user = User(email=email, role=role)
        session.add(user)
    user.role = role
    user.password_hash = hash_password(password)
    user.active = True
    user.invite_token = None
    link_volunteer(session, user, volunteer_email)
    session.flush()
    audit(
        session,
        "user_added" if created else "user_updated",
        actor=actor,
        user_id=user.id,
        role=role,
    )
    return user


def invite_token_digest(token: str) -> str:
    # Only a digest is stored, so a copy of the database can't be used to accept invitations.
    return hashlib.sha256(token.encode()).hexdigest()


def invite_user(
    session: Session, *, email: str, role: str, actor: str, volunteer_email: str | None = None
) -> tuple[User, str]:
    """An account without a password and a one-time token to choose one. Returns (user, token)."""
    email = normalise_email(email)
    if "@" not in email:
        raise AccountError("that does not look like an email address")
    _check_role(role)
    user = user_by_email(session, email)
    if user is not None and user.password_hash:
        raise AccountError("that person already has an account")
    if user is None:
        user = User(email=email, role=role)
        session.add(user)
    user.role = role
    user.active = True
    link_volunteer(session, user, volunteer_email)
    token = secrets.token_urlsafe(24)
    user.invite_token = invite_token_digest(token)
    session.flush()
    audit(session, "user_invited", actor=actor, user_id=user.id, role=role)
    return user, token


def user_for_invite(session: Session, token: str) -> User | None:
    if not token:
        return None
    user = session.scalar(select(User).where(User.invite_token == invite_token_digest(token)))
    return user if user is not None and user.active else None


def accept_invite(session: Session, token: str, password: str) -> User:
    user = user_for_invite(session, token)
    if user is None:
        raise AccountError("this invitation is not valid any more")
    user.password_hash = hash_password(password)
    user.invite_token = None
    audit(session, "invite_accepted", actor=user.email, user_id=user.id)
    return user


def set_active(session: Session, email: str, *, active: bool, actor: str) -> User:
    user = user_by_email(session, email)
    if user is None:
        raise AccountError("no account with that email")
    user.active = active
    if not active:
        user.invite_token = None
    audit(session, "user_enabled" if active else "user_disabled", actor=actor, user_id=user.id)
    return user
