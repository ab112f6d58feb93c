"""The FastAPI application: routes, static files, security headers, and what errors look like."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.settings import get_settings
from review_ui.auth import SESSION_COOKIE, LoginLimiter, NotLoggedIn, SessionSigner, load_secret_key
from review_ui.limits import FORM_LIMIT, BodyLimit
from review_ui.routes import account, admin, letters, mailroom, penpal
from review_ui.web import render

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


def _to_login(request: Request) -> Response:
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
    app.state.login_limiter = LoginLimiter()
    app.state.secure_cookies = settings.base_url.startswith("https://")

    upload_limit = settings.max_upload_bytes
    app.add_middleware(BodyLimit, limit_for=lambda path: upload_limit
                       if path == "/mailroom/upload" else FORM_LIMIT)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (account, letters, mailroom, penpal, admin):
        app.include_router(module.router)

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, _exc: NotLoggedIn) -> Response:
        return _to_login(request)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, _exc: RequestValidationError) -> Response:
        # A malformed address is an address that doesn't exist; a malformed form, a bad request.
        if request.method == "GET":
            return await http_error(request, StarletteHTTPException(404))
        return render(
            request,
            "error.html",
            status_code=400,
            title="Something is missing",
            message="The form was incomplete. Go back and try again.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        has_session = request.app.state.signer.read(request.cookies.get(SESSION_COOKIE))
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
