"""Fixtures for the web app: a generated world, a TestClient per role, a live server for chromium.

Everything is made here (no committed binaries): page images are drawn with numpy, the
OCR words are written by hand, and one private detail per letter ("555-0142") lets tests
prove the unredacted text and the original scan never reach a pen pal.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ocr.images import browser_png, encode_page
from ocr.types import OcrPage, Word, words_to_text
from review_ui.accounts import hash_password
from storage.blobs import get_blob_store
from storage.db import session_scope
from storage.models import (
    Facility,
    Inmate,
    MailItem,
    Match,
    Page,
    Redaction,
    SourceFile,
    User,
    Volunteer,
    utcnow,
)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def quick_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests hash with tiny argon2 parameters; production keeps the library's (~0.3-0.8 s here)."""
    from argon2 import PasswordHasher

    from review_ui import accounts

    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", cheap)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", cheap.hash("dummy password"))
    _HASH.clear()


PASSWORD = "correct horse battery"
SECRET = "555-0142"  # a phone number in every letter: in `text`, never in `redacted_text`
WIDTH, HEIGHT = 600, 780
_HASH: dict[str, str] = {}


def password_hash() -> str:
    # One hash serves every generated account.
    if "h" not in _HASH:
        _HASH["h"] = hash_password(PASSWORD)
    return _HASH["h"]


LINES = [
    ["Dear", "friend,"],
    ["Thank", "you", "for", "the", "book."],
    ["Call", "my", "sister", "at", SECRET, "please."],
    ["The", "garden", "here", "has", "tomatoes", "now."],
    ["Write", "soon,"],
]


def _words() -> list[Word]:
    """Words laid out like handwriting lines: 40 px tall, 60 px apart, starting at y=120."""
    words = []
    for n, line in enumerate(LINES):
        x = 60
        for token in line:
            width = 16 * len(token)
            words.append(Word(token, 90.0, x, 120 + n * 60, x + width, 160 + n * 60, 1, 1, n))
            x += width + 20
    return words


WORDS = _words()
PHONE_BOX = next(w.box for w in WORDS if w.text == SECRET)
# An empty stretch of the page (right of the short first line) where tests draw a new box.
FREE_BOX = (400, 110, 560, 170)


def _page_image(words: list[Word], *, ink: int = 60, mark: int = 0) -> np.ndarray:
    """A light page with a dark bar per word; `mark` tints one corner to tell images apart."""
    img = np.full((HEIGHT, WIDTH), 235, dtype=np.uint8)
    for w in words:
        img[w.y0 + 8 : w.y1 - 8, w.x0 : w.x1] = ink
    if mark:
        img[0:20, 0:20] = mark
    return img


def _envelope_image() -> np.ndarray:
    img = np.full((300, WIDTH), 245, dtype=np.uint8)
    img[40:60, 40:300] = 50  # return address
    img[150:170, 250:520] = 50  # program address
    return img


@dataclass
class World:
    password: str = PASSWORD
    secret: str = SECRET
    phone_box: tuple[int, int, int, int] = PHONE_BOX
    free_box: tuple[int, int, int, int] = FREE_BOX
    ids: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # role name -> email
    inmate_ids: dict[str, int] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)


def _letter(
    session,
    world: World,
    name: str,
    *,
    status: str,
    inmate: Inmate | None,
    volunteer: Volunteer | None,
    age_hours: int,
    reasons: list[str] | None = None,
) -> MailItem:  # Session
    store = get_blob_store()
    source = SourceFile(
        sha256=f"{len(world.ids):064x}",
        filename=f"scan-{name}.pdf",
        blob_key=f"originals/{name}",
        status="done",
        page_count=2,
    )
    session.add(source)
    session.flush()
    now = utcnow()
    item = MailItem(
        source_id=source.id,
        status=status,
        inmate_id=inmate.id if inmate else None,
        volunteer_id=volunteer.id if volunteer else None,
        review_reasons=reasons or [],
        stage="done",  # as the flow leaves a letter it has decided on
        sender_name=inmate.name if inmate else "R. Smith",
        sender_number=inmate.inmate_number if inmate else "",
        sender_confidence=0.95 if inmate else 0.3,
        created_at=now - timedelta(hours=age_hours),
        released_at=now - timedelta(hours=age_hours - 1)
        if status in ("released", "read")
        else None,
    )
    session.add(item)
    session.flush()
    prefix = f"items/{item.id}"

    envelope = Page(item_id=item.id, index=1, kind="envelope", width=WIDTH, height=300)
    # Stored as the pipeline stores them: working images (browsers are given PNGs of them);
    # an envelope is not delivered, so it has no delivered image.
    envelope.image_key = store.put(
        f"{prefix}/page-1-original.zst", encode_page(_envelope_image()[::-1].copy())
    )
    envelope.clean_key = store.put(f"{prefix}/page-1-clean.zst", encode_page(_envelope_image()))
    env_png = browser_png(store.get(envelope.clean_key))
    envelope.text = envelope.redacted_text = "R. Smith"

    words = WORDS
    ocr = OcrPage(words=words, width=WIDTH, height=HEIGHT, confidence=90.0, language="eng")
    letter = Page(
        item_id=item.id,
        index=2,
        kind="letter",
        width=WIDTH,
        height=HEIGHT,
        confidence=90.0,
        text=words_to_text(words),
        stage="ocr",
        # The flow's re-check of the burned page passed, unless the letter waits because of it.
        verified=not any(r.startswith("redaction") for r in reasons or []),
    )
    letter.words_key = store.put(f"{prefix}/page-2-words.json", ocr.to_json().encode())
    original_image = _page_image(words, ink=30, mark=120)
    clean = _page_image(words)
    delivered = clean.copy()
    x0, y0, x1, y1 = PHONE_BOX
    delivered[max(0, y0 - 8) : y1 + 8, max(0, x0 - 8) : x1 + 8] = 0
    letter.image_key = store.put(f"{prefix}/page-2-original.zst", encode_page(original_image))
    letter.clean_key = store.put(f"{prefix}/page-2-clean.zst", encode_page(clean))
    letter.redacted_key = store.put(f"{prefix}/page-2-delivered.zst", encode_page(delivered))
    letter.redacted_text = letter.text.replace(SECRET, "[phone removed]")
    session.add_all([envelope, letter])
    session.flush()
    session.add(Redaction(page_id=letter.id, kind="phone", x0=x0, y0=y0, x1=x1, y1=y1))
    world.ids[name] = item.id
    if name == "ana_new":
        world.blobs.update(
            original=browser_png(store.get(letter.image_key)),
            clean=browser_png(store.get(letter.clean_key)),
            delivered=browser_png(store.get(letter.redacted_key)),
            envelope_clean=env_png,
        )
    return item


def build_world() -> World:
    """Two pen pals (Ana, Bo), a mailroom volunteer and an admin; five letters:

    - ana_new: released to Ana (unread)   - ana_read: read by Ana
    - ana_review: for Ana, still needs review   - unrouted: sender unknown
    - bo_new: released to Bo
    """
    world = World()
    with session_scope() as session:
        facility = Facility(
            name="FCI Englewood",
            address_line="9595 West Quincy Avenue",
            city="Littleton",
            state="CO",
            zip="80123",
            system="federal",
        )
        jose = Inmate(
            name="José Martínez",
            inmate_number="12345-678",
            number_key="12345678",
            facility=facility,
        )
        lee = Inmate(
            name="Lee Walker", inmate_number="87654-321", number_key="87654321", facility=facility
        )
        ana = Volunteer(email="ana@example.org", display_name="Ana P.")
        bo = Volunteer(email="bo@example.org", display_name="Bo K.")
        session.add_all([facility, jose, lee, ana, bo])
        session.flush()
        session.add_all(
            [
                Match(inmate_id=jose.id, volunteer_id=ana.id),
                Match(inmate_id=lee.id, volunteer_id=bo.id),
            ]
        )
        hashed = password_hash()
        for role, email, volunteer in [
            ("mailroom", "mail@example.org", None),
            ("admin", "admin@example.org", None),
            ("penpal", "ana@example.org", ana),
            ("penpal", "bo@example.org", bo),
        ]:
            session.add(
                User(
                    email=email,
                    role=role,
                    password_hash=hashed,
                    volunteer_id=volunteer.id if volunteer else None,
                )
            )
        world.users = {
            "mailroom": "mail@example.org",
            "admin": "admin@example.org",
            "ana": "ana@example.org",
            "bo": "bo@example.org",
        }
        world.inmate_ids = {"jose": jose.id, "lee": lee.id}

        _letter(session, world, "ana_read", status="read", inmate=jose, volunteer=ana, age_hours=80)
        _letter(
            session,
            world,
            "unrouted",
            status="unrouted",
            inmate=None,
            volunteer=None,
            age_hours=50,
            reasons=["sender_unknown"],
        )
        _letter(
            session,
            world,
            "ana_review",
            status="needs_review",
            inmate=jose,
            volunteer=ana,
            age_hours=30,
            reasons=["low_ocr_confidence"],
        )
        _letter(
            session, world, "ana_new", status="released", inmate=jose, volunteer=ana, age_hours=10
        )
        _letter(session, world, "bo_new", status="released", inmate=lee, volunteer=bo, age_hours=5)
    return world


@pytest.fixture
def world(lb_home: Path) -> World:
    return build_world()


@pytest.fixture
def app(lb_home: Path):  # FastAPI
    from review_ui.app import create_app

    return create_app()


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> TestClient:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def client_for(app, world: World) -> Iterator:
    """`client_for("ana")` → a TestClient logged in as that person (fresh cookies each)."""
    clients: list[TestClient] = []

    def make(who: str | None = None) -> TestClient:
        client = TestClient(app, follow_redirects=False)
        clients.append(client)
        if who is not None:
            login(client, world.users[who])
        return client

    yield make
    for client in clients:
        client.close()


class LiveServer:
    def __init__(self, app) -> None:  # FastAPI
        import socket

        import uvicorn

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web app did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app, world: World) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


@pytest.fixture
def sign_in(live_server: LiveServer, world: World):
    """`sign_in(page, who)`: `who` (a role name of world.users) logs in through the form."""

    def go(page, who: str) -> None:  # playwright Page
        page.goto(f"{live_server.url}/login")
        page.fill("input[name=email]", world.users[who])
        page.fill("input[name=password]", world.password)
        with page.expect_navigation():
            page.click("button[type=submit]")

    return go


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=BROWSER_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def shot() -> Iterator:
    """`shot(page, "name")` keeps a full-page screenshot in tests/artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:  # playwright Page
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    yield take
