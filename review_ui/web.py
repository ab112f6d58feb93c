"""What every page shares: templates, rendering with the user and CSRF token, flash messages,
and reading numbers and dates out of an address without trusting them."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeSerializer

from letters.states import ReviewReason
from review_ui.auth import PRELOGIN_COOKIE, csrf_token_for, is_https
from storage.models import utcnow

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
FLASH_COOKIE = "lb_flash"

REASON_LABELS = {
    "low_ocr_confidence": "OCR unsure",
    "needs_transcription": "needs transcription",
    "sender_ambiguous": "sender ambiguous",
    "sender_unknown": "sender unknown",
    "sender_unreadable": "sender unreadable",
    "no_active_match": "no active match",
    "redaction_check_failed": "redaction check failed",
    "likely_transfer": "likely transfer",
}


def reason_label(reason: str) -> str:
    return REASON_LABELS.get(reason) or ReviewReason.label_of(reason)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def waited(value: datetime | None) -> str:
    """How long ago, in the largest unit that matters to someone working a queue."""
    if value is None:
        return ""
    seconds = max(0, int((utcnow() - value).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


TEMPLATES.env.filters["reason"] = reason_label
TEMPLATES.env.filters["when"] = when
TEMPLATES.env.filters["waited"] = waited


# --- numbers and dates from the address bar -------------------------------------------

# Far beyond any real list, far below what a database's OFFSET overflows at: a page number
# outside 1..MAX_PAGE is a bad request (400), never a 500.
MAX_PAGE = 100_000
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
# A row id in a query string (?inmate=, ?volunteer=): a positive 63-bit integer or a 400.
MAX_ID = 2**63 - 1
RowId = Annotated[int, Query(ge=1, le=MAX_ID)]


class BadRequest(HTTPException):
    def __init__(self, message: str) -> None:
        super().__init__(status_code=400, detail=message)


def page_offset(page: int, size: int) -> int:
    return (page - 1) * size


def parse_day(value: str, field: str) -> date | None:
    """A YYYY-MM-DD from a filter form; empty is no filter, anything else a 400."""
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{field} must be a date like 2026-12-01") from None


def _flash_serializer(request: Request) -> URLSafeSerializer:
    return URLSafeSerializer(request.app.state.signer.secret.decode(), salt="letterbridge-flash")


def redirect(
    request: Request, url: str, message: str = "", *, error: bool = False, **extra: str
) -> Response:
    """303 to `url`, carrying a one-time message shown on the next page (and `extra` values
    the next page's template reads as `flash.<name>`, e.g. a link shown once)."""
    response = RedirectResponse(url, status_code=303)
    if message:
        value = _flash_serializer(request).dumps({"m": message, "e": error, "x": extra})
        response.set_cookie(
            FLASH_COOKIE,
            value,
            httponly=True,
            samesite="lax",
            path="/",
            secure=is_https(request),
        )
    return response


def _read_flash(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = _flash_serializer(request).loads(raw)
    except BadSignature:
        return None
    extra = data.get("x") if isinstance(data.get("x"), dict) else {}
    return {
        **{str(k): str(v) for k, v in extra.items()},
        "message": str(data.get("m", "")),
        "error": bool(data.get("e")),
    }


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    flash = _read_flash(request)
    context.setdefault("error", None)
    context.update(
        user=getattr(request.state, "user", None),
        csrf_token=csrf_token_for(request),
        flash=flash,
    )
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    seed = getattr(request.state, "prelogin_seed", None)
    if seed:
        response.set_cookie(
            PRELOGIN_COOKIE,
            seed,
            httponly=True,
            samesite="lax",
            path="/",
            secure=is_https(request),
        )
    return response
