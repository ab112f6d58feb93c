"""The notification outbox, swept: every released letter's email that has not gone out yet.

`letters.notifications` records what is owed (a released letter without `notified_at`) and
claims each send, so a sweep beside a letter's own flow or another worker's sweep never sends
twice. The worker starts a sweep when something is owed (`outbox_has_work`, checked every
minute in its own process); work pools run one on a schedule. A mail server that is down for
minutes costs the emails minutes, never the emails.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import UTC, datetime

from prefect import flow
from prefect.states import Completed, Failed, State

from letters import notifications

log = logging.getLogger(__name__)


def sweep(limit: int = 100) -> tuple[int, int]:
    """Send what is owed, oldest first: (sent, still owed after a failure).

    A server that cannot be reached fails every letter alike, so the sweep stops at the
    first such failure instead of waiting out each letter's timeout; a refusal that concerns
    one letter (a recipient the server rejects) does not stop the others.
    """
    sent = failed = 0
    owed = notifications.owed(limit)
    for n, item_id in enumerate(owed):
        try:
            sent += notifications.notify(item_id)
        except smtplib.SMTPRecipientsRefused:  # this volunteer's address; the others go on
            failed += 1
            log.warning("notification for item %s refused by the mail server", item_id)
        except OSError as exc:  # smtplib's errors are OSErrors too: the server, not the letter
            failed += len(owed) - n
            log.warning("mail server unreachable (%s): %d email(s) stay in the outbox",
                        type(exc).__name__, failed)
            break
        except Exception as exc:  # this letter's email (the database, say); the others go on
            failed += 1
            log.warning("notification for item %s not sent yet (%s)", item_id,
                        type(exc).__name__)
    return sent, failed


def outbox_has_work() -> bool:
    """Whether any released letter still owes its email (one indexed query)."""
    return bool(notifications.owed(limit=1))


@flow(name="notify-outbox", flow_run_name=lambda: f"notify-outbox-{datetime.now(UTC):%Y%m%d-%H%M%S}",
      log_prints=False)
def notify_outbox_flow(limit: int = 100) -> State:
    """One sweep of the outbox. Failed while the mail server does not take the emails (they
    stay owed for the next sweep), so an outage shows in the Prefect UI."""
    sent, failed = sweep(limit)
    counts = {"sent": sent, "still_owed": failed}
    if failed:
        return Failed(message=f"{sent} email(s) sent, {failed} still owed: the mail server did "
                              "not take them; the next sweep tries again", data=counts)
    return Completed(message=f"{sent} email(s) sent" if sent else "nothing owed", data=counts)
