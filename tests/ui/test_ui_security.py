"""The web app's security promises over HTTP: sessions, roles, 404s, CSRF, rate limit, audit."""

from __future__ import annotations

import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import session_scope
from storage.models import AuditEvent, MailItem, Redaction, Reply, User


def audit_actions(item_id: str | None = None) -> list[str]:
    with session_scope() as session:
        query = select(AuditEvent.action).order_by(AuditEvent.id)
        if item_id:
            query = query.where(AuditEvent.item_id == item_id)
        return list(session.scalars(query))


def csrf(client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def status_of(item_id: str) -> str:
    with session_scope() as session:
        return session.get(MailItem, item_id).status


# --- without a session ---------------------------------------------------------------


def test_without_a_session_every_page_but_login_leads_to_login(world, client_for) -> None:
    """GIVEN nobody logged in
    WHEN they ask for any page, image, action or made-up address
    THEN each answer is a redirect to /login, while /login and the stylesheet are served."""
    client = client_for()
    item = world.ids["ana_new"]
    for path in [
        "/",
        "/mailroom",
        "/inbox",
        "/admin",
        "/admin/users",
        "/admin/audit",
        f"/letters/{item}",
        f"/letters/{item}/pages/2.png",
        "/letters/nope",
        f"/letters/{item}/pages/2/clean.png",
        f"/admin/letters/{item}/pages/2/original",
        "/replies/abc",
        "/roster/search?q=jose",
        "/no/such/page",
    ]:
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login"), path
    for path in [f"/letters/{item}/release", "/replies/autosave", "/admin/users/invite"]:
        response = client.post(path, data={"csrf_token": "x"})
        assert response.status_code == 303 and response.headers["location"] == "/login", path
    assert client.get("/login").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    assert status_of(world.ids["ana_review"]) == "needs_review"


def test_login_sets_a_signed_httponly_samesite_cookie_and_sends_each_role_home(
    world, client_for
) -> None:
    """GIVEN accounts of each role
    WHEN each logs in through the /login form (fields email and password)
    THEN the session cookie is HttpOnly and SameSite=Lax, and each lands on their own start page;
    a tampered cookie counts as no session."""
    for who, home in [("mailroom", "/mailroom"), ("ana", "/inbox"), ("admin", "/admin")]:
        client = client_for()
        token = csrf(client, "/login")
        response = client.post(
            "/login",
            data={"email": world.users[who], "password": world.password, "csrf_token": token},
        )
        assert response.status_code == 303 and response.headers["location"] == home
        cookie = next(
            h for h in response.headers.get_list("set-cookie") if h.startswith("lb_session=")
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        assert client.get(home).status_code == 200

    client = client_for("ana")
    value = client.cookies.get("lb_session")
    flipped = "A" if value[-2] != "A" else "B"  # a fully significant character of the signature
    client.cookies.set("lb_session", value[:-2] + flipped + value[-1])
    assert client.get("/inbox").headers["location"].startswith("/login")


def test_a_script_may_log_in_without_the_form_token_but_a_foreign_site_may_not(
    world, client_for
) -> None:
    """GIVEN the fixed /login interface
    WHEN a client posts email and password without the form's token and without an Origin
    THEN it is logged in; the same post carrying another site's Origin, or a wrong token, is 403."""
    creds = {"email": world.users["ana"], "password": world.password}
    assert client_for().post("/login", data=creds).status_code == 303
    forged = client_for().post("/login", data=creds, headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    wrong = client_for().post("/login", data={**creds, "csrf_token": "0" * 64})
    assert wrong.status_code == 403


def test_login_attempts_are_rate_limited_per_email_and_address(world, client_for) -> None:
    """GIVEN five wrong passwords for Ana from one address
    WHEN the right password comes next
    THEN it is refused with 429 too, while Bo from the same address still logs in;
    failures are audited without writing down unknown emails."""
    client = client_for()
    for _ in range(5):
        response = client.post(
            "/login",
            data={
                "email": world.users["ana"],
                "password": "nope",
                "csrf_token": csrf(client, "/login"),
            },
        )
        assert response.status_code == 401
    response = client.post(
        "/login",
        data={
            "email": world.users["ana"],
            "password": world.password,
            "csrf_token": csrf(client, "/login"),
        },
    )
    assert response.status_code == 429
    assert "lb_session" not in response.cookies
    response = client.post(
        "/login",
        data={
            "email": world.users["bo"],
            "password": world.password,
            "csrf_token": csrf(client, "/login"),
        },
    )
    assert response.status_code == 303
    client = client_for()
    client.post(
        "/login",
        data={
            "email": "stranger@example.org",
            "password": "x",
            "csrf_token": csrf(client, "/login"),
        },
    )
    with session_scope() as session:
        actors = set(
            session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "login_failed"))
        )
    assert actors == {world.users["ana"], "unknown"}


def test_a_disabled_account_is_logged_out_at_its_next_request(world, client_for) -> None:
    """GIVEN Ana logged in
    WHEN an admin disables her account
    THEN her next request leads to /login and she can't log in again."""
    from review_ui.accounts import set_active

    client = client_for("ana")
    assert client.get("/inbox").status_code == 200
    with session_scope() as session:
        set_active(session, world.users["ana"], active=False, actor="test")
    assert client.get("/inbox").headers["location"].startswith("/login")
    again = client_for().post(
        "/login", data={"email": world.users["ana"], "password": world.password}
    )
    assert again.status_code == 401


# --- pen pals see only their own released letters ------------------------------------


def test_a_penpal_reads_her_released_letter_redacted_and_it_becomes_read(world, client_for):
    """GIVEN a letter released to Ana
    WHEN she opens /letters/{id}
    THEN she sees the redacted text, not the private detail, nor any link to clean or original
    images; the letter is now read and the view is audited."""
    item = world.ids["ana_new"]
    page = client_for("ana").get(f"/letters/{item}")
    assert page.status_code == 200
    assert "[phone removed]" in page.text
    assert world.secret not in page.text
    assert "clean.png" not in page.text and "original" not in page.text
    assert f"/letters/{item}/pages/2.png" in page.text
    assert f"/letters/{item}/pages/1.png" not in page.text  # no envelope
    assert status_of(item) == "read"
    assert audit_actions(item)[-2:] == ["read", "letter_viewed"]


def test_a_penpal_gets_404_for_anything_not_hers(world, client_for) -> None:
    """GIVEN Ana logged in
    WHEN she asks for Bo's letter, her own letter still under review, an unrouted letter or a
    made-up id — the page or its images
    THEN every answer is 404, and none of those letters changes state."""
    client = client_for("ana")
    for name in ["bo_new", "ana_review", "unrouted"]:
        item = world.ids[name]
        for path in [
            f"/letters/{item}",
            f"/letters/{item}/pages/2.png",
            f"/letters/{item}/pages/1.png",
            f"/replies/new?item_id={item}",
        ]:
            assert client.get(path).status_code == 404, (name, path)
    for path in [
        "/letters/0000000000000000",
        "/letters/0000000000000000/pages/2.png",
        f"/letters/{world.ids['ana_new']}/pages/9.png",
        f"/letters/{world.ids['ana_new']}/pages/x.png",
        f"/correspondence/{world.inmate_ids['lee']}",
    ]:
        assert client.get(path).status_code == 404, path
    assert status_of(world.ids["bo_new"]) == "released"
    assert status_of(world.ids["ana_review"]) == "needs_review"


def test_originals_and_unredacted_text_never_reach_a_penpal(world, client_for) -> None:
    """GIVEN Ana's released letter, whose page has an original scan, a clean image and text
    WHEN she tries the envelope, the clean image, the original and the staff pages
    THEN she gets 404s; the one image she gets is byte for byte the delivered one."""
    client = client_for("ana")
    item = world.ids["ana_new"]
    assert client.get(f"/letters/{item}/pages/1.png").status_code == 404  # the envelope
    assert client.get(f"/letters/{item}/pages/2/clean.png").status_code == 404
    assert client.get(f"/letters/{item}/pages/1/clean.png").status_code == 404
    assert client.get(f"/admin/letters/{item}/pages/2/original").status_code == 404
    for path in [
        "/mailroom",
        "/mailroom/upload",
        "/admin",
        "/admin/audit",
        "/admin/roster",
        "/roster/search?q=Jos",
        "/mailroom/replies",
    ]:
        assert client.get(path).status_code == 404, path
    image = client.get(f"/letters/{item}/pages/2.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == world.blobs["delivered"]
    assert image.content not in (world.blobs["original"], world.blobs["clean"])
    assert "no-store" in image.headers["cache-control"]


def test_staff_see_the_envelope_clean_image_and_only_admins_the_original(world, client_for):
    """GIVEN a letter with an envelope page
    WHEN the mailroom and an admin ask for page 1 and the original of page 2
    THEN both get the envelope's clean image; only the admin gets the original (audited)
    and the unredacted text on the letter page."""
    item = world.ids["ana_new"]
    mailroom, admin = client_for("mailroom"), client_for("admin")
    for client in (mailroom, admin):
        assert client.get(f"/letters/{item}/pages/1.png").content == world.blobs["envelope_clean"]
        assert client.get(f"/letters/{item}/pages/2/clean.png").content == world.blobs["clean"]
    assert mailroom.get(f"/admin/letters/{item}/pages/2/original").status_code == 404
    assert world.secret not in mailroom.get(f"/letters/{item}").text
    original = admin.get(f"/admin/letters/{item}/pages/2/original")
    assert original.status_code == 200 and original.content == world.blobs["original"]
    assert world.secret in admin.get(f"/letters/{item}").text
    assert "original_viewed" in audit_actions(item)


def test_a_penpal_cannot_open_or_overwrite_another_penpals_reply(world, client_for) -> None:
    """GIVEN a draft reply by Ana
    WHEN Bo asks for it, autosaves into it or submits it
    THEN he gets 404 each time and Ana's text is untouched."""
    ana, bo = client_for("ana"), client_for("bo")
    token = csrf(ana, f"/replies/new?item_id={world.ids['ana_new']}")
    saved = ana.post(
        "/replies/autosave",
        data={"csrf_token": token, "item_id": world.ids["ana_new"], "text": "Hola José"},
    )
    assert saved.status_code == 200
    reply_id = saved.json()["reply_id"]
    assert ana.get(f"/replies/{reply_id}").status_code == 200
    bo_token = csrf(bo, "/inbox")
    assert bo.get(f"/replies/{reply_id}").status_code == 404
    assert (
        bo.post(
            "/replies/autosave",
            data={"csrf_token": bo_token, "reply_id": reply_id, "text": "mine now"},
        ).status_code
        == 404
    )
    assert (
        bo.post(
            "/replies/save",
            data={"csrf_token": bo_token, "reply_id": reply_id, "text": "x", "action": "submit"},
        ).status_code
        == 404
    )
    assert (
        bo.post(
            "/replies/autosave",
            data={"csrf_token": bo_token, "inmate_id": str(world.inmate_ids["jose"]), "text": "hi"},
        ).status_code
        == 404
    )
    with session_scope() as session:
        assert session.get(Reply, reply_id).text == "Hola José"


# --- CSRF -----------------------------------------------------------------------------


def test_state_changing_requests_need_the_sessions_csrf_token(world, client_for) -> None:
    """GIVEN the mailroom logged in
    WHEN a hold is posted without a token, with a wrong one, or with another session's token
    THEN each is refused with 403 and nothing changes; with the page's token it works."""
    item = world.ids["ana_new"]
    mailroom = client_for("mailroom")
    url = f"/letters/{item}/hold"
    assert mailroom.post(url, data={"note": "x"}).status_code == 403
    assert mailroom.post(url, data={"note": "x", "csrf_token": "f" * 64}).status_code == 403
    other_token = csrf(client_for("admin"), "/admin")
    assert mailroom.post(url, data={"note": "x", "csrf_token": other_token}).status_code == 403
    assert status_of(item) == "released"
    token = csrf(mailroom, f"/letters/{item}")
    response = mailroom.post(url, data={"note": "check page 2", "csrf_token": token})
    assert response.status_code == 303
    assert status_of(item) == "needs_review"
    # The header works as well as the field (what the reply editor's autosave sends).
    ana = client_for("ana")
    token = csrf(ana, "/inbox")
    assert (
        ana.post(
            "/replies/autosave",
            data={"item_id": world.ids["ana_read"], "text": "a"},
            headers={"X-CSRF-Token": token},
        ).status_code
        == 200
    )


# --- the mailroom's moves are audited ------------------------------------------------


def test_viewing_redacting_changing_the_sender_and_releasing_are_audited(world, client_for):
    """GIVEN an unrouted letter in the queue
    WHEN the mailroom views it, adds a box, removes the automatic one, corrects the
    transcription, names the sender from the roster and releases it
    THEN the letter goes to Ana with the corrected text, and the audit log holds one event
    per move."""
    item = world.ids["unrouted"]
    mailroom = client_for("mailroom")
    token = csrf(mailroom, f"/letters/{item}")
    page = mailroom.get(f"/letters/{item}?sender_q=12345")
    assert "José Martínez" in page.text  # roster search by number
    x0, y0, x1, y1 = world.free_box
    added = mailroom.post(
        f"/letters/{item}/redactions",
        data={"csrf_token": token, "page_index": 2, "x0": x0, "y0": y0, "x1": x1, "y1": y1},
    )
    assert added.status_code == 303
    with session_scope() as session:
        auto = session.scalar(
            select(Redaction).where(Redaction.kind == "phone", Redaction.page.has(item_id=item))
        )
        auto_id = auto.id
    removed = mailroom.post(
        f"/letters/{item}/redactions/{auto_id}/remove", data={"csrf_token": token}
    )
    assert removed.status_code == 303
    corrected = mailroom.post(
        f"/letters/{item}/pages/2/transcription",
        data={"csrf_token": token, "text": "Dear friend,\nThank you for the book and the stamps."},
    )
    assert corrected.status_code == 303
    refused = mailroom.post(f"/letters/{item}/release", data={"csrf_token": token})
    assert refused.status_code == 303 and status_of(item) == "unrouted"  # nobody to deliver to
    # The envelope says "R. Smith": naming José needs the person's confirmation (issue 14).
    unconfirmed = mailroom.post(
        f"/letters/{item}/sender", data={"csrf_token": token, "inmate_id": world.inmate_ids["jose"]}
    )
    assert unconfirmed.status_code == 303 and status_of(item) == "unrouted"
    mailroom.post(
        f"/letters/{item}/sender", data={"csrf_token": token, "inmate_id": world.inmate_ids["jose"],
                                         "confirm_mismatch": "1"}
    )
    # The automatic box was removed, so the page is checked again: the phone it hid is
    # readable, and only the person's explicit word releases the letter as it is.
    unacknowledged = mailroom.post(f"/letters/{item}/release", data={"csrf_token": token})
    assert unacknowledged.headers["location"] == f"/letters/{item}"
    assert status_of(item) != "released"
    released = mailroom.post(f"/letters/{item}/release",
                             data={"csrf_token": token, "acknowledge": "1"})
    assert released.status_code == 303
    assert released.headers["location"] == f"/mailroom/next?after={item}"
    with session_scope() as session:
        row = session.get(MailItem, item)
        assert row.status == "released" and row.volunteer.email == world.users["ana"]
    page = client_for("ana").get(f"/letters/{item}")
    assert "Thank you for the book and the stamps." in page.text
    actions = audit_actions(item)
    for action in [
        "letter_viewed",
        "redaction_added",
        "redaction_removed",
        "transcription_corrected",
        "sender_set",
        "released",
    ]:
        assert action in actions, action


def test_another_letters_redaction_id_is_404(world, client_for) -> None:
    """GIVEN a box on Bo's letter
    WHEN the mailroom posts its removal under Ana's letter's address
    THEN 404, and the box stays."""
    with session_scope() as session:
        box = session.scalar(
            select(Redaction).where(Redaction.page.has(item_id=world.ids["bo_new"]))
        )
        box_id = box.id
    mailroom = client_for("mailroom")
    token = csrf(mailroom, "/mailroom")
    response = mailroom.post(
        f"/letters/{world.ids['ana_new']}/redactions/{box_id}/remove", data={"csrf_token": token}
    )
    assert response.status_code == 404
    with session_scope() as session:
        assert session.get(Redaction, box_id).active


# --- accounts -------------------------------------------------------------------------


def test_an_invited_person_chooses_a_password_at_the_login_address(world, client_for) -> None:
    """GIVEN an admin inviting a new mailroom volunteer
    WHEN the link is opened and a password chosen
    THEN the person is logged in as mailroom, the link is used up, and both steps are audited."""
    admin = client_for("admin")
    posted = admin.post(
        "/admin/users/invite",
        data={
            "csrf_token": csrf(admin, "/admin/users"),
            "email": "new@example.org",
            "role": "mailroom",
        },
    )
    # Post/redirect/get: the link is shown on the page the invitation redirects to.
    assert posted.status_code == 303 and posted.headers["location"] == "/admin/users"
    page = admin.get(posted.headers["location"])
    link = re.search(r"(/login\?invite=[\w-]+)", page.text).group(1)
    newcomer = client_for()
    form = newcomer.get(link)
    assert "new@example.org" in form.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    invite = link.split("=", 1)[1]
    response = newcomer.post(
        "/login",
        data={
            "csrf_token": token,
            "invite": invite,
            "password": "a long new password",
            "password2": "a long new password",
        },
    )
    assert response.headers["location"] == "/mailroom"
    assert newcomer.get("/mailroom").status_code == 200
    assert client_for().get(link).status_code == 404
    assert {"user_invited", "invite_accepted"} <= set(audit_actions())


def test_admin_disables_a_user_from_the_users_page(world, client_for) -> None:
    """GIVEN Bo's account
    WHEN an admin presses Disable
    THEN the account is inactive and the change is audited."""
    admin = client_for("admin")
    with session_scope() as session:
        bo_id = session.scalar(select(User.id).where(User.email == world.users["bo"]))
    admin.post(
        f"/admin/users/{bo_id}/active",
        data={"csrf_token": csrf(admin, "/admin/users"), "active": "0"},
    )
    with session_scope() as session:
        assert session.get(User, bo_id).active is False
    assert "user_disabled" in audit_actions()


def test_the_secret_key_is_made_once_and_kept_private(lb_home: Path) -> None:
    """GIVEN no LETTERBRIDGE_SECRET_KEY
    WHEN the app is built twice
    THEN one key is written to $LETTERBRIDGE_HOME/secret_key with mode 600 and reused."""
    from review_ui.app import create_app

    first = create_app().state.signer.secret
    path = lb_home / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert create_app().state.signer.secret == first


def test_users_cli_adds_lists_and_disables(world, tmp_path: Path) -> None:
    """GIVEN a password in a file
    WHEN `letterbridge users add/list/disable` run
    THEN a pen pal account is tied to the roster volunteer of the same email, listed, disabled;
    a pen pal without a roster volunteer is refused."""
    from typer.testing import CliRunner

    from letterbridge.cli import app

    secret = tmp_path / "pw"
    secret.write_text("a fine long password\n")
    runner = CliRunner()
    done = runner.invoke(
        app,
        [
            "users",
            "add",
            "--email",
            "Carla@Example.org",
            "--role",
            "penpal",
            "--password-file",
            str(secret),
            "--volunteer-email",
            "ana@example.org",
        ],
    )
    assert done.exit_code == 0, done.output
    refused = runner.invoke(
        app,
        [
            "users",
            "add",
            "--email",
            "zed@example.org",
            "--role",
            "penpal",
            "--password-file",
            str(secret),
        ],
    )
    assert refused.exit_code == 1 and "roster" in refused.output
    listed = runner.invoke(app, ["users", "list"])
    assert "carla@example.org" in listed.output and "ana@example.org" in listed.output
    assert runner.invoke(app, ["users", "disable", "--email", "carla@example.org"]).exit_code == 0
    with session_scope() as session:
        carla = session.scalar(select(User).where(User.email == "carla@example.org"))
        assert carla.active is False and carla.volunteer.email == "ana@example.org"
        assert carla.password_hash.startswith("$argon2")


# --- upload and dashboard -------------------------------------------------------------


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The ingest commands the app starts, recorded instead of run."""
    import subprocess

    commands: list[list[str]] = []

    class FakeProcess:
        def __init__(self, args, **_kwargs) -> None:
            commands.append(args)

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeProcess)
    return commands


def test_an_upload_is_saved_and_handed_to_ingest(world, client_for, started) -> None:
    """GIVEN the mailroom uploading two scans (one with an unsafe name) and a .exe
    WHEN the form is posted
    THEN the .exe is refused; otherwise the files are saved under uploads/<random>/ and
    `letterbridge ingest --uploaded-by` is started on them, and the progress page reads the
    SourceFile rows."""
    from review_ui import uploads

    mailroom = client_for("mailroom")
    token = csrf(mailroom, "/mailroom/upload")
    refused = mailroom.post(
        "/mailroom/upload",
        data={"csrf_token": token},
        files=[("files", ("run.exe", b"MZ", "application/octet-stream"))],
    )
    assert refused.status_code == 400 and not started
    response = mailroom.post(
        "/mailroom/upload",
        data={"csrf_token": token},
        files=[
            ("files", ("../../etc/scan one.pdf", b"%PDF-1.4 a", "application/pdf")),
            ("files", ("b.png", b"\x89PNG fake", "image/png")),
        ],
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    answer = response.json()
    folder = Path(uploads.uploads_root()) / answer["token"]
    assert sorted(
        p.name for p in folder.iterdir() if p.suffix != ".json" and p.suffix != ".log"
    ) == ["b.png", "scan one.pdf"]
    args = started[0]
    assert args[1:6] == ["-m", "letterbridge", "ingest", "--uploaded-by", world.users["mailroom"]]
    assert sorted(Path(a).name for a in args[6:]) == ["b.png", "scan one.pdf"]

    import hashlib

    from storage.models import SourceFile

    with session_scope() as session:
        session.add(
            SourceFile(
                sha256=hashlib.sha256(b"%PDF-1.4 a").hexdigest(),
                filename="scan one.pdf",
                blob_key="x",
                status="quarantined",
                error="not a readable PDF",
                page_count=0,
            )
        )
    status = mailroom.get(answer["status_url"]).json()
    by_name = {f["name"]: f for f in status["files"]}
    assert by_name["scan one.pdf"]["status"] == "quarantined" and by_name["scan one.pdf"]["done"]
    assert by_name["b.png"]["status"] == "waiting" and not status["done"]
    assert client_for("ana").get(answer["status_url"]).status_code == 404


def test_the_dashboard_survives_an_unreachable_prefect(world, client_for, monkeypatch) -> None:
    """GIVEN PREFECT_API_URL pointing at a port nobody listens on
    WHEN the admin opens the dashboard
    THEN it shows the letters by state and says the Prefect server did not answer."""
    # Prefect reads its settings once, when first imported: import it under this process's own
    # settings, or every later test in this worker would talk to the dead port too.
    import prefect.client.orchestration  # noqa: F401

    from review_ui import prefect_status

    prefect_status.clear_cache()
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    page = client_for("admin").get("/admin")
    assert page.status_code == 200
    assert "did not answer" in page.text
    assert re.search(r"released</th><td class=\"num\">2<", page.text)
    prefect_status.clear_cache()


@pytest.mark.prefect
def test_the_dashboard_lists_failed_flow_runs_with_links(world, client_for, prefect_api, app):
    """GIVEN a Prefect server holding a flow run that failed before it started (no start time)
    WHEN the admin opens the dashboard
    THEN the run is listed with a link into the Prefect UI."""
    import httpx

    from review_ui import prefect_status

    def post(path: str, body: dict) -> dict:
        """The session's Prefect server, busy with the other tests' flows, may refuse a write
        for a moment (it keeps its state in SQLite): try again before giving up."""
        for _ in range(5):
            answer = httpx.post(f"{prefect_api}{path}", json=body, timeout=30)
            if answer.status_code < 400:
                return answer.json()
            time.sleep(1)
        answer.raise_for_status()
        return {}

    flow = post("/flows/", {"name": "letter"})
    run = post("/flow_runs/", {"flow_id": flow["id"], "name": "letter-test-failed",
                               "state": {"type": "FAILED", "name": "Failed"}})
    settings = app.state.settings
    app.state.settings = settings.model_copy(
        update={"prefect_ui_url": "http://prefect.example:4200"}
    )
    prefect_status.clear_cache()
    admin = client_for("admin")
    deadline = time.monotonic() + 20
    while True:  # a loaded server may take a moment to list a run just written
        prefect_status.clear_cache()
        page = admin.get("/admin")
        if "letter-test-failed" in page.text or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert "letter-test-failed" in page.text, re.findall(r"flow-run/[0-9a-f-]+|No failed[^<]*",
                                                         page.text)
    assert f"http://prefect.example:4200/runs/flow-run/{run['id']}" in page.text
    # When it ran, naming the zone (local time in the browser, UTC without JavaScript).
    assert re.search(r'<td><time class="local" datetime="[0-9T:-]+Z">[0-9: -]+ UTC</time></td>'
                     rf'<td><a href="[^"]+/runs/flow-run/{run["id"]}"', page.text)


# --- correspondence and replies through the mailroom ---------------------------------


def test_the_correspondence_shows_letters_and_replies_in_order(world, client_for) -> None:
    """GIVEN two letters from José to Ana (80 and 10 hours old) and a reply Ana writes now
    WHEN Ana opens her correspondence with José
    THEN the older letter, the newer letter and her reply come in that order, redacted;
    Bo can't open it."""
    ana = client_for("ana")
    token = csrf(ana, "/inbox")
    ana.post(
        "/replies/autosave",
        data={
            "csrf_token": token,
            "item_id": world.ids["ana_read"],
            "text": "My reply to the first letter",
        },
    )
    page = ana.get(f"/correspondence/{world.inmate_ids['jose']}")
    assert page.status_code == 200
    first = page.text.index(f"/letters/{world.ids['ana_read']}")
    reply = page.text.index("My reply to the first letter")
    second = page.text.index(f"/letters/{world.ids['ana_new']}")
    assert first < second < reply
    assert "[phone removed]" in page.text and world.secret not in page.text
    assert client_for("bo").get(f"/correspondence/{world.inmate_ids['jose']}").status_code == 404


def test_the_mailroom_returns_a_reply_then_approves_the_rewrite(world, client_for) -> None:
    """GIVEN Ana's submitted reply
    WHEN the mailroom returns it with a note, Ana rewrites and resubmits, the mailroom approves
    THEN Ana saw the note and could edit again, and the reply ends approved with its PDF."""
    ana, mailroom = client_for("ana"), client_for("mailroom")
    token = csrf(ana, "/inbox")
    saved = ana.post(
        "/replies/save",
        data={
            "csrf_token": token,
            "item_id": world.ids["ana_new"],
            "inmate_id": "",
            "text": "Dear José, hello.",
            "action": "submit",
        },
    )
    reply_id = saved.headers["location"].rsplit("/", 1)[1]
    assert f"/replies/{reply_id}" in mailroom.get("/mailroom/replies").text
    mtoken = csrf(mailroom, f"/replies/{reply_id}")
    mailroom.post(
        f"/replies/{reply_id}/return",
        data={"csrf_token": mtoken, "note": "Please add a closing line."},
    )
    page = ana.get(f"/replies/{reply_id}")
    assert "Please add a closing line." in page.text and 'id="reply-text"' in page.text
    ana.post(
        "/replies/save",
        data={
            "csrf_token": token,
            "reply_id": reply_id,
            "text": "Dear José, hello.\n\nYour friend, Ana",
            "action": "submit",
        },
    )
    approved = mailroom.post(f"/replies/{reply_id}/approve", data={"csrf_token": mtoken})
    assert approved.headers["location"] == "/mailroom/replies"
    with session_scope() as session:
        reply = session.get(Reply, reply_id)
        assert reply.status == "approved" and reply.pdf_key
    # Once approved it can't be changed by its writer any more.
    assert (
        ana.post(
            "/replies/autosave", data={"csrf_token": token, "reply_id": reply_id, "text": "changed"}
        ).status_code
        == 404
    )


def test_a_malformed_address_is_a_missing_page(world, client_for) -> None:
    """GIVEN a logged-in pen pal
    WHEN the address has a malformed number in it
    THEN the answer is the 404 page, not a technical error."""
    response = client_for("ana").get("/correspondence/not-a-number")
    assert response.status_code == 404 and "Not found" in response.text


def test_the_web_app_never_imports_prefect() -> None:
    """GIVEN the web app and the domain modules it calls
    WHEN they are imported in a fresh interpreter
    THEN Prefect is not loaded (the app hands work to `letterbridge ingest` instead)."""
    import subprocess
    import sys

    code = (
        "import sys, review_ui.app, review_ui.routes.mailroom, letters.mailroom, "
        "postal.replies; sys.exit('prefect' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_admin_roster_page_lists_people_with_their_pen_pals(world, client_for) -> None:
    """GIVEN José matched with Ana and Lee with Bo
    WHEN an admin searches the roster for José's number
    THEN José is listed with Ana, Lee is not; the mailroom can't open the page."""
    page = client_for("admin").get("/admin/roster?q=12345")
    assert page.status_code == 200
    assert "José Martínez" in page.text and "Ana P." in page.text
    assert "Lee Walker" not in page.text
    assert client_for("mailroom").get("/admin/roster").status_code == 404


def test_a_refused_draft_keeps_what_was_typed(world, client_for, monkeypatch) -> None:
    """GIVEN a reply longer than the replies module accepts
    WHEN Ana presses Save draft (no JavaScript) or the editor autosaves it
    THEN the editor comes back with her text and the reason, and autosave answers 400 with it."""
    from postal import replies

    monkeypatch.setattr(replies, "MAX_REPLY_CHARS", 20)
    ana = client_for("ana")
    token = csrf(ana, "/inbox")
    text = "This reply is far too long for the limit."
    page = ana.post(
        "/replies/save",
        data={"csrf_token": token, "item_id": world.ids["ana_new"], "text": text, "action": "save"},
    )
    assert page.status_code == 400
    assert text in page.text and "at most 20 characters" in page.text
    auto = ana.post(
        "/replies/autosave",
        data={"csrf_token": token, "item_id": world.ids["ana_new"], "text": text},
    )
    assert auto.status_code == 400 and "at most 20" in auto.json()["error"]


@pytest.fixture
def upload_limit_64k(lb_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from config.settings import reset_settings

    monkeypatch.setenv("LETTERBRIDGE_MAX_UPLOAD_BYTES", str(64 * 1024))
    reset_settings()
    yield
    monkeypatch.delenv("LETTERBRIDGE_MAX_UPLOAD_BYTES")
    reset_settings()


def test_a_too_large_upload_is_refused_before_it_reaches_the_disk(
        upload_limit_64k, world, client_for, started) -> None:
    """GIVEN an upload limit of 64 KB
    WHEN the mailroom posts 100 KB of scans, declared up front or streamed in chunks without a
    length, or posts an oversized ordinary form
    THEN each gets 413 with the limit in the message, no upload folder is made and no ingest
    starts; an upload under the limit still goes through."""
    from review_ui import uploads

    client = client_for("mailroom")
    form = client.get("/mailroom/upload").text
    assert 'data-max-bytes="65536"' in form
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    root = Path(uploads.uploads_root())
    before = set(root.iterdir()) if root.exists() else set()
    big = b"%PDF-1.4\n" + b"0" * 100_000

    declared = client.post("/mailroom/upload", data={"csrf_token": token},
                           files=[("files", ("run.pdf", big, "application/pdf"))],
                           headers={"Accept": "application/json"})
    assert declared.status_code == 413 and "per request" in declared.json()["error"]

    boundary = "lbtestboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"run.pdf\"\r\n"
            "Content-Type: application/pdf\r\n\r\n").encode() + big + f"\r\n--{boundary}--\r\n".encode()

    def chunks():  # a body of unknown length, as a chunked upload sends it
        for start in range(0, len(body), 8192):
            yield body[start:start + 8192]

    streamed = client.post("/mailroom/upload", content=chunks(),
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert streamed.status_code == 413 and "Too large" in streamed.text
    assert "content-length" not in {k.lower() for k in streamed.request.headers}

    form_post = client.post("/replies/autosave", data={"csrf_token": token, "text": "x" * 3_000_000})
    assert form_post.status_code == 413

    assert (set(root.iterdir()) if root.exists() else set()) == before and not started
    small = client.post("/mailroom/upload", data={"csrf_token": token},
                        files=[("files", ("run.pdf", big[:30_000], "application/pdf"))],
                        headers={"Accept": "application/json"})
    assert small.status_code == 200 and len(started) == 1


# --- sessions end on the server --------------------------------------------------------


def _session_rows(email: str) -> list:
    from storage.models import UserSession

    with session_scope() as session:
        user_id = session.scalar(select(User.id).where(User.email == email))
        return list(session.scalars(select(UserSession).where(UserSession.user_id == user_id)))


def test_logout_ends_the_session_so_the_old_cookie_opens_nothing(world, client_for) -> None:
    """GIVEN Ana logged in, reading a letter and writing a draft
    WHEN she logs out and someone replays her old cookie (and the page's CSRF token)
    THEN the inbox, the letter and its image lead to /login, autosave answers 401 (JSON) or
    a redirect (form) and writes nothing; the session row says it ended at logout."""
    ana = client_for("ana")
    item = world.ids["ana_new"]
    token = csrf(ana, f"/replies/new?item_id={item}")
    saved = ana.post("/replies/autosave", data={"csrf_token": token, "item_id": item, "text": "one"})
    reply_id = saved.json()["reply_id"]
    old_cookie = ana.cookies.get("lb_session")
    assert "lb_session" not in old_cookie and len(old_cookie) >= 40  # a random token, no data
    out = ana.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/login"

    replay = client_for()
    replay.cookies.set("lb_session", old_cookie)
    for path in ["/inbox", f"/letters/{item}", f"/letters/{item}/pages/2.png", f"/replies/{reply_id}"]:
        response = replay.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    as_script = replay.post(
        "/replies/autosave",
        data={"reply_id": reply_id, "text": "written after logout"},
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert as_script.status_code == 401 and "logged out" in as_script.json()["error"]
    as_form = replay.post(
        "/replies/autosave", data={"csrf_token": token, "reply_id": reply_id, "text": "again"}
    )
    assert as_form.status_code == 303 and as_form.headers["location"] == "/login"
    with session_scope() as session:
        assert session.get(Reply, reply_id).text == "one"
    rows = _session_rows(world.users["ana"])
    assert [(r.end_reason, r.ended_at is not None) for r in rows] == [("logout", True)]
    assert "logout" in audit_actions()


def test_disabling_an_account_ends_its_sessions_at_once(world, client_for) -> None:
    """GIVEN Bo logged in twice (phone and laptop)
    WHEN an admin disables him
    THEN both sessions are ended in the table before Bo makes another request."""
    from review_ui.accounts import set_active

    phone, laptop = client_for("bo"), client_for("bo")
    assert phone.get("/inbox").status_code == 200 and laptop.get("/inbox").status_code == 200
    with session_scope() as session:
        set_active(session, world.users["bo"], active=False, actor="test")
    assert {r.end_reason for r in _session_rows(world.users["bo"])} == {"disabled"}
    assert phone.get("/inbox").headers["location"].startswith("/login")


def test_sessions_time_out_when_idle_and_after_the_longest_allowed(world, client_for, app):
    """GIVEN the default timeouts (60 minutes idle, 12 hours after login)
    WHEN a session was last seen 61 minutes ago, or began 12 hours ago though used a minute ago
    THEN it opens nothing and is ended as 'idle' or 'expired'; one used 59 minutes ago still works
    and its last-seen time moves on."""
    from datetime import timedelta

    from storage.models import UserSession, utcnow

    settings = app.state.settings
    assert (settings.session_idle_minutes, settings.session_max_hours) == (60, 12)

    def age(email: str, *, seen: int, created: int) -> None:
        with session_scope() as session:
            for row in session.scalars(select(UserSession)):
                if row.user_id == session.scalar(select(User.id).where(User.email == email)):
                    row.last_seen_at = utcnow() - timedelta(minutes=seen)
                    row.created_at = utcnow() - timedelta(minutes=created)

    ana, bo, mail = client_for("ana"), client_for("bo"), client_for("mailroom")
    age(world.users["ana"], seen=61, created=61)
    age(world.users["bo"], seen=1, created=12 * 60)
    age(world.users["mailroom"], seen=59, created=59)
    assert ana.get("/inbox").headers["location"].startswith("/login")
    assert bo.get("/inbox").headers["location"].startswith("/login")
    assert mail.get("/mailroom").status_code == 200
    assert [r.end_reason for r in _session_rows(world.users["ana"])] == ["idle"]
    assert [r.end_reason for r in _session_rows(world.users["bo"])] == ["expired"]
    (row,) = _session_rows(world.users["mailroom"])
    assert row.ended_at is None and utcnow() - row.last_seen_at < timedelta(minutes=1)


def test_every_page_but_static_files_is_no_store(world, client_for) -> None:
    """GIVEN each kind of page, logged in or not
    WHEN it is served
    THEN it says Cache-Control: no-store (Back after logout shows nothing from the cache),
    while the stylesheet may be cached."""
    ana, admin = client_for("ana"), client_for("admin")
    for client, path in [
        (ana, "/inbox"),
        (ana, f"/correspondence/{world.inmate_ids['jose']}"),
        (ana, "/replies"),
        (admin, "/admin"),
        (admin, "/admin/users"),
        (admin, "/admin/audit"),
        (client_for(), "/login"),
        (ana, "/letters/0000000000000000"),
    ]:
        assert "no-store" in client.get(path).headers.get("cache-control", ""), path
    assert "no-store" not in client_for().get("/static/style.css").headers.get("cache-control", "")


@pytest.fixture
def behind_proxy(lb_home: Path, monkeypatch: pytest.MonkeyPatch):  # FastAPI
    """The app configured to believe forwarding headers from its proxy ("testclient" here)."""
    from config.settings import reset_settings
    from review_ui.app import create_app

    monkeypatch.setenv("LETTERBRIDGE_FORWARDED_ALLOW_IPS", "testclient")
    reset_settings()
    return create_app()


def _login_cookie(client, email: str, password: str, headers: dict | None = None):
    token = csrf(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        headers=headers or {},
    )


def test_the_cookie_is_secure_over_https_and_behind_a_trusted_tls_proxy(
    world, client_for, behind_proxy
) -> None:
    """GIVEN the app reached over plain http
    WHEN a login arrives without forwarding headers, with X-Forwarded-Proto: https from an
    untrusted peer, and the same from the trusted proxy (or Forwarded: proto=https)
    THEN only the trusted proxy's https makes the cookie Secure; it is HttpOnly and Lax always."""
    from fastapi.testclient import TestClient

    def cookie_of(response) -> str:
        return next(h for h in response.headers.get_list("set-cookie") if h.startswith("lb_session="))

    plain = cookie_of(_login_cookie(client_for(), world.users["ana"], world.password))
    spoofed = cookie_of(
        _login_cookie(client_for(), world.users["ana"], world.password, {"X-Forwarded-Proto": "https"})
    )
    assert "Secure" not in plain and "Secure" not in spoofed
    with TestClient(behind_proxy, follow_redirects=False) as client:
        proxied = _login_cookie(client, world.users["ana"], world.password,
                                {"X-Forwarded-Proto": "https"})
        assert proxied.status_code == 303
        assert "Secure" in cookie_of(proxied) and "HttpOnly" in cookie_of(proxied)
        assert "samesite=lax" in cookie_of(proxied).lower()
    with TestClient(behind_proxy, follow_redirects=False) as client:
        rfc = _login_cookie(client, world.users["bo"], world.password,
                            {"Forwarded": 'for=198.51.100.4;proto=https'})
        assert "Secure" in cookie_of(rfc)


# --- the login limiter ---------------------------------------------------------------


def test_fifty_failures_for_made_up_emails_hold_back_that_address_only(
    world, behind_proxy
) -> None:
    """GIVEN 50 failed logins for made-up emails from one address (behind the trusted proxy)
    WHEN another made-up email, the admin from another address, and the admin from the noisy
    address try
    THEN the noisy address is held back (429) for strangers and for the admin who never logged
    in there, while the admin logs in from elsewhere at once; and a colleague who did log in
    from the noisy address before still gets in from it."""
    from fastapi.testclient import TestClient

    noisy, quiet = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "198.51.100.20"}
    with TestClient(behind_proxy, follow_redirects=False) as colleague:
        assert _login_cookie(colleague, world.users["mailroom"], world.password, noisy).status_code == 303
    with TestClient(behind_proxy, follow_redirects=False) as attacker:
        for n in range(50):
            answer = _login_cookie(attacker, f"nobody{n}@example.net", "guess", noisy)
            assert answer.status_code == 401, n
        assert _login_cookie(attacker, "nobody-more@example.net", "guess", noisy).status_code == 429
        assert _login_cookie(attacker, world.users["admin"], world.password, noisy).status_code == 429
    with TestClient(behind_proxy, follow_redirects=False) as admin:
        answer = _login_cookie(admin, world.users["admin"], world.password, quiet)
        assert answer.status_code == 303 and answer.headers["location"] == "/admin"
    with TestClient(behind_proxy, follow_redirects=False) as colleague:
        assert _login_cookie(colleague, world.users["mailroom"], world.password, noisy).status_code == 303


def test_guessing_one_accounts_password_holds_back_only_the_guessing_address(
    world, behind_proxy
) -> None:
    """GIVEN five wrong passwords for the admin from one address
    WHEN the admin logs in from another address, and the right password comes from the first
    THEN elsewhere works at once; the guessing address waits (429)."""
    from fastapi.testclient import TestClient

    guesser, elsewhere = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "192.0.2.33"}
    with TestClient(behind_proxy, follow_redirects=False) as client:
        for _ in range(5):
            assert _login_cookie(client, world.users["admin"], "wrong", guesser).status_code == 401
        assert _login_cookie(client, world.users["admin"], world.password, guesser).status_code == 429
    with TestClient(behind_proxy, follow_redirects=False) as client:
        assert _login_cookie(client, world.users["admin"], world.password, elsewhere).status_code == 303


def test_the_limiter_backs_off_exponentially_and_forgets_on_success(lb_home: Path) -> None:
    """GIVEN the limiter's rules (pair: 5, then 1 min doubling to 15; account: 20 over addresses)
    WHEN failures pile up for one account at one address, and at twenty more addresses
    THEN the wait doubles with each failure past five up to the cap; the account's total holds
    back addresses that failed for it but not one that never did; a success clears the pair."""
    from review_ui.throttle import LoginLimiter

    limiter = LoginLimiter(lambda value: value)
    email = "admin@example.org"
    with session_scope() as db:
        waits = []
        for _ in range(10):
            limiter.failed(db, email, "10.0.0.1")
            db.flush()
            waits.append(round(limiter.wait_seconds(db, email, "10.0.0.1", known_address=False), -1))
        assert waits == [0, 0, 0, 0, 60, 120, 240, 480, 900, 900]
        for n in range(20):
            limiter.failed(db, email, f"10.0.1.{n}")
        db.flush()
        assert limiter.wait_seconds(db, email, "10.0.1.3", known_address=False) > 0
        assert limiter.wait_seconds(db, email, "10.9.9.9", known_address=False) == 0
        limiter.succeeded(db, email, "10.0.0.1")
        db.flush()
        # The pair starts afresh, but the account's 20 other failures still hold back the
        # addresses that made them.
        assert limiter.wait_seconds(db, email, "10.0.0.1", known_address=False) == 0
        assert limiter.wait_seconds(db, email, "10.0.1.3", known_address=False) > 0


# --- numbers out of range, forms that don't resubmit, CSV cells ----------------------


def test_out_of_range_page_numbers_are_a_bad_request_not_a_crash(world, client_for) -> None:
    """GIVEN every paged page (inbox, roster, audit log, waiting list, volunteers, facilities)
    WHEN asked for page 99999999999999999999, page 0, page -1, page 'x', or a date that isn't one
    THEN each answers 400 with the error page (no 500, no reset connection); page 2 works."""
    ana, admin = client_for("ana"), client_for("admin")
    pages = [(ana, "/inbox"), (admin, "/admin/roster"), (admin, "/admin/audit"),
             (admin, "/admin/waiting"), (admin, "/admin/volunteers"), (admin, "/admin/facilities")]
    for client, path in pages:
        for bad in ["99999999999999999999", "0", "-1", "x", "1e9"]:
            response = client.get(f"{path}?page={bad}")
            assert response.status_code == 400, (path, bad, response.status_code)
            assert "out of range" in response.text
        assert client.get(f"{path}?page=2").status_code == 200, path
    for bad in ["2026-13-01", "yesterday", "9" * 30]:
        assert admin.get(f"/admin/audit?date_from={bad}").status_code == 400
    assert admin.get("/admin/waiting?inmate=99999999999999999999").status_code == 400
    # Without a session the answer is still the login page, not a hint about parameters.
    assert client_for().get("/admin/audit?page=99999999999999999999").status_code == 303


def test_the_invite_result_is_shown_after_a_redirect_and_not_again(world, client_for) -> None:
    """GIVEN an admin inviting a mailroom volunteer
    WHEN the form is posted
    THEN the answer is a redirect (a reload can't invite twice), the next page shows the link
    once, and reloading that page no longer shows it."""
    admin = client_for("admin")
    posted = admin.post("/admin/users/invite", data={
        "csrf_token": csrf(admin, "/admin/users"), "email": "prg@example.org", "role": "mailroom"})
    assert posted.status_code == 303 and posted.headers["location"] == "/admin/users"
    shown = admin.get("/admin/users")
    assert "/login?invite=" in shown.text and "prg@example.org" in shown.text
    assert "/login?invite=" not in admin.get("/admin/users").text


def test_inviting_a_pen_pal_missing_from_the_roster_offers_to_add_them(world, client_for):
    """GIVEN no volunteer with the email carla@example.org
    WHEN an admin invites her as a pen pal
    THEN the page answers 400 keeping the typed email and offers to add the volunteer; taking
    the offer adds her to the roster, links the account and shows the invitation link."""
    from storage.models import Volunteer

    admin = client_for("admin")
    token = csrf(admin, "/admin/users")
    refused = admin.post("/admin/users/invite", data={
        "csrf_token": token, "email": "Carla@example.org", "role": "penpal"})
    assert refused.status_code == 400
    assert 'value="Carla@example.org"' in refused.text and "add-volunteer-and-invite" in refused.text
    added = admin.post("/admin/users/invite", data={
        "csrf_token": token, "email": "Carla@example.org", "role": "penpal", "add_volunteer": "1",
        "display_name": "Carla R."})
    assert added.status_code == 303
    assert "/login?invite=" in admin.get("/admin/users").text
    with session_scope() as session:
        carla = session.scalar(select(User).where(User.email == "carla@example.org"))
        volunteer = session.get(Volunteer, carla.volunteer_id)
        assert volunteer.email == "carla@example.org" and volunteer.display_name == "Carla R."
    assert {"volunteer_added", "user_invited"} <= set(audit_actions())


def test_disable_asks_first_and_the_confirmation_disables(world, client_for) -> None:
    """GIVEN Bo's account on the users page
    WHEN the admin follows Disable
    THEN a confirmation page comes first (Bo is still active); confirming disables him and ends
    his sessions; the admin can't disable herself."""
    admin, bo = client_for("admin"), client_for("bo")
    with session_scope() as session:
        bo_id = session.scalar(select(User.id).where(User.email == world.users["bo"]))
        admin_id = session.scalar(select(User.id).where(User.email == world.users["admin"]))
    listing = admin.get("/admin/users").text
    assert f'href="/admin/users/{bo_id}/disable"' in listing
    confirm = admin.get(f"/admin/users/{bo_id}/disable")
    assert confirm.status_code == 200 and "logged out everywhere" in confirm.text
    with session_scope() as session:
        assert session.get(User, bo_id).active
    done = admin.post(f"/admin/users/{bo_id}/active",
                      data={"csrf_token": csrf_of_page(confirm.text), "active": "0"})
    assert done.status_code == 303
    assert bo.get("/inbox").headers["location"].startswith("/login")
    assert admin.get(f"/admin/users/{admin_id}/disable").status_code == 303


def csrf_of_page(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_an_admin_reset_link_sets_a_new_password_once_and_ends_sessions(
    world, client_for, app, smtp_server
) -> None:
    """GIVEN Bo logged in, and SMTP configured
    WHEN an admin starts a password reset for him and Bo uses the emailed link
    THEN the admin sees the link once (after a redirect), Bo's mail holds it; using it sets the
    new password, ends his old session, and the link doesn't work a second time; the old
    password no longer opens the account; both steps are audited. An expired link is refused."""
    import email
    import email.policy
    from datetime import timedelta

    from storage.models import utcnow

    host, port, received = smtp_server
    app.state.settings = app.state.settings.model_copy(
        update={"smtp_host": host, "smtp_port": port})
    admin, bo = client_for("admin"), client_for("bo")
    with session_scope() as session:
        bo_id = session.scalar(select(User.id).where(User.email == world.users["bo"]))
    started = admin.post(f"/admin/users/{bo_id}/reset", data={"csrf_token": csrf(admin, "/admin/users")})
    assert started.status_code == 303
    shown = admin.get("/admin/users").text
    link = re.search(r"(/reset\?token=[\w-]+)", shown).group(1)
    assert "emailed" in shown
    (mail,) = received
    body = email.message_from_bytes(mail.content, policy=email.policy.default).get_content()
    assert link in body and mail.rcpt_tos == [world.users["bo"]]

    form = client_for().get(link)
    assert form.status_code == 200 and world.users["bo"] in form.text
    stranger = client_for()
    page = stranger.get(link)
    answer = stranger.post("/reset", data={
        "csrf_token": csrf_of_page(page.text), "token": link.split("=", 1)[1],
        "password": "a brand new password", "password2": "a brand new password"})
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert bo.get("/inbox").headers["location"].startswith("/login")
    assert client_for().get(link).status_code == 404
    old = client_for().post("/login", data={"email": world.users["bo"], "password": world.password})
    assert old.status_code == 401
    new = client_for().post("/login", data={"email": world.users["bo"], "password": "a brand new password"})
    assert new.status_code == 303
    assert {"password_reset_started", "password_reset_done"} <= set(audit_actions())

    admin.post(f"/admin/users/{bo_id}/reset", data={"csrf_token": csrf(admin, "/admin/users")})
    second = re.search(r"(/reset\?token=[\w-]+)", admin.get("/admin/users").text).group(1)
    with session_scope() as session:
        session.get(User, bo_id).reset_expires_at = utcnow() - timedelta(minutes=1)
    assert client_for().get(second).status_code == 404


def test_csv_cells_never_start_a_formula(world) -> None:
    """GIVEN a roster name '=HYPERLINK(...)' and others starting + - @, tab or CR
    WHEN the print manifest is written
    THEN each such cell starts with an apostrophe, a CR inside a cell is quoted (no new row
    starting with a formula); numbers and plain names are as they were; and the roster import
    reads an escaped cell back as typed."""
    import csv
    import io

    from postal import csvsafe
    from postal.print_batch import BatchLine, _manifest
    from storage.models import Facility, Inmate

    names = ['=HYPERLINK("http://evil.example","x")', "+1 big", "-neg", "@SUM(A1)", "\tTab",
             "\r=CR", "Plain\r=HYPERLINK(1)", "Plain Name"]
    lines = []
    for n, name in enumerate(names, start=1):
        reply = Reply(id=f"r{n}", inmate=Inmate(name=name, inmate_number=f"-{n}",
                                                 facility=Facility(name="=cmd|' /C calc'!A0")))
        lines.append(BatchLine(position=n, reply=reply, pdf=b"", pages=1, mailing="envelope"))
    rows = list(csv.DictReader(io.StringIO(_manifest("b1", lines).decode(), newline="")))
    for row, name in zip(rows, names, strict=True):
        for cell in (row["recipient"], row["inmate_number"], row["facility"]):
            assert not cell.startswith(csvsafe.FORMULA_STARTS), cell
        assert row["recipient"] == (name if name.startswith("Plain") else "'" + name)
        assert row["pages"] == "1" and row["position"].isdigit()
    assert all(csvsafe.unescape(csvsafe.cell(n)) == n for n in names)
