"""Sessions, the login limiter, password resets and the admin's roster work in Debian's chromium,
clicked through as a person would. Screenshots land in tests/artifacts/screenshots/."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from postal import roster as roster_edit
from storage.db import session_scope
from storage.models import AuditEvent, Facility, Inmate, MailItem, Match, User, UserSession, Volunteer

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 768}


def new_page(browser, headers: dict | None = None):  # playwright
    context = browser.new_context(viewport=DESKTOP, extra_http_headers=headers or {})
    context.set_default_timeout(15_000)
    return context, context.new_page()


def log_in(browser, server, email: str, password: str, headers: dict | None = None):
    context, page = new_page(browser, headers)
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    return context, page


def submit(page, form: str, button: str = "button[type=submit]") -> None:
    with page.expect_navigation():
        page.click(f"{form} {button}")


def flash(page) -> str:
    return page.locator("p.flash").first.inner_text()


def actions() -> list[str]:
    with session_scope() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# --- sessions ------------------------------------------------------------------------


def test_after_logout_back_shows_nothing_and_the_old_cookie_opens_nothing(
    world, live_server, browser, shot
) -> None:
    """GIVEN Ana reading her letter in chromium
    WHEN she logs out, presses Back, and someone replays her old cookie in another browser
    THEN Back lands on the login form without the letter; the replayed cookie leads to /login;
    a draft autosave from the old page is refused, and the editor says so."""
    context, page = log_in(browser, live_server, world.users["ana"], world.password)
    letter = f"{live_server.url}/letters/{world.ids['ana_new']}"
    page.goto(letter)
    assert "[phone removed]" in page.content()
    cookie = next(c for c in context.cookies() if c["name"] == "lb_session")
    with page.expect_navigation():
        page.click("form.logout button")
    assert "/login" in page.url
    page.go_back()
    page.wait_for_load_state()
    assert "/login" in page.url and "[phone removed]" not in page.content()
    shot(page, "admin-back-after-logout")

    thief, thief_page = new_page(browser)
    thief.add_cookies([cookie])
    thief_page.goto(letter)
    assert "/login" in thief_page.url and "[phone removed]" not in thief_page.content()
    thief.close()
    context.close()


def test_a_draft_open_when_the_session_ends_is_not_saved_and_the_writer_is_told(
    world, live_server, browser
) -> None:
    """GIVEN Ana typing a reply in the editor
    WHEN her session is ended on the server (an admin disabled her account) and she types on
    THEN autosave is refused, the editor says she is logged out and keeps her text, and the
    draft in the database holds only what was saved before."""
    from review_ui.accounts import set_active
    from storage.models import Reply

    context, page = log_in(browser, live_server, world.users["ana"], world.password)
    page.goto(f"{live_server.url}/replies/new?item_id={world.ids['ana_new']}")
    page.fill("#reply-text", "Dear José,")
    expect(page.locator("#save-state")).to_have_attribute("data-saved", re.compile(".+"))
    with session_scope() as session:
        set_active(session, world.users["ana"], active=False, actor="test")
    page.fill("#reply-text", "Dear José, written after the end")
    page.locator("#reply-text").blur()
    expect(page.locator("#save-state")).to_contain_text("logged out")
    assert page.input_value("#reply-text") == "Dear José, written after the end"
    with session_scope() as session:
        assert [r.text for r in session.scalars(select(Reply))] == ["Dear José,"]
    context.close()


def test_made_up_logins_from_one_address_do_not_lock_the_admin_out_elsewhere(
    world, live_server, browser, shot
) -> None:
    """GIVEN 50 failed logins for made-up emails from one address (through the proxy headers
    the server trusts from 127.0.0.1)
    WHEN the admin logs in from another address in chromium, and from the noisy address
    THEN elsewhere the admin reaches the dashboard at once; the noisy address is asked to wait."""
    noisy = {"X-Forwarded-For": "203.0.113.50"}
    with httpx.Client(base_url=live_server.url, headers=noisy) as client:
        for n in range(50):
            answer = client.post("/login", data={"email": f"x{n}@made.up", "password": "guess"})
            assert answer.status_code == 401, n
    context, page = log_in(browser, live_server, world.users["admin"], world.password,
                           {"X-Forwarded-For": "198.51.100.77"})
    assert page.url.endswith("/admin") and page.locator("h1").inner_text() == "Dashboard"
    context.close()
    context, page = log_in(browser, live_server, world.users["admin"], world.password, noisy)
    assert "Too many attempts" in page.content() and "/login" in page.url
    shot(page, "admin-login-limited")
    context.close()


def test_an_admin_resets_a_password_and_the_old_sessions_end(world, live_server, browser, shot):
    """GIVEN Bo logged in on his laptop
    WHEN the admin presses "Reset password" for Bo and Bo opens the link and chooses a password
    THEN the admin saw the link once; the laptop's session has ended; Bo logs in with the new one."""
    bo_context, bo_page = log_in(browser, live_server, world.users["bo"], world.password)
    admin_context, admin_page = log_in(browser, live_server, world.users["admin"], world.password)
    admin_page.goto(f"{live_server.url}/admin/users")
    row = admin_page.locator("tr", has_text=world.users["bo"])
    with admin_page.expect_navigation():
        row.locator("button", has_text="Reset password").click()
    assert admin_page.url.endswith("/admin/users")
    link = admin_page.locator("#reset-link code").inner_text()
    assert "No mail server" in flash(admin_page)
    shot(admin_page, "admin-reset-link")
    admin_page.reload()
    assert admin_page.locator("#reset-link").count() == 0  # shown once

    context, page = new_page(browser)
    page.goto(link.replace("http://127.0.0.1:8000", live_server.url))
    page.fill("input[name=password]", "bo's new long password")
    page.fill("input[name=password2]", "bo's new long password")
    submit(page, "form[action='/reset']")
    assert "/login" in page.url and "password is changed" in page.content()
    bo_page.goto(f"{live_server.url}/inbox")
    assert "/login" in bo_page.url
    again_context, again = log_in(browser, live_server, world.users["bo"], "bo's new long password")
    assert again.url.endswith("/inbox")
    for c in (bo_context, admin_context, context, again_context):
        c.close()


def test_disable_asks_for_confirmation_in_the_browser(world, live_server, browser, shot) -> None:
    """GIVEN the users page
    WHEN the admin presses Disable… for Bo
    THEN a confirmation page explains what happens; Cancel leaves him active, confirming disables."""
    context, page = log_in(browser, live_server, world.users["admin"], world.password)
    page.goto(f"{live_server.url}/admin/users")
    row = page.locator("tr", has_text=world.users["bo"])
    row.locator("a", has_text="Disable").click()
    page.wait_for_load_state()
    assert "logged out everywhere" in page.content()
    shot(page, "admin-confirm-disable")
    page.click("text=Cancel")
    page.wait_for_load_state()
    with session_scope() as session:
        assert session.scalar(select(User.active).where(User.email == world.users["bo"]))
    page.locator("tr", has_text=world.users["bo"]).locator("a", has_text="Disable").click()
    page.wait_for_load_state()
    submit(page, "#confirm-form")
    assert "disabled" in flash(page)
    with session_scope() as session:
        assert not session.scalar(select(User.active).where(User.email == world.users["bo"]))
    context.close()


# --- the roster, in the app --------------------------------------------------------------


def test_an_admin_keeps_the_roster_without_a_shell(world, live_server, browser, shot) -> None:
    """GIVEN the admin in chromium
    WHEN she adds a facility, a person there, and a volunteer; matches them; records the
    person's transfer to the old facility; ends the match; records that he left the program;
    has the volunteer leave (after a confirmation); and closes the emptied facility
    THEN each step is saved as shown, each page after a form is a redirect with a message,
    and each step is in the audit log."""
    context, page = log_in(browser, live_server, world.users["admin"], world.password)
    base = live_server.url

    page.goto(f"{base}/admin/facilities")
    page.fill("#facility-form [name=name]", "USP Florence")
    page.fill("#facility-form [name=address_line]", "5880 Highway 67")
    page.fill("#facility-form [name=city]", "Florence")
    page.fill("#facility-form [name=state]", "CO")
    page.fill("#facility-form [name=zip]", "81226")
    page.fill("#facility-form [name=system]", "federal")
    submit(page, "#facility-form")
    assert page.url.endswith("/admin/facilities") and "Saved USP Florence" in flash(page)
    shot(page, "admin-facilities")

    page.goto(f"{base}/admin/roster")
    page.click("#add-inmate")
    page.wait_for_load_state()
    page.fill("#inmate-form [name=name]", "Dee Newman")
    page.fill("#inmate-form [name=inmate_number]", "55555-001")
    page.select_option("#inmate-form [name=facility_id]", label="USP Florence")
    submit(page, "#inmate-form")
    assert "Added Dee Newman" in flash(page)
    inmate_url = page.url
    with session_scope() as session:
        dee = session.scalar(select(Inmate).where(Inmate.inmate_number == "55555-001"))
        florence_id = session.scalar(select(Facility.id).where(Facility.name == "USP Florence"))
        assert dee.facility_id == florence_id and dee.number_key == "55555001"
        dee_id = dee.id

    page.goto(f"{base}/admin/volunteers")
    page.fill("#volunteer-form [name=email]", "eve@example.org")
    page.fill("#volunteer-form [name=display_name]", "Eve S.")
    submit(page, "#volunteer-form")
    assert "Saved Eve S." in flash(page)
    shot(page, "admin-volunteer")

    page.goto(inmate_url)
    page.select_option("#match-form [name=volunteer_id]", label="Eve S. (0 pen pals)")
    submit(page, "#match-form")
    assert "Matched Dee Newman with Eve S." in flash(page)
    with session_scope() as session:
        match = session.scalar(select(Match).where(Match.inmate_id == dee_id))
        assert match.active and match.code and match.volunteer.email == "eve@example.org"

    page.select_option("#transfer-form [name=facility_id]", label="FCI Englewood")
    submit(page, "#transfer-form")
    assert "Transfer recorded" in flash(page)
    assert "FCI Englewood" in page.locator("#inmate-state").inner_text()
    shot(page, "admin-inmate")

    submit(page, "#matches", "button:has-text('End match')")
    assert "Match ended" in flash(page)
    page.select_option("#leave-form [name=reason]", "released")
    submit(page, "#leave-form")
    assert "left the program" in flash(page)
    assert "released from prison" in page.locator("#inmate-state").inner_text()
    with session_scope() as session:
        dee = session.get(Inmate, dee_id)
        assert (dee.active, dee.status) == (False, "released")
        assert not session.scalar(select(Match.active).where(Match.inmate_id == dee_id))

    page.goto(f"{base}/admin/volunteers")
    page.click("text=Eve S.")
    page.wait_for_load_state()
    page.click("#volunteer-leaves")
    page.wait_for_load_state()
    assert "waiting list" in page.content()
    submit(page, "#confirm-form")
    assert "Eve S. has left" in flash(page)
    with session_scope() as session:
        assert not session.scalar(select(Volunteer.active).where(Volunteer.email == "eve@example.org"))

    page.goto(f"{base}/admin/facilities")
    submit(page, "tr:has-text('USP Florence') form")
    assert "Facility closed" in flash(page)
    with session_scope() as session:
        assert not session.get(Facility, florence_id).active

    done = actions()
    for action in ["facility_added", "inmate_added", "volunteer_added", "match_started",
                   "inmate_transferred", "match_ended", "inmate_left", "volunteer_left",
                   "facility_closed"]:
        assert action in done, action
    context.close()


def test_a_writer_without_a_pen_pal_is_found_one_from_the_waiting_list(
    world, live_server, browser, shot
) -> None:
    """GIVEN José (matched with Ana) and Lee (matched with Bo), and an unrouted letter from a
    new writer, Finn, added to the roster a day ago; then Lee's match ends
    WHEN the admin opens the waiting list, and follows "find this writer a pen pal" from the
    mailroom's link for Finn's letter (?inmate=&item=), picks Bo and presses Match
    THEN the list shows Finn before Lee (oldest wait first) and not José; after the match Finn
    leaves the list, the page offers to route the letter, and routing it names Finn as sender."""
    from datetime import timedelta

    from storage.models import utcnow

    with session_scope() as session:
        day_ago = utcnow() - timedelta(days=1)
        finn = Inmate(name="Finn Ode", inmate_number="99999-123", number_key="99999123",
                      created_at=day_ago, waiting_since=day_ago)
        session.add(finn)
        # The envelope of the unrouted letter names him (he wasn't on the roster when it came).
        letter = session.get(MailItem, world.ids["unrouted"])
        letter.sender_name, letter.sender_number = "Finn Ode", "99999-123"
        lee_match = session.scalar(select(Match).where(Match.inmate_id == world.inmate_ids["lee"]))
        roster_edit.end_match(session, lee_match.id, actor="admin@example.org")
        session.flush()
        finn_id = finn.id
    letter_id = world.ids["unrouted"]

    context, page = log_in(browser, live_server, world.users["admin"], world.password)
    page.goto(f"{live_server.url}/admin/waiting")
    names = page.locator("#waiting-list tbody tr td:nth-child(2)").all_inner_texts()
    assert names == ["Finn Ode", "Lee Walker"]
    shot(page, "admin-waiting")

    page.goto(f"{live_server.url}/admin/waiting?inmate={finn_id}&item={letter_id}")
    assert "Find a pen pal for Finn Ode" in page.locator("#find-pen-pal").inner_text()
    options = page.locator("#waiting-match-form option").all_inner_texts()
    assert options[0].startswith("Bo K. (0 pen pals)")  # the least busy volunteer first
    page.select_option("#waiting-match-form [name=volunteer_id]", label="Bo K. (0 pen pals)")
    submit(page, "#waiting-match-form")
    assert "Matched Finn Ode with Bo K." in flash(page)
    assert page.locator("#waiting-list tbody tr td:nth-child(2)").all_inner_texts() == ["Lee Walker"]
    shot(page, "admin-waiting-matched")
    submit(page, "#route-letter")
    assert page.url.split("#")[0].endswith(f"/letters/{letter_id}")  # at its sender section
    with session_scope() as session:
        item = session.get(MailItem, letter_id)
        assert item.inmate_id == finn_id and item.volunteer.email == world.users["bo"]
    assert "match_started" in actions()
    context.close()


def test_inviting_a_pen_pal_not_in_the_roster_adds_the_volunteer_on_the_way(
    world, live_server, browser, shot
) -> None:
    """GIVEN no volunteer with the email gil@example.org
    WHEN the admin invites Gil as a pen pal in chromium
    THEN the page keeps the typed email and offers to add him; with a display name he is added,
    invited, and the invitation link is shown after a redirect."""
    context, page = log_in(browser, live_server, world.users["admin"], world.password)
    page.goto(f"{live_server.url}/admin/users")
    page.fill("#invite-form [name=email]", "gil@example.org")
    submit(page, "#invite-form")
    assert page.input_value("#invite-form [name=email]") == "gil@example.org"
    shot(page, "admin-invite-offer")
    page.fill("#add-volunteer-and-invite [name=display_name]", "Gil T.")
    submit(page, "#add-volunteer-and-invite")
    assert page.url.endswith("/admin/users")
    assert "/login?invite=" in page.locator("#invite-link").inner_text()
    with session_scope() as session:
        gil = session.scalar(select(User).where(User.email == "gil@example.org"))
        assert gil.volunteer.display_name == "Gil T."
    context.close()


def test_the_dashboard_links_to_prefect_and_the_audit_log_pages_by_date(
    world, live_server, browser, app, shot
) -> None:
    """GIVEN prefect_ui_url set and no failed flow runs; 110 audit events on one day five days
    ago and 20 on each day either side
    WHEN the admin opens the dashboard, then the audit log filtered to that day
    THEN the dashboard links to the Prefect UI; the log shows that day's events only, 50 a page
    (50, 50, 10), and each next page keeps the filter."""
    from datetime import timedelta

    from storage.models import utcnow

    app.state.settings = app.state.settings.model_copy(
        update={"prefect_ui_url": "http://prefect.example:4200"})
    middle_day = utcnow().replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=5)
    with session_scope() as session:
        for offset, count in [(-1, 20), (0, 110), (1, 20)]:
            for n in range(count):
                session.add(AuditEvent(actor="test", action="probe", detail={"n": n},
                                       at=middle_day + timedelta(days=offset, minutes=n)))
    context, page = log_in(browser, live_server, world.users["admin"], world.password)
    assert page.locator("#prefect-ui").get_attribute("href") == "http://prefect.example:4200"
    middle = middle_day.date().isoformat()
    page.goto(f"{live_server.url}/admin/audit")
    page.fill("#audit-filter [name=date_from]", middle)
    page.fill("#audit-filter [name=date_to]", middle)
    with page.expect_navigation():
        page.click("#audit-filter button")
    shot(page, "admin-audit")
    counts = []
    for _ in range(5):  # three pages expected; a pager that loops fails instead of hanging
        days = page.locator("table.audit tbody tr td:first-child time").evaluate_all(
            "times => times.map((t) => t.getAttribute('datetime'))")  # the UTC moment
        assert days and all(d.startswith(middle) for d in days), days
        counts.append(len(days))
        if not page.locator("a[rel=next]").count():
            break
        with page.expect_navigation():
            page.click("a[rel=next]")
        assert f"date_from={middle}" in page.url and f"date_to={middle}" in page.url
    assert counts == [50, 50, 10]
    context.close()


def test_session_rows_record_logins_and_logouts(world, live_server, browser) -> None:
    """GIVEN the mailroom volunteer logging in and out in chromium
    WHEN the sessions table is read
    THEN it holds one row, ended by logout, with no readable address in it."""
    context, page = log_in(browser, live_server, world.users["mailroom"], world.password)
    with page.expect_navigation():
        page.click("form.logout button")
    with session_scope() as session:
        rows = list(session.scalars(select(UserSession)))
    assert [(r.end_reason, r.ended_at is not None) for r in rows] == [("logout", True)]
    assert not re.search(r"127\.0\.0\.1", rows[0].address_key)
    context.close()


def test_a_letter_from_someone_not_on_the_roster_to_a_pen_pal_in_a_few_clicks(
    world, live_server, browser, shot
) -> None:
    """GIVEN an unrouted letter whose envelope reads "Hal Ruiz 44444-555", nobody on the roster
    WHEN the admin follows the mailroom's link (/admin/waiting?item=<letter>), adds Hal from the
    envelope's details, picks Bo and routes the letter
    THEN the add form came filled from the envelope, the match page came next, and the letter
    is routed to Bo with Hal as its sender."""
    with session_scope() as session:
        letter = session.get(MailItem, world.ids["unrouted"])
        letter.sender_name, letter.sender_number = "Hal Ruiz", "44444-555"
    context, page = log_in(browser, live_server, world.users["admin"], world.password)
    page.goto(f"{live_server.url}/admin/waiting?item={world.ids['unrouted']}")
    assert "Hal Ruiz" in page.locator("#letter-writer").inner_text()
    assert page.locator("#candidates").count() == 0
    shot(page, "admin-waiting-letter")
    page.click("#add-writer")
    page.wait_for_load_state()
    assert page.input_value("#inmate-form [name=name]") == "Hal Ruiz"
    assert page.input_value("#inmate-form [name=inmate_number]") == "44444-555"
    page.select_option("#inmate-form [name=facility_id]", label="FCI Englewood")
    submit(page, "#inmate-form")
    assert "/admin/waiting?inmate=" in page.url and "Now find them a pen pal" in flash(page)
    page.select_option("#waiting-match-form [name=volunteer_id]", label="Bo K. (1 pen pal)")
    submit(page, "#waiting-match-form")
    submit(page, "#route-letter")
    with session_scope() as session:
        item = session.get(MailItem, world.ids["unrouted"])
        assert item.inmate.name == "Hal Ruiz" and item.volunteer.email == world.users["bo"]
    context.close()


def test_a_letter_whose_writer_is_on_the_roster_offers_that_writer(world, client_for) -> None:
    """GIVEN an unrouted letter whose envelope carries José's number
    WHEN the admin opens the waiting list for it
    THEN José is offered, marked as already writing with Ana (so no second match is offered)."""
    with session_scope() as session:
        session.get(MailItem, world.ids["unrouted"]).sender_number = "12345-678"
    page = client_for("admin").get(f"/admin/waiting?item={world.ids['unrouted']}")
    assert page.status_code == 200
    assert "José Martínez" in page.text and "writes with Ana P." in page.text
    assert f"/admin/waiting?inmate={world.inmate_ids['jose']}" not in page.text
