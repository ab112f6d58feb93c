"""Reply codes: hand one to each correspondence (Match.code), find them on incoming mail.

The format and its check character live in `ocr.reply_codes` (pure text, also used when
reading an envelope); this module adds what needs the database.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ocr.reply_codes import ALPHABET, canonical, check_char, find_codes, format_code, is_valid
from storage.models import Match

__all__ = [
    "ALPHABET",
    "canonical",
    "check_char",
    "ensure_code",
    "find_codes",
    "format_code",
    "is_valid",
    "new_code",
]


def new_code(session: Session, length: int = 6) -> str:
    """A fresh valid code (stored form, no dash) that no Match uses yet."""
    if length < 4:
        raise ValueError("codes shorter than 4 characters are too easy to hit by accident")
    while True:
        payload = "".join(secrets.choice(ALPHABET) for _ in range(length - 1))
        code = payload + check_char(payload)
        taken = session.scalar(select(Match.id).where(Match.code == code))
        if taken is None:
            return code


def ensure_code(session: Session, match: Match) -> str:
    """The match's code, giving it one (and flushing) if it has none yet."""
    if not match.code:
        match.code = new_code(session)
        session.flush()
    return match.code
