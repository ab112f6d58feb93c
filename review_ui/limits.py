"""Request bodies are limited before anything reads them.

Starlette spools a multipart upload to its own temporary file before a route sees it, so a
limit checked in the route comes after the disk has filled. This middleware refuses a body
whose declared length is too large at once, and cuts off one that grows past the limit while
it streams (chunked uploads declare no length)."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Forms, drafts, redaction boxes: a long reply is tens of kilobytes.
FORM_LIMIT = 2 * 1024 * 1024


class BodyLimit:
    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for  # path → bytes allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        headers = dict(scope.get("headers") or [])
        wants_json = b"application/json" in headers.get(b"accept", b"")
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit, wants_json=wants_json)
            return
        received = 0
        too_big = False

        async def counting_receive() -> Message:
            nonlocal received, too_big
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_big = True
                    return {"type": "http.disconnect"}  # the app stops reading here
            return message

        async def guarded_send(message: Message) -> None:
            if not too_big:  # whatever the app answers to a cut-off body, ours goes out
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_big:
                raise
        if too_big:
            await _refuse(send, limit, wants_json=wants_json)


async def _refuse(send: Send, limit: int, *, wants_json: bool) -> None:
    message = f"too large: the limit is {_size(limit)} per request"
    if wants_json:
        body, kind = json.dumps({"error": message}).encode(), b"application/json"
    else:
        body = (f"<!doctype html><title>Too large</title><p>The upload is {message}. "
                f"Send the files in smaller groups.</p>").encode()
        kind = b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n / 1024:g} KB"
