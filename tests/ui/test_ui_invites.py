"""Invitation links run out (settings.invite_days); an expired one says so in words and is
audited, and an admin makes a new one from the Users page."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.db import session_scope
from storage.models import AuditEvent, User, utcnow

LINK = re.compile(r"(/login\?invite=[\w-]+)")
NEW_PASSWORD = "a password of my own"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def invite(admin, email_address: str, role: str = "mailroom") -> str:
    """Invite someone as the admin would; returns the link the Users page shows once."""
    answer = admin.post("/admin/users/invite", data={
        "email": email_address, "role": role, "csrf_token": csrf_of(admin.get("/admin/users").text)})
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/users"
    return LINK.search(admin.get("/admin/users").text).group(1)


def run_out(email_address: str) -> None:
    with session_scope() as session:
        user = session.scalar(select(User).where(User.email == email_address))
        user.invite_expires_at = utcnow() - timedelta(minutes=1)


def audited(action: str) -> list[dict]:
    with session_scope() as session:
        return [e.detail for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def test_an_invitation_runs_out_after_the_configured_days(world, app, client_for) -> None:
    """GIVEN invitations set to last 3 days
    WHEN the admin invites Dee
    THEN her account's link runs out 3 days from now, the admin is told how long it works, and
    the Users page says until when."""
    app.state.settings = app.state.settings.model_copy(update={"invite_days": 3})
    admin = client_for("admin")
    before = utcnow()
    invite(admin, "dee@example.org")
    with session_scope() as session:
        expires = session.scalar(select(User.invite_expires_at)
                                 .where(User.email == "dee@example.org"))
    assert before + timedelta(days=3) <= expires <= utcnow() + timedelta(days=3)
    users = admin.get("/admin/users").text
    assert "link works until" in users
    assert audited("user_invited")[-1]["days"] == 3


def test_an_expired_invitation_says_so_in_words_and_is_audited(world, client_for) -> None:
    """GIVEN Dee's invitation, past its expiry
    WHEN she opens the link, and posts a password with it anyway
    THEN both answers are 410 pages saying the invitation has expired and to ask the program
    for a new one (no password form); no password is set; each attempt is audited with her
    account's id, not her email in the detail."""
    admin = client_for("admin")
    link = invite(admin, "dee@example.org")
    run_out("dee@example.org")
    dee = client_for()
    page = dee.get(link)
    assert page.status_code == 410
    assert "This invitation has expired; ask the program to send a new one." in page.text
    assert 'name="password"' not in page.text
    login_page = dee.get("/login")
    posted = dee.post("/login", data={"invite": link.split("=", 1)[1], "password": NEW_PASSWORD,
                                      "password2": NEW_PASSWORD,
                                      "csrf_token": csrf_of(login_page.text)})
    assert posted.status_code == 410 and "has expired" in posted.text
    with session_scope() as session:
        user = session.scalar(select(User).where(User.email == "dee@example.org"))
        assert user.password_hash == "" and user.invite_token is not None
        user_id = user.id
    assert audited("invite_link_expired") == [{"user_id": user_id}] * 2
    # An unknown link is still a plain "not valid", not an expiry.
    assert client_for().get("/login?invite=made-up-token").status_code == 404


def test_the_admin_makes_a_new_link_and_only_that_one_works(world, app, client_for,
                                                            smtp_server) -> None:
    """GIVEN Dee's expired invitation (emailed to her when she was invited), and a mail server
    WHEN the admin presses "New invitation link" on the Users page
    THEN the answer is a redirect (PRG) to the Users page, which shows the new link once and
    says it was emailed; Dee's mail holds it; the old link is refused, the new one lets her
    choose a password and log in; the re-issue is audited; a second reload shows no link."""
    host, port, received = smtp_server
    app.state.settings = app.state.settings.model_copy(
        update={"smtp_host": host, "smtp_port": port})
    admin = client_for("admin")
    old = invite(admin, "dee@example.org")
    run_out("dee@example.org")
    users = admin.get("/admin/users").text
    assert "invitation expired" in users
    with session_scope() as session:
        dee_id = session.scalar(select(User.id).where(User.email == "dee@example.org"))
    assert f'action="/admin/users/{dee_id}/invite"' in users

    answer = admin.post(f"/admin/users/{dee_id}/invite", data={"csrf_token": csrf_of(users)})
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/users"
    shown = admin.get("/admin/users").text
    new = LINK.search(shown).group(1)
    assert new != old and "emailed" in shown and "New invitation for dee@example.org" in shown
    assert LINK.search(admin.get("/admin/users").text) is None
    first, mail = received  # the first invitation was emailed too, then the new one
    body = email.message_from_bytes(mail.content, policy=email.policy.default).get_content()
    assert new in body and mail.rcpt_tos == ["dee@example.org"]
    assert old in email.message_from_bytes(first.content,
                                           policy=email.policy.default).get_content()

    assert client_for().get(old).status_code == 404
    dee = client_for()
    form = dee.get(new)
    assert form.status_code == 200 and "dee@example.org" in form.text
    done = dee.post("/login", data={"invite": new.split("=", 1)[1], "password": NEW_PASSWORD,
                                    "password2": NEW_PASSWORD, "csrf_token": csrf_of(form.text)})
    assert done.status_code == 303
    assert dee.get("/mailroom").status_code == 200
    assert audited("invite_reissued") == [{"user_id": dee_id, "days": 7}]


def test_no_new_invitation_for_someone_who_has_a_password(world, client_for) -> None:
    """GIVEN Bo, who has a password
    WHEN an admin asks for a new invitation link for him
    THEN it is refused with a message pointing to the password reset; his account is as it was."""
    admin = client_for("admin")
    with session_scope() as session:
        bo_id = session.scalar(select(User.id).where(User.email == world.users["bo"]))
    users = admin.get("/admin/users").text
    assert f'action="/admin/users/{bo_id}/invite"' not in users
    answer = admin.post(f"/admin/users/{bo_id}/invite", data={"csrf_token": csrf_of(users)})
    assert answer.status_code == 303
    assert "start a password reset instead" in admin.get("/admin/users").text
    with session_scope() as session:
        assert session.get(User, bo_id).invite_token is None
    assert audited("invite_reissued") == []


@pytest.mark.browser
def test_in_the_browser_an_expired_link_explains_and_the_admin_sends_a_new_one(
    world, live_server, browser, shot, sign_in
) -> None:
    """GIVEN Dee's invitation, past its expiry
    WHEN she opens it on a phone, and the admin presses "New invitation link" on the Users page
    THEN her page says in words that it has expired and to ask for a new one, and fits the
    screen; the admin lands back on the Users page showing the new link, which opens the
    password form."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in(page, "admin")
    page.goto(f"{live_server.url}/admin/users")
    page.fill("#invite-form [name=email]", "dee@example.org")
    page.select_option("#invite-form [name=role]", "mailroom")
    with page.expect_navigation():
        page.click("#invite-form button[type=submit]")
    old = LINK.search(page.locator("#invite-link").inner_text()).group(1)
    run_out("dee@example.org")

    phone = browser.new_context(viewport={"width": 390, "height": 844})
    dee = phone.new_page()
    answer = dee.goto(f"{live_server.url}{old}")
    assert answer.status == 410
    assert "ask the program to send a new one" in dee.locator("#invite-expired").inner_text()
    assert dee.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    shot(dee, "phone-invite-expired")

    page.goto(f"{live_server.url}/admin/users")
    row = page.locator("tr", has_text="dee@example.org")
    assert "invitation expired" in row.inner_text()
    with page.expect_navigation():
        row.locator(".reissue-invite button").click()
    assert page.url.endswith("/admin/users")
    new = LINK.search(page.locator("#invite-link").inner_text()).group(1)
    shot(page, "admin-invite-reissued")
    assert dee.goto(f"{live_server.url}{new}").status == 200
    assert dee.locator("input[name=password2]").count() == 1
    phone.close()
    context.close()
