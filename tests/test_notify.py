"""The "a letter is waiting" email: a link, and nothing from the letter or about its writer."""

from __future__ import annotations

import email
import smtplib
import socket
from email import policy

import pytest

from config.settings import Settings
from postal.notify import notify_letter_waiting


def settings_for(host: str, port: int, **extra) -> Settings:
    return Settings(
        smtp_host=host,
        smtp_port=port,
        base_url="https://letters.example.org",
        smtp_from="letters@example.org",
        **extra,
    )


def test_email_has_the_link_and_no_personal_details(lb_home, smtp_server) -> None:
    """GIVEN a letter from John Smith #12345-678 waiting for a volunteer
    WHEN the volunteer is notified over SMTP
    THEN one email arrives for the volunteer with the link to the letter, and neither the
    letter's text nor the inmate's name or number is in it."""
    host, port, received = smtp_server
    notify_letter_waiting("ann@example.org", "a1b2c3d4e5f60718", settings=settings_for(host, port))
    assert len(received) == 1
    envelope = received[0]
    assert envelope.rcpt_tos == ["ann@example.org"]
    assert envelope.mail_from == "letters@example.org"
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "https://letters.example.org/letters/a1b2c3d4e5f60718" in body
    raw = envelope.content.decode("utf-8", "replace")
    for secret in ("John", "Smith", "12345-678", "12345678", "Dear"):
        assert secret not in raw


def test_without_an_smtp_host_nothing_is_sent(lb_home, smtp_server) -> None:
    """GIVEN no SMTP host configured
    WHEN a volunteer would be notified
    THEN nothing is sent and nothing fails."""
    _, _, received = smtp_server
    notify_letter_waiting("ann@example.org", "item1", settings=settings_for("", 25))
    assert received == []


def test_an_smtp_failure_raises_so_the_flow_can_retry(lb_home) -> None:
    """GIVEN an SMTP host that does not answer
    WHEN a volunteer is notified
    THEN the call raises."""
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises((OSError, smtplib.SMTPException)):
        notify_letter_waiting("ann@example.org", "item1", settings=settings_for("127.0.0.1", port))
