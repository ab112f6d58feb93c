"""The notification outbox: a mail server that is down for minutes costs the emails minutes,
never the emails, and each letter's email goes out once."""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from conftest import free_port
from test_exactly_once import start, stop, wait_until
from test_intake import import_roster, write_letters
from typer.testing import CliRunner

from config.settings import reset_settings
from letterbridge.cli import app
from letters import notifications
from storage.db import session_scope
from storage.models import ItemStatus, MailItem, SourceFile, Volunteer, utcnow

# flows.* (Prefect) is imported inside the tests: imported before the `prefect_api` fixture
# sets PREFECT_API_URL, Prefect would try a temporary server of its own.


class MailServer:
    """aiosmtpd on a fixed port that can be down (nobody listening) or up."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list = []
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(envelope)
        return "250 OK"

    def up(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def mail_server_down(lb_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    """Letterbridge configured for a mail server on a port where, for now, nobody listens."""
    server = MailServer(free_port())
    monkeypatch.setenv("LETTERBRIDGE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("LETTERBRIDGE_SMTP_PORT", str(server.port))
    monkeypatch.setenv("LETTERBRIDGE_BASE_URL", "https://letters.example.org")
    reset_settings()
    try:
        yield server
    finally:
        server.down()


def released_while_mail_is_down(tmp_path: Path) -> tuple[str, str]:
    """One letter ingested through the CLI while the mail server is down: released, but its
    email did not go out (the letter's flow tried, and gave up after its retries).
    Returns (the letter's id, its pen pal's email address)."""
    roster = import_roster(tmp_path)
    [letter] = write_letters(roster, tmp_path / "scans", 1, seed=300)
    result = CliRunner().invoke(app, ["ingest", str(letter)])
    assert result.exit_code == 0, result.output
    with session_scope() as session:
        [item] = session.query(MailItem).all()
        assert item.status == ItemStatus.released, (item.status, item.review_reasons)
        assert item.notified_at is None
        assert item.notify_attempts >= 1  # the flow did try
        return item.id, item.volunteer.email


def links(server: MailServer) -> list[tuple[list[str], str]]:
    out = []
    for envelope in server.received:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        out.append((envelope.rcpt_tos, message.get_body(preferencelist=("plain",)).get_content()))
    return out


@pytest.mark.prefect
def test_an_email_the_mail_server_did_not_take_is_sent_once_by_the_next_sweep(
        prefect_api: str, mail_server_down: MailServer, tmp_path: Path) -> None:
    """GIVEN the mail server down (its port closed) when a letter is released by the flow
    THEN no email went out and the letter is owed in the outbox;
    WHEN the server is back and the outbox is swept THEN exactly one email goes to the pen
    pal with the link to the letter; WHEN swept again THEN still exactly one."""
    from flows.outbox import notify_outbox_flow, outbox_has_work

    server = mail_server_down
    item_id, pen_pal = released_while_mail_is_down(tmp_path)
    assert server.received == []
    assert notifications.owed() == [item_id]
    assert outbox_has_work()
    state = notify_outbox_flow(return_state=True)  # still down: a failed sweep loses nothing
    assert state.is_failed() and "1 still owed" in state.message
    assert notifications.owed() == [item_id]

    server.up()
    state = notify_outbox_flow(return_state=True)
    assert state.is_completed() and state.message == "1 email(s) sent", state.message
    [(rcpt, body)] = links(server)
    assert rcpt == [pen_pal]
    assert f"https://letters.example.org/letters/{item_id}" in body

    state = notify_outbox_flow(return_state=True)
    assert state.message == "nothing owed"
    assert len(server.received) == 1
    assert not outbox_has_work()
    with session_scope() as session:
        assert session.get(MailItem, item_id).notified_at is not None


@pytest.mark.prefect
def test_the_worker_sends_what_was_owed_once_the_mail_server_is_back(
        prefect_api: str, mail_server_down: MailServer, tmp_path: Path) -> None:
    """GIVEN a letter released while the mail server is down, and `letterbridge worker`
    running (it looks at the outbox every 2 s here, every minute by default)
    WHEN the server stays down THEN its sweeps fail visibly in Prefect and send nothing;
    WHEN the server comes back THEN the worker sends the email by itself, and over the
    sweeps that follow the pen pal still has exactly one."""
    from flows.outbox import outbox_has_work

    server = mail_server_down
    item_id, pen_pal = released_while_mail_is_down(tmp_path)
    log = tmp_path / "worker.log"
    worker = start(["worker", "--poll", "1", "--notify-every", "2"], log)
    try:
        wait_until(lambda: "FAILED" in outbox_run_states(prefect_api), 180,
                   "a sweep that fails while the mail server is down", worker, log)
        assert server.received == []
        server.up()
        wait_until(lambda: len(server.received) >= 1, 120, "the email", worker, log)
        sweeps_before = len(outbox_run_states(prefect_api))
        time.sleep(10)  # five more looks at the outbox
        assert len(server.received) == 1
        assert not outbox_has_work()
        # Nothing owed: the worker starts no sweep just to find that out.
        assert len(outbox_run_states(prefect_api)) <= sweeps_before + 1
    finally:
        stop(worker)
    [(rcpt, body)] = links(server)
    assert rcpt == [pen_pal] and item_id in body


def test_a_sweep_stops_at_a_mail_server_that_is_down_and_keeps_every_email_owed(
        lb_home: Path, mail_server_down: MailServer) -> None:
    """GIVEN three released letters owed an email and the mail server down
    WHEN the outbox is swept THEN it tries once, not once per letter (the server, not a
    letter, failed), and all three stay owed with their claims given back."""
    from flows.outbox import sweep

    with session_scope() as session:
        volunteer = Volunteer(display_name="Ann Example", email="ann@example.org")
        source = SourceFile(sha256="0" * 64, filename="scan.pdf", size=1, blob_key="k")
        session.add_all([volunteer, source])
        session.flush()
        for n in range(3):
            session.add(MailItem(source_id=source.id, first_source_page=n + 1,
                                 status=ItemStatus.released,
                                 volunteer_id=volunteer.id, released_at=utcnow()))
    assert sweep() == (0, 3)
    with session_scope() as session:
        items = session.query(MailItem).order_by(MailItem.released_at).all()
        assert [i.notify_attempts for i in items] == [1, 0, 0]
        assert all(i.notify_claimed_at is None and i.notified_at is None for i in items)
    assert len(notifications.owed()) == 3


def outbox_run_states(api: str) -> list[str]:
    from flows.deployments import host_name

    deployment = httpx.get(f"{api}/deployments/name/notify-outbox/{host_name()}").json()
    if "id" not in deployment:
        return []
    runs = httpx.post(f"{api}/flow_runs/filter", json={
        "deployments": {"id": {"any_": [deployment["id"]]}}}).json()
    return [r["state_type"] for r in runs]
