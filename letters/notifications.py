"""The notification outbox: every released letter's "a letter is waiting" email, sent once.

A released letter whose `notified_at` is empty still owes its email, whichever path released
it (the flow, the mailroom, the CLI). A sender first claims it with a conditional update (a
lease that runs out, so a sender that died gives the letter back), sends, then records it.
A failed send is left for the next attempt: nothing is lost, and nothing is sent twice by two
processes at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select, update

from postal.notify import notify_letter_waiting
from storage.db import audit, session_scope
from storage.models import ItemStatus, MailItem, utcnow

log = logging.getLogger(__name__)

CLAIM_SECONDS = 300  # longer than any SMTP exchange with its timeouts


def _claim(item_id: str) -> str | None:
    """The volunteer's email when this process now holds the letter's send, else None."""
    now = utcnow()
    stale = now - timedelta(seconds=CLAIM_SECONDS)
    with session_scope() as session:
        claimed = session.execute(
            update(MailItem)
            .where(MailItem.id == item_id, MailItem.status == ItemStatus.released,
                   MailItem.notified_at.is_(None), MailItem.volunteer_id.is_not(None),
                   or_(MailItem.notify_claimed_at.is_(None), MailItem.notify_claimed_at < stale))
            .values(notify_claimed_at=now, notify_attempts=MailItem.notify_attempts + 1)
        ).rowcount
        if not claimed:
            return None
        return session.get(MailItem, item_id).volunteer.email


def notify(item_id: str) -> bool:
    """Send the letter's email if it is owed and nobody else is sending it. Raises when
    sending fails (the claim is given back, so a retry or the next sweep sends it)."""
    email = _claim(item_id)
    if email is None:
        return False
    try:
        notify_letter_waiting(email, item_id)
    except Exception:
        with session_scope() as session:
            session.get(MailItem, item_id).notify_claimed_at = None
        raise
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        item.notified_at = utcnow()
        audit(session, "volunteer_notified", item_id=item_id)
    return True


def owed(limit: int = 100) -> list[str]:
    """Released letters whose email has not gone out yet, oldest first."""
    with session_scope() as session:
        return list(session.scalars(
            select(MailItem.id).where(MailItem.status == ItemStatus.released,
                                      MailItem.notified_at.is_(None),
                                      MailItem.volunteer_id.is_not(None))
            .order_by(MailItem.released_at).limit(limit)))


def send_owed(limit: int = 100) -> tuple[int, int]:
    """One sweep of the outbox: (sent, failed). Failures stay owed for the next sweep."""
    sent = failed = 0
    for item_id in owed(limit):
        try:
            sent += notify(item_id)
        except Exception as exc:  # a mail server that is down: the next sweep tries again
            failed += 1
            log.warning("notification for item %s not sent yet (%s)", item_id, type(exc).__name__)
    return sent, failed
