"""`/callbacks/{instance}`: vendor callbacks, verified by the connector, deduplicated, stored, answered.

Served for every enabled instance whose connector overrides `handle_callback`. The order is fixed:
read the body (at most `CALLBACK_LIMIT` bytes, else 413), verify (the connector raises
`CallbackRejected`: 401, or `CallbackMalformed`: 400 for authentic but unreadable content, and
records with NUL characters, which no store column holds, are 400 too; nothing stored, the answer
names the reason), then in one transaction insert the (source, event id) into
`inbound_events` if absent and, only when it was absent, write the records and quarantine what the
connector kept (stream `callbacks`); then answer with the connector's reply. A repeated delivery
gets the same answer and stores nothing. A connector bug is a 500 that names nothing. The request
path makes no network calls of its own, so vendors get their answer in time (a connector makes one
short vendor call only where the vendor wants it at once: WeCom's 20-second welcome code).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from lifeline_hub.core.config import Config, ConnectorSetup
from lifeline_hub.core.connector import CallbackRejected, CallbackRequest, CallbackResult, Connector
from lifeline_hub.core.http.redact import redact
from lifeline_hub.core.receiver.conformance import accepts_callbacks
from lifeline_hub.core.receiver.guards import CALLBACK_LIMIT, read_body
from lifeline_hub.core.receiver.untrusted import CallbackMalformed
from lifeline_hub.core.store import Store, insert_new
from lifeline_hub.core.store.schema import inbound_events
from lifeline_hub.core.sync import build_connector

log = logging.getLogger("lifeline.receiver.callbacks")

CALLBACK_STREAM = "callbacks"
"""The stream name under which a callback's `kept` items are quarantined."""
REASON_CHARS = 120
"""How much of a rejection's reason the answer carries."""
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
"""An escaped NUL in JSON text (a `\\u0000` not itself escaped)."""


@dataclass(frozen=True)
class Endpoint:
    """One callback endpoint: its instance and connector (or why the connector could not be built)."""

    setup: ConnectorSetup
    connector: Connector | None
    error: str | None = None


def callback_endpoints(config: Config) -> dict[str, Endpoint]:
    """An endpoint per enabled callback-accepting instance; a broken one answers 503, never blocks the rest."""
    endpoints = {}
    for setup in config.instances():
        if not accepts_callbacks(setup.connector_class):
            continue
        name = setup.instance.name
        try:
            endpoints[name] = Endpoint(setup, build_connector(setup))
        except Exception as exc:  # a missing connection must not keep the receiver down
            error = redact(f"{type(exc).__name__}: {exc}")
            log.error("callbacks for %s are unavailable: %s", name, error)
            endpoints[name] = Endpoint(setup, None, error)
    return endpoints


def store_callback(store: Store, tenant: str, source: str, result: CallbackResult, at: datetime) -> bool:
    """Dedupe and store in one transaction; False when (source, event id) was stored before."""
    with store.begin() as conn:
        if result.event_id is not None and not insert_new(
                conn, inbound_events, [{"source": source, "event_id": result.event_id, "received_at": at}],
                ("source", "event_id")):
            return False
        if result.records:
            store.write(tenant, result.records, conn)
        store.quarantine(tenant, source, CALLBACK_STREAM, result.kept, conn)
    return True


class ForeignRecords(Exception):
    """A connector bug: `handle_callback` returned records of another source."""


def accept_callback(store: Store, setup: ConnectorSetup, connector: Connector,
                    request: CallbackRequest) -> tuple[CallbackResult, bool]:
    """The one path of every vendor event, over HTTP or an event stream (`core.listen`): the connector's
    `handle_callback` (raises `CallbackRejected`/`CallbackMalformed`), the checks, then `store_callback`.
    Returns the result and whether it was stored now (False: a redelivery)."""
    name = setup.instance.name
    result = connector.handle_callback(request)
    foreign = {r.source for r in result.records} - {name}
    if foreign:
        raise ForeignRecords(f"handle_callback returned records of other sources {sorted(foreign)}")
    if _holds_nul(result):
        raise CallbackMalformed("NUL characters in the event")
    fresh = store_callback(store, setup.tenant, name, result, request.received_at)
    log.info("%s: %s %s %s (%d records)", name, "callback" if request.transport == "http" else "stream event",
             result.event_id or "-", "stored" if fresh else "duplicate", len(result.records) if fresh else 0)
    return result, fresh


def callback_router(config: Config, store: Store, clock: Callable[[], datetime]) -> APIRouter:
    router = APIRouter()
    endpoints = callback_endpoints(config)

    def process(endpoint: Endpoint, request: CallbackRequest) -> Response:
        assert endpoint.connector is not None
        name = endpoint.setup.instance.name
        try:
            result, _ = accept_callback(store, endpoint.setup, endpoint.connector, request)
        except CallbackRejected as exc:
            reason = redact(exc.reason)
            malformed = isinstance(exc, CallbackMalformed)
            log.warning("%s: callback %s: %s", name, "malformed" if malformed else "rejected", reason)
            return JSONResponse({"error": "malformed callback" if malformed else "callback rejected",
                                 "reason": reason[:REASON_CHARS]}, status_code=400 if malformed else 401)
        except ForeignRecords as exc:
            log.error("%s: %s", name, exc)
            return JSONResponse({"error": "callback could not be processed"}, status_code=500)
        return _reply(result)

    @router.api_route("/callbacks/{instance}", methods=["GET", "POST"], include_in_schema=False)
    async def callback(instance: str, request: Request) -> Response:
        endpoint = endpoints.get(instance)
        if endpoint is None:
            return JSONResponse({"error": "no callback endpoint here"}, status_code=404)
        if endpoint.connector is None:
            return JSONResponse({"error": "callback endpoint unavailable"}, status_code=503)
        body = await read_body(request, CALLBACK_LIMIT)
        incoming = CallbackRequest(headers=_lowered(request.headers), query=dict(request.query_params), body=body,
                                   received_at=clock())
        try:
            return await run_in_threadpool(process, endpoint, incoming)
        except SQLAlchemyError as exc:
            log.error("%s: callback not stored (%s); the vendor will retry", instance, type(exc).__name__)
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        except Exception as exc:  # a plugin bug: the vendor retries, we log without the payload
            log.error("%s: handle_callback failed: %s", instance, redact(f"{type(exc).__name__}: {exc}"))
            return JSONResponse({"error": "callback could not be processed"}, status_code=500)

    return router


def _holds_nul(result: CallbackResult) -> bool:
    """Whether the event carries NUL characters, which no store column can hold (PostgreSQL refuses them)."""
    return ("\x00" in (result.event_id or "") or any(_JSON_NUL.search(r.model_dump_json()) for r in result.records)
            or any("\x00" in json.dumps(m.payload, default=str) or "\x00" in m.reason for m in result.kept))


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _reply(result: CallbackResult) -> Response:
    reply = result.reply
    if reply is None:
        return Response(status_code=result.status_code)
    if isinstance(reply, bytes | str):
        return PlainTextResponse(reply, status_code=result.status_code)
    return JSONResponse(reply, status_code=result.status_code)
