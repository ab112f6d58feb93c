"""People who log in: argon2 password hashes, invitations, linking pen pals to roster volunteers."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from review_ui import sessions
from storage.db import audit
from storage.models import Role, User, Volunteer, utcnow

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about an account that can't be honoured; the message is safe to show."""


class VolunteerMissing(AccountError):
    """A pen pal account needs a roster volunteer, and there is none with that email."""

    def __init__(self, email: str) -> None:
        super().__init__("no volunteer with that email in the roster")
        self.email = email


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
        raise VolunteerMissing(normalise_email(volunteer_email or user.email))
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
    user.invite_expires_at = None
    link_volunteer(session, user, volunteer_email)
    session.flush()
    if not created:  # a new password ends every session opened with the old one
        sessions.end_all(session, user.id, "password_changed")
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


def _new_invite_token(user: User, days: int) -> str:
    token = secrets.token_urlsafe(24)
    user.invite_token = invite_token_digest(token)
    user.invite_expires_at = utcnow() + timedelta(days=days)
    return token


def invite_user(
    session: Session,
    *,
    email: str,
    role: str,
    actor: str,
    days: int,
    volunteer_email: str | None = None,
) -> tuple[User, str]:
    """An account without a password and a one-time token to choose one, usable for `days`.
    Returns (user, token)."""
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
    token = _new_invite_token(user, days)
    session.flush()
    audit(session, "user_invited", actor=actor, user_id=user.id, role=role, days=days)
    return user, token


def reissue_invite(session: Session, user: User, *, actor: str, days: int) -> str:
    """A new invitation link for someone who has not chosen a password yet (theirs ran out, or
    got lost). The old link stops working. Returns the new token."""
    if not user.active:
        raise AccountError("that account is disabled; enable it first")
    if user.password_hash:
        raise AccountError("they have chosen a password already; start a password reset instead")
    token = _new_invite_token(user, days)
    audit(session, "invite_reissued", actor=actor, user_id=user.id, days=days)
    return token


@dataclass(frozen=True)
class Invitation:
    """The account an invitation link is for, and whether the link has run out."""

    user: User
    expired: bool

    @property
    def expires_at(self) -> datetime | None:
        return self.user.invite_expires_at


def invite_expired(user: User, now: datetime | None = None) -> bool:
    # No expiry on record counts as run out: every link made since expiry began has one.
    expires = user.invite_expires_at
    return expires is None or expires <= (now or utcnow())


def find_invitation(session: Session, token: str) -> Invitation | None:
    """The invitation this link carries (None: no such link, used, or the account disabled)."""
    if not token or len(token) > 200:
        return None
    user = session.scalar(select(User).where(User.invite_token == invite_token_digest(token)))
    if user is None or not user.active:
        return None
    return Invitation(user, invite_expired(user))


def user_for_invite(session: Session, token: str) -> User | None:
    """The account a link still valid now is for."""
    found = find_invitation(session, token)
    return found.user if found is not None and not found.expired else None


def accept_invite(session: Session, token: str, password: str) -> User:
    user = user_for_invite(session, token)
    if user is None:
        raise AccountError("this invitation is not valid any more")
    user.password_hash = hash_password(password)
    user.invite_token = None
    user.invite_expires_at = None
    audit(session, "invite_accepted", actor=user.email, user_id=user.id)
    return user


def set_active(session: Session, email: str, *, active: bool, actor: str) -> User:
    user = user_by_email(session, email)
    if user is None:
        raise AccountError("no account with that email")
    user.active = active
    if not active:
        user.invite_token = None
        user.invite_expires_at = None
        user.reset_token = None
        # At once, not at the session's next request: the cookie opens nothing from now on.
        sessions.end_all(session, user.id, "disabled")
    audit(session, "user_enabled" if active else "user_disabled", actor=actor, user_id=user.id)
    return user


# --- password reset ---------------------------------------------------------------------


def start_password_reset(session: Session, user: User, *, actor: str, hours: int) -> str:
    """A one-time token (returned; only its digest is kept) that sets a new password within
    `hours`. Starting another replaces it."""
    if not user.active:
        raise AccountError("that account is disabled; enable it first")
    token = secrets.token_urlsafe(24)
    user.reset_token = invite_token_digest(token)
    user.reset_expires_at = utcnow() + timedelta(hours=hours)
    audit(session, "password_reset_started", actor=actor, user_id=user.id, hours=hours)
    return token


def user_for_reset(session: Session, token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    user = session.scalar(select(User).where(User.reset_token == invite_token_digest(token)))
    if user is None or not user.active or user.reset_expires_at is None:
        return None
    return user if user.reset_expires_at > utcnow() else None


def finish_password_reset(session: Session, token: str, password: str) -> User:
    """Set the new password, use the token up, and end every session of the account."""
    user = user_for_reset(session, token)
    if user is None:
        raise AccountError("this reset link is not valid any more")
    user.password_hash = hash_password(password)
    user.reset_token = None
    user.reset_expires_at = None
    user.invite_token = None
    user.invite_expires_at = None
    ended = sessions.end_all(session, user.id, "password_reset")
    audit(session, "password_reset_done", actor=user.email, user_id=user.id, sessions_ended=ended)
    return user


def reset_message(user: User, link: str, settings: Settings, hours: int) -> EmailMessage:
    """The email with the reset link: nothing else about the account or the program's mail."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = user.email
    message["Subject"] = "Choose a new password"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or None)
    message.set_content(
        "Hello,\n\n"
        f"An admin of {settings.program_name} started a password reset for your account.\n\n"
        f"Choose a new password here (the link works once, for {hours} hours):\n{link}\n\n"
        "If you did not ask for this, tell the admin; your old password stops working only "
        "once the link is used.\n"
    )
    return message


def invite_message(user: User, link: str, settings: Settings, expires_at: datetime) -> EmailMessage:
    """The email with a new invitation link: nothing else about the account or the program's mail."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = user.email
    message["Subject"] = f"Your invitation to {settings.program_name}"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or None)
    message.set_content(
        "Hello,\n\n"
        f"An admin of {settings.program_name} sent you an invitation.\n\n"
        "Choose your password here (the link works once, until "
        f"{expires_at:%Y-%m-%d %H:%M} UTC):\n{link}\n\n"
        "Any earlier invitation link you have no longer works.\n"
    )
    return message
