"""The FastAPI application: routes, static files, security headers, and what errors look like."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.settings import get_settings
from review_ui.auth import NotLoggedIn, SessionSigner, load_secret_key, session_user
from review_ui.limits import FORM_LIMIT, BodyLimit
from review_ui.routes import account, admin, letters, mailroom, penpal
from review_ui.throttle import LoginLimiter
from review_ui.web import render
from storage.db import session_scope

STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
]


class SecurityHeaders:
    """Adds the headers above and `Server-Timing: app;dur=<ms>` (what the benchmark reads)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                headers.append((b"server-timing", f"app;dur={elapsed:.1f}".encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class NoStore:
    """`Cache-Control: no-store` on every answer that has none (all but /static): pages carry
    letters, names and CSRF tokens, and Back after logout must not show them from the cache.
    Images and downloads set their own header; the stylesheet and script may be cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_no_store)


def _wants_json(request: Request) -> bool:
    # The page's own scripts (autosave, upload progress) ask for JSON; a redirect to the
    # login form would read to them as a broken answer.
    return "application/json" in request.headers.get("accept", "")


def _to_login(request: Request) -> Response:
    if _wants_json(request):
        return JSONResponse(
            {"error": "you are logged out; log in again (your text is still on this page)"},
            status_code=401,
        )
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method == "GET" and target not in {"/", "/login"}:
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return RedirectResponse("/login", status_code=303)


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(title="Letterbridge", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.signer = SessionSigner(load_secret_key(settings))
    app.state.login_limiter = LoginLimiter(app.state.signer.keyed)

    upload_limit = settings.max_upload_bytes
    app.add_middleware(BodyLimit, limit_for=lambda path: upload_limit
                       if path == "/mailroom/upload" else FORM_LIMIT)
    app.add_middleware(NoStore)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (account, letters, mailroom, penpal, admin):
        app.include_router(module.router)

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, _exc: NotLoggedIn) -> Response:
        return _to_login(request)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, _exc: RequestValidationError) -> Response:
        # A malformed path is an address that doesn't exist; a malformed query (?page=abc,
        # ?page=99999999999999999999) or form, a bad request.
        in_path = any(error.get("loc", ("",))[0] == "path" for error in _exc.errors())
        if request.method == "GET" and in_path:
            return await http_error(request, StarletteHTTPException(404))
        if request.method == "GET":
            return render(
                request,
                "error.html",
                status_code=400,
                title="Not a valid address",
                message="A number or date in the address is out of range. Go back and try again.",
            )
        return render(
            request,
            "error.html",
            status_code=400,
            title="Something is missing",
            message="The form was incomplete. Go back and try again.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if getattr(request.state, "user", None) is None:
            with session_scope() as db:
                session_user(request, db)
        has_session = getattr(request.state, "user", None) is not None
        if exc.status_code in (404, 405) and not has_session:
            # Without a session, every address leads to /login: nothing to learn by guessing.
            return _to_login(request)
        if exc.status_code == 403 and exc.detail == "csrf":
            return render(
                request,
                "error.html",
                status_code=403,
                title="Form expired",
                message="This form was too old or came from elsewhere. Go back, "
                "reload the page and try again.",
            )
        if exc.status_code == 404:
            return render(
                request,
                "error.html",
                status_code=404,
                title="Not found",
                message="There is nothing here, or it isn't yours to see.",
            )
        return render(
            request,
            "error.html",
            status_code=exc.status_code,
            title="Sorry",
            message=str(exc.detail),
        )

    return app
