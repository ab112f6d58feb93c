"""Staff and admin pages show times through _time.html: a <time> carrying the UTC moment,
whose text says UTC without JavaScript and the reader's own clock, zone named, with it."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import select

from postal import roster
from storage.db import session_scope
from storage.models import AuditEvent, ItemStatus, MailItem, Match, Reply, SourceFile, User, Volunteer

# A date and time as the pages print one; every one must be a <time> saying UTC.
STAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?(?P<label> UTC</time>)?")
TIME_TAG = re.compile(r'<time class="local" datetime="\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"')
KNOWN = datetime(2026, 7, 4, 18, 30, 15)  # 12:30 in Denver (MDT, UTC-6)


def labelled(html: str) -> int:
    """How many times the page shows; fails on one that does not name its zone."""
    stamps = list(STAMP.finditer(html))
    bare = [m.group(0) for m in stamps if not m.group("label")]
    assert not bare, f"times without a zone: {bare}"
    assert len(TIME_TAG.findall(html)) >= len(stamps)
    return len(stamps)


@pytest.fixture
def history(world) -> dict[str, int]:
    """Lee's match with Bo ended (Lee waits), a reply from Bo submitted, all at KNOWN."""
    with session_scope() as session:
        lee = world.inmate_ids["lee"]
        match = session.scalar(select(Match).where(Match.inmate_id == lee))
        roster.end_match(session, match.id, actor=world.users["admin"])
        session.flush()
        match.created_at = match.ended_at = KNOWN
        match.inmate.waiting_since = KNOWN
        bo = session.scalar(select(Volunteer).where(Volunteer.email == world.users["bo"]))
        session.add(Reply(inmate_id=lee, volunteer_id=bo.id, text="Dear Lee,",
                          status="submitted", submitted_at=KNOWN))
        session.scalar(select(User).where(User.email == world.users["bo"])).last_login_at = KNOWN
        session.add(AuditEvent(at=KNOWN, actor="system", action="known_moment"))
        return {"lee": lee, "bo": bo.id}


def test_every_time_on_the_staff_and_admin_pages_names_its_zone(history, client_for) -> None:
    """GIVEN a match that ended, a writer waiting, a submitted reply, a login and an audit event,
    each at 18:30:15 UTC
    WHEN the admin opens the audit log, users, waiting list, the writer's and the volunteer's
    pages, and the mailroom opens the replies to approve
    THEN every date and time printed is a <time> with the UTC moment in `datetime` and "UTC"
    in its text (what a browser without JavaScript shows); the audit log's to the second."""
    admin, mailroom = client_for("admin"), client_for("mailroom")
    pages = {
        "/admin/audit": admin,
        "/admin/users": admin,
        "/admin/waiting": admin,
        f"/admin/inmates/{history['lee']}": admin,
        f"/admin/volunteers/{history['bo']}": admin,
        "/mailroom/replies": mailroom,
    }
    for path, client in pages.items():
        html = client.get(path).text
        assert labelled(html) >= 1, path
        assert '<time class="local" datetime="2026-07-04T18:30:15Z"' in html, path
    audit = admin.get("/admin/audit?action=known_moment").text
    assert ('<time class="local" datetime="2026-07-04T18:30:15Z" data-seconds>'
            "2026-07-04 18:30:15 UTC</time>") in audit
    assert "2026-07-04 18:30 UTC</time>" in admin.get("/admin/waiting").text



def test_the_mailroom_queue_letter_and_quarantine_name_the_zone(world, client_for) -> None:
    """GIVEN letters waiting in the queue and a quarantined file
    WHEN the mailroom opens the queue, a held letter and the quarantine list
    THEN each time printed names its zone: the letter's and the quarantined file's arrival as a
    <time> saying UTC, the queue's "waited" with the UTC moment as its tooltip."""
    mailroom = client_for("mailroom")
    letter = mailroom.get(f"/letters/{world.ids['unrouted']}").text
    assert labelled(letter) >= 1
    queue = mailroom.get("/mailroom").text
    assert re.search(r'title="\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC"', queue)
    with session_scope() as session:
        source = SourceFile(sha256="f" * 64, filename="scan.pdf", size=1, blob_key="k",
                            status="quarantined", error="the file is empty (0 bytes)",
                            created_at=KNOWN)
        session.add(source)
        session.flush()
        session.add(MailItem(source_id=source.id, status=ItemStatus.quarantined,
                             quarantine_reason="the file is empty (0 bytes)"))
    quarantine = mailroom.get("/mailroom/quarantine").text
    assert labelled(quarantine) >= 1
    assert '<time class="local" datetime="2026-07-04T18:30:15Z"' in quarantine

@pytest.mark.browser
def test_the_browser_shows_the_readers_clock_and_zone(history, browser, live_server,
                                                      world, sign_in) -> None:
    """GIVEN the waiting list and audit log with moments at 18:30:15 UTC
    WHEN the admin reads them in a browser set to Denver time
    THEN they show Denver's clock with the zone named (MDT), the audit log to the second,
    and the UTC text stays as the tooltip."""
    context = browser.new_context(timezone_id="America/Denver", locale="en-US")
    page = context.new_page()
    sign_in(page, "admin")
    page.goto(f"{live_server.url}/admin/waiting")
    shown = page.locator("#waiting-list time").first
    assert shown.inner_text() == "Jul 4, 2026, 12:30 PM MDT"
    assert shown.get_attribute("title") == "2026-07-04 18:30 UTC"
    page.goto(f"{live_server.url}/admin/audit?action=known_moment")
    assert page.locator("table.audit time").first.inner_text() == "Jul 4, 2026, 12:30:15 PM MDT"
    context.close()
