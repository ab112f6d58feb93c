"""Tell a volunteer a letter is waiting: one short email with a link, nothing from the letter.

The mail says only that a letter is waiting and where to read it. No letter text, no inmate
name or number, no facility: mail servers and inboxes are outside the program's walls.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from config.settings import Settings, get_settings

log = logging.getLogger(__name__)

SUBJECT = "A letter is waiting for you"
_TIMEOUT_SECONDS = 30


def letter_link(item_id: str, settings: Settings) -> str:
    return f"{settings.base_url.rstrip('/')}/letters/{item_id}"


def build_message(volunteer_email: str, item_id: str, settings: Settings) -> EmailMessage:
    link = letter_link(item_id, settings)
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = volunteer_email
    message["Subject"] = SUBJECT
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or None)
    message.set_content(
        "Hello,\n\n"
        f"A new letter from your pen pal is waiting for you in {settings.program_name}.\n\n"
        f"Read it here (you will be asked to sign in):\n{link}\n\n"
        "For everyone's privacy this email does not contain the letter or any details about "
        "its writer.\n"
    )
    return message


def notify_letter_waiting(
    volunteer_email: str, item_id: str, *, settings: Settings | None = None
) -> None:
    """Send the "a letter is waiting" email. Does nothing when no SMTP host is configured;
    raises (smtplib.SMTPException / OSError) when sending fails, so the caller can retry."""
    settings = settings or get_settings()
    if not settings.smtp_host:
        log.debug("no smtp_host configured; not notifying about item %s", item_id)
        return
    send_message(build_message(volunteer_email, item_id, settings), settings)
    log.info("notified a volunteer about item %s", item_id)


def send_message(message: EmailMessage, settings: Settings) -> None:
    """Send one message through the configured SMTP server (callers check `smtp_host`);
    raises smtplib.SMTPException / OSError when it fails."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=_TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        refused = smtp.send_message(message)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)
