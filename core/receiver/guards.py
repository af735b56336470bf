"""What guards every receiver route against hostile requests: bounded bodies, protective headers, no leaks.

    body = await read_body(request, limit)    # 413 (and the connection closed) once past `limit`
    app.add_middleware(Guard)                  # PAGE_HEADERS on every response; a bug is a bare 500

`read_body` is the only way a route reads a request body: it refuses a declared `Content-Length`
over the limit before reading anything and stops reading a streamed (chunked) body as soon as it
passes the limit, so a huge upload costs the server at most `limit` bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import HTTPException, Request
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("lifeline.receiver")

FORM_LIMIT = 16 * 1024
"""Any page's form (the reschedule form with a 500-character note is the largest)."""
CALLBACK_LIMIT = 1024 * 1024
"""A vendor callback (DingTalk, Feishu and aiplatform events are a few KiB; an SmsReport batch more)."""

PAGE_HEADERS: Mapping[str, str] = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
}
"""Sent with every receiver response: not cached, not indexed, not framed, no referrer, no scripts."""


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body too large (at most {limit} bytes)", headers={"Connection": "close"})


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read chunk by chunk; `BodyTooLarge` (413) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit() and len(declared) <= 19):
            raise HTTPException(400, "malformed Content-Length", headers={"Connection": "close"})
        if int(declared) > limit:
            raise BodyTooLarge(limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise BodyTooLarge(limit)
    except ClientDisconnect:
        raise HTTPException(400, "incomplete body", headers={"Connection": "close"}) from None
    return bytes(body)


class Guard:
    """ASGI middleware: every response carries `PAGE_HEADERS` (a route's own values win), and an
    exception no handler took is logged by route and type only (no payload, no traceback) and
    answered with a bare 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def guarded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in PAGE_HEADERS.items()
                         if k.lower().encode() not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, guarded)
        except Exception as exc:  # a bug: say nothing about it to the client, and little in the log
            route = getattr(scope.get("route"), "path", "(unrouted)")
            log.error("%s %s: unhandled %s", scope.get("method"), route, type(exc).__name__)
            if started:  # too late for a 500: the server closes the connection
                return
            await guarded({"type": "http.response.start", "status": 500,
                           "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
            await guarded({"type": "http.response.body", "body": b"internal error"})
