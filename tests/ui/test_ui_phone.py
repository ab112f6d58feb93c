"""Every page a person can reach, on a phone (390×844) and a laptop (1366×768): nothing runs off
the side, and axe-core finds nothing critical or serious. Each page's screenshot at each size
lands in tests/artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from letters.intake import quarantine_source
from postal import replies
from review_ui import accounts, uploads
from storage.blobs import get_blob_store
from storage.db import session_scope
from storage.models import Facility, SourceFile, User, Volunteer, utcnow

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1366, "height": 768}}
BLOCKING = ("critical", "serious")


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make setup-test` installs it from package-lock.json")
    return AXE.read_text()


@pytest.fixture
def a_submitted_reply(world) -> str:
    """Ana's reply to José, submitted: the mailroom's replies page and its approval page."""
    with session_scope() as session:
        ana = session.query(Volunteer).filter_by(email=world.users["ana"]).one()
        reply = replies.save_draft(
            session,
            volunteer_id=ana.id,
            text="Dear José,\n\nThe tomatoes sound wonderful. Write soon.\n\nAna",
            item_id=world.ids["ana_read"],
            actor=world.users["ana"],
        )
        session.flush()
        replies.submit(session, reply.id, actor=world.users["ana"])
        return reply.id


def pages_of(role: str, world, reply_id: str) -> dict[str, str]:
    """name -> address of every page `role` reaches from its menus (and the letters in them)."""
    ids, jose = world.ids, world.inmate_ids["jose"]
    if role == "penpal":
        return {
            "inbox": "/inbox",
            "letter": f"/letters/{ids['ana_new']}",
            "replies": "/replies",
            "reply-new": f"/replies/new?inmate_id={jose}",
            "reply": f"/replies/{reply_id}",
            "pen-pals": "/correspondence",
            "thread": f"/correspondence/{jose}",
        }
    mailroom = {
        "queue": "/mailroom",
        "letter": f"/letters/{ids['ana_review']}",
        "letter-unrouted": f"/letters/{ids['unrouted']}",
        "letter-roster-search": f"/letters/{ids['unrouted']}?sender_q=Mart",
        "upload": "/mailroom/upload",
        "replies": "/mailroom/replies",
        "reply": f"/replies/{reply_id}",
        "quarantine": "/mailroom/quarantine",
    }
    if role == "mailroom":
        _a_quarantined_file()  # so the quarantine page shows its table, buttons and reason
        token, folder = uploads.new_upload_dir()  # an upload's progress page
        saved = uploads.save_bytes(folder, "scan.pdf", b"%PDF-1.4 a scan")
        uploads.write_manifest(folder, world.users["mailroom"], [saved])
        return {**mailroom, "upload-progress": f"/mailroom/uploads/{token}"}
    with session_scope() as session:
        volunteer = session.query(Volunteer).filter_by(email=world.users["bo"]).one().id
        facility = session.query(Facility).one().id
        user = session.query(User).filter_by(email=world.users["bo"]).one().id
    return {
        "dashboard": "/admin",
        "roster": "/admin/roster",
        "inmate": f"/admin/inmates/{jose}",
        "waiting": "/admin/waiting",
        "waiting-for-one": f"/admin/waiting?inmate={jose}&item={ids['unrouted']}",
        "facilities": "/admin/facilities",
        "volunteers": "/admin/volunteers",
        "volunteer": f"/admin/volunteers/{volunteer}",
        "facility": f"/admin/facilities/{facility}",
        "users": "/admin/users",
        "disable-confirm": f"/admin/users/{user}/disable",
        "audit": "/admin/audit",
        "letter": f"/letters/{ids['ana_new']}",
    }


def links_by_email(world, size: str) -> dict[str, tuple[str, int]]:
    """name -> (address, status) of the pages an emailed link opens: an invitation, one that
    has run out, a password reset."""
    with session_scope() as session:
        _, invite = accounts.invite_user(session, email=f"new-{size}@example.org",
                                         role="mailroom", actor="admin", days=7)
        old, expired = accounts.invite_user(session, email=f"late-{size}@example.org",
                                            role="mailroom", actor="admin", days=7)
        old.invite_expires_at = utcnow() - timedelta(days=1)
        bo = session.query(User).filter_by(email=world.users["bo"]).one()
        reset = accounts.start_password_reset(session, bo, actor="admin", hours=24)
    return {"invitation": (f"/login?invite={invite}", 200),
            "invitation-expired": (f"/login?invite={expired}", 410),
            "password-reset": (f"/reset?token={reset}", 200)}


def _a_quarantined_file() -> None:
    data = b"%PDF-1.4 damaged"
    with session_scope() as session:
        source = SourceFile(sha256=hashlib.sha256(data).hexdigest(), filename="scan-17.pdf",
                            size=len(data), blob_key=get_blob_store().put("originals/x", data))
        session.add(source)
        session.flush()
        source_id = source.id
    quarantine_source(source_id, "corrupt_file", "the PDF is damaged (truncated)")


def check(page, axe_source: str) -> list[str]:
    """What is wrong with the page as shown: sideways overflow, axe's critical and serious."""
    problems = []
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth"
    )
    if overflow > 0:
        wide = page.evaluate(
            """() => Array.from(document.querySelectorAll('body *'))
                 .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
                 .slice(0, 3).map((e) => e.tagName.toLowerCase() + '.' + e.className)"""
        )
        problems.append(f"scrolls sideways by {overflow} px ({', '.join(wide)})")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the debugger, not as a <script>: the app's CSP stays on.
        page.evaluate(axe_source)
    result = page.evaluate(
        "async () => (await axe.run(document, { resultTypes: ['violations'] })).violations"
        ".map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }))"
    )
    for violation in result:
        if violation["impact"] in BLOCKING:
            problems.append(
                f"axe {violation['impact']} {violation['id']}: {', '.join(violation['nodes'][:4])}"
            )
    return problems


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("role", ["penpal", "mailroom", "admin"])
def test_every_page_fits_the_screen_and_passes_axe(
    browser, live_server, world, a_submitted_reply, axe_source, shot, role: str, size: str
) -> None:
    """GIVEN letters in every state, a submitted reply, and a person of each role
    WHEN they open each page their menus lead to, on a phone and on a laptop
    THEN no page is wider than the screen, and axe-core reports no critical or serious
    violation (labels, contrast, focusable scroll boxes, names of buttons and links ...)."""
    context = browser.new_context(viewport=SIZES[size])
    context.set_default_timeout(15_000)
    page = context.new_page()
    found: dict[str, list[str]] = {}

    page.goto(f"{live_server.url}/login")
    found["login"] = check(page, axe_source)
    shot(page, f"{size}-login")
    if role == "penpal":  # once per size: the form again, saying the password was wrong
        page.fill("input[name=email]", world.users["ana"])
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        found["login-refused"] = check(page, axe_source)
        shot(page, f"{size}-login-refused")
        # The pages a link in an email opens, before anyone is logged in.
        for name, (address, status) in links_by_email(world, size).items():
            assert page.goto(f"{live_server.url}{address}").status == status, address
            found[name] = check(page, axe_source)
            shot(page, f"{size}-{name}")
        page.goto(f"{live_server.url}/login")
    email = world.users["ana" if role == "penpal" else role]
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", world.password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url

    for name, address in pages_of(role, world, a_submitted_reply).items():
        response = page.goto(f"{live_server.url}{address}")
        assert response.ok, f"{address}: {response.status}"
        page.wait_for_load_state("networkidle")
        found[name] = check(page, axe_source)
        shot(page, f"{size}-{role}-{name}")
    # What a mistyped address shows.
    assert page.goto(f"{live_server.url}/letters/0000000000000000").status == 404
    found["not-found"] = check(page, axe_source)
    shot(page, f"{size}-{role}-not-found")
    context.close()
    problems = {name: p for name, p in found.items() if p}
    assert not problems, "\n".join(f"{name}: {'; '.join(p)}" for name, p in problems.items())
