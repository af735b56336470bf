"""The receiver app (`lifeline serve`): join links, vendor callbacks, remediation pages, a health check.

    app = create_app(config, store, host)    # any ASGI server; `lifeline serve` uses uvicorn

Routes: `GET|HEAD /j/{token}` (interstitial), `POST /j/{token}` (join: 303 to the platform),
`GET|POST /callbacks/{instance}` (per callback-accepting connector instance), `GET|HEAD
/healthz` (200 when the store answers, else 503; with the state of each `lifeline listen` event
connection: connected, disconnected, stopped or lost, since, last event), the reminders' confirm
page (`GET|POST /c/{token}`: confirm, decline or ask to move; core.reminders.web) and remediation's
pages (`/r/{token}` for the candidate's reschedule form, `/hr/{signed}` for HR's next steps; core.remediation.web). The
access log names the route, never the path, so tokens stay out of logs. Every route reads bodies
through `lifeline_hub.core.receiver.guards.read_body` (bounded while streaming) and every response carries the
guards' protective headers; an unexpected error is a bare 500 that names nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from lifeline_hub.core.config import Config
from lifeline_hub.core.links.pages import Notice, choose_locale, render_notice
from lifeline_hub.core.listen.status import listener_states
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.receiver.callbacks import callback_router
from lifeline_hub.core.receiver.guards import Guard
from lifeline_hub.core.receiver.join import join_router
from lifeline_hub.core.remediation.web import remediation_router
from lifeline_hub.core.reminders.web import confirm_router
from lifeline_hub.core.store import Store

log = logging.getLogger("lifeline.receiver")


def create_app(config: Config, store: Store, host: PluginHost,
               clock: Callable[[], datetime] = utcnow) -> FastAPI:
    """The receiver for `config`'s tenants over `store`; `clock` is injectable for tests and the sandbox."""
    for failure in host.failures:
        log.warning("%s", failure.describe_failure())
    app = FastAPI(title="Lifeline receiver", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(join_router(config, store, clock))
    app.include_router(callback_router(config, store, clock))
    app.include_router(confirm_router(store, config, clock))
    app.include_router(remediation_router(store, config, host, clock))
    app.add_middleware(Guard)

    @app.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
    def healthz() -> JSONResponse:
        try:
            with store.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            listeners = {s.source: s.public(clock()) for s in listener_states(store)}
        except SQLAlchemyError as exc:
            log.error("health: store unreachable (%s)", type(exc).__name__)
            return JSONResponse({"status": "unavailable", "store": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", **({"listeners": listeners} if listeners else {})})

    @app.exception_handler(SQLAlchemyError)
    async def store_down(request: Request, exc: SQLAlchemyError) -> Response:
        log.error("%s %s: store unavailable (%s)", request.method, _route(request), type(exc).__name__)
        if request.url.path.startswith(("/j/", "/c/", "/r/", "/hr/")):
            lang = choose_locale(request.query_params.get("lang"), request.headers.get("accept-language"))
            return HTMLResponse(render_notice(Notice.unavailable, lang), status_code=503)
        return JSONResponse({"error": "temporarily unavailable"}, status_code=503)

    @app.middleware("http")
    async def access_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.monotonic()
        response = await call_next(request)
        log.info("%s %s -> %d in %.1f ms", request.method, _route(request), response.status_code,
                 (time.monotonic() - started) * 1000)
        return response

    return app


def _route(request: Request) -> str:
    """The matched route's template (`/j/{token}`), never the actual path."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "(unrouted)"))
