"""The DingTalk emulator's Stream mode gateway (reference §10b): what `world.emit` delivers when the org
runs with `events = "stream"` instead of POSTing callbacks.

    POST /v1.0/gateway/connections/open  {clientId, clientSecret, subscriptions}  -> {endpoint, ticket}
    WS   /gateway/connect?ticket=...      single-use ticket (90 s); one connection per app (a new one wins)

Each queued event is sent as an EVENT frame (data = the HTTP plaintext minus `EventType`, which travels
in the `eventType` header; `eventId` and `messageId` stay the same on every redelivery), at most
`window` unacked at a time, and is done only when acked `SUCCESS`. An event not acked within
`ack_timeout` seconds, acked `LATER`, or in flight when the connection ends is sent again. SYSTEM
pings go out every `ping_interval` seconds. Faults (`StreamFaults`, seeded): `drop` closes the
connection right after sending an event (mid-event), `duplicate` sends a frame twice, `late_ack` takes
an ack as arriving after the timeout (the event is redelivered), `disconnect` sends SYSTEM disconnect
after an ack. Credentials the org does not know: 401 InvalidAuthentication (body UNCONFIRMED).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from lifeline_hub.connectors.dingtalk.emulator_state import DingTalkApp

Json = dict[str, Any]
OPEN_PATH = "/v1.0/gateway/connections/open"
CONNECT_PATH = "/gateway/connect"
TICKET_TTL = 90.0


class StreamFaults(BaseModel):
    """Stream faults: each the probability that one event (or ack) suffers it."""

    model_config = ConfigDict(extra="forbid")

    drop: float = Field(0.0, ge=0, le=1, description="close the connection right after sending an event")
    duplicate: float = Field(0.0, ge=0, le=1, description="send an event frame twice")
    late_ack: float = Field(0.0, ge=0, le=1, description="take an ack as too late: deliver the event again")
    disconnect: float = Field(0.0, ge=0, le=1, description="SYSTEM disconnect after an ack")
    seed: int = 0


class StreamSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ack_timeout: float = Field(5.0, gt=0, description="seconds an event waits for its ack before it is resent")
    window: int = Field(16, ge=1, description="events in flight (sent, not acked) per connection")
    ping_interval: float = Field(10.0, gt=0, description="seconds between SYSTEM pings")
    faults: StreamFaults = Field(default_factory=StreamFaults)


@dataclass
class StreamDelivery:
    seq: int
    message_id: str
    event_id: str
    kind: str
    data: str
    born_ms: int
    state: Literal["queued", "sent", "acked"] = "queued"
    sent_at: float = 0.0
    sends: int = 0

    def public(self) -> Json:
        return {"seq": self.seq, "event_id": self.event_id, "event_type": self.kind, "state": self.state,
                "sends": self.sends}


@dataclass
class _Connection:
    appkey: str
    ident: str
    raw: list[str] = field(default_factory=list)
    closed: bool = False


class StreamGateway:
    """Tickets, the event queue and the live connection of each app."""

    def __init__(self, settings: StreamSettings, corp_id: str, apps: dict[str, DingTalkApp],
                 now_ms: Callable[[], int]) -> None:
        self.settings, self.corp_id, self.apps, self.now_ms = settings, corp_id, apps, now_ms
        self.rng = random.Random(settings.faults.seed)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self.tickets: dict[str, tuple[str, float]] = {}
        self.deliveries: list[StreamDelivery] = []
        self.connections: dict[str, _Connection] = {}
        self.acks: list[Json] = []
        self.pongs = 0
        self.connects = 0
        self.injected: dict[str, int] = {}

    # -- driving -------------------------------------------------------------------------------

    def publish(self, event: Json, copies: int = 1) -> None:
        """Queue an event (as `world.emit` would POST it) for the stream."""
        body = {k: v for k, v in event.items() if k != "EventType"}
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            for _ in range(copies):
                self.deliveries.append(StreamDelivery(next(self._seq), uuid.uuid4().hex, uuid.uuid4().hex,
                                                      str(event.get("EventType") or ""), data, self.now_ms()))

    def send_raw(self, frame: str) -> bool:
        """Send any text to the connected app (bad-input tests); False when none is connected."""
        with self._lock:
            live = [c for c in self.connections.values() if not c.closed]
            for conn in live:
                conn.raw.append(frame)
            return bool(live)

    def configure(self, faults: StreamFaults) -> None:
        with self._lock:
            self.settings.faults = faults
            self.rng = random.Random(faults.seed)

    def summary(self) -> Json:
        with self._lock:
            states = [d.state for d in self.deliveries]
            return {"deliveries": {s: states.count(s) for s in sorted(set(states))},
                    "sends": sum(d.sends for d in self.deliveries), "connects": self.connects,
                    "connected": sorted(k for k, c in self.connections.items() if not c.closed),
                    "pongs": self.pongs, "faults_injected": dict(self.injected)}

    def items(self) -> list[Json]:
        with self._lock:
            return [d.public() for d in self.deliveries]

    # -- the protocol --------------------------------------------------------------------------

    def open(self, body: Any) -> tuple[int, Json]:
        if not isinstance(body, dict):
            return 400, {"code": "MissingParameter", "message": "body must be a JSON object"}
        app = self.apps.get(str(body.get("clientId") or ""))
        if app is None or body.get("clientSecret") != app.appsecret:
            return 401, {"code": "InvalidAuthentication", "message": "clientId or clientSecret is invalid"}
        subs = body.get("subscriptions")
        if not (isinstance(subs, list) and subs and all(isinstance(s, dict) and s.get("type") and s.get("topic")
                                                         for s in subs)):
            return 400, {"code": "invalidParameter", "message": "subscriptions must list {type, topic}"}
        ticket = uuid.uuid4().hex
        with self._lock:
            self.tickets[ticket] = (app.appkey, time.monotonic() + TICKET_TTL)
        return 200, {"ticket": ticket}

    def take_ticket(self, ticket: str) -> _Connection | None:
        with self._lock:
            found = self.tickets.pop(ticket, None)
            if found is None or found[1] < time.monotonic():
                return None
            old = self.connections.get(found[0])
            if old is not None:
                old.closed = True
            conn = _Connection(found[0], uuid.uuid4().hex)
            self.connections[found[0]] = conn
            self.connects += 1
            return conn

    def _roll(self, kind: str) -> bool:
        p = float(getattr(self.settings.faults, kind))
        hit = p > 0 and self.rng.random() < p
        if hit:
            self.injected[kind] = self.injected.get(kind, 0) + 1
        return hit

    def due(self, conn: _Connection) -> tuple[list[str], list[StreamDelivery]]:
        """Raw frames to send, then the events to send now (marked sent)."""
        now = time.monotonic()
        with self._lock:
            raw, conn.raw = conn.raw, []
            if conn.closed:
                return raw, []
            timeout = self.settings.ack_timeout
            in_flight = sum(d.state == "sent" and now - d.sent_at < timeout for d in self.deliveries)
            batch = [d for d in self.deliveries if d.state == "queued"
                     or (d.state == "sent" and now - d.sent_at >= timeout)][:max(self.settings.window - in_flight, 0)]
            for d in batch:
                d.state, d.sent_at, d.sends = "sent", now, d.sends + 1
            return raw, batch

    def frame(self, conn: _Connection, d: StreamDelivery) -> str:
        at = str(self.now_ms())
        headers = {"appId": conn.appkey, "connectionId": conn.ident, "contentType": "application/json",
                   "eventBornTime": str(d.born_ms), "eventCorpId": self.corp_id, "eventId": d.event_id,
                   "eventType": d.kind, "eventUnifiedAppId": conn.appkey, "messageId": d.message_id, "time": at,
                   "topic": "*"}
        return json.dumps({"specVersion": "1.0", "type": "EVENT", "headers": headers, "data": d.data})

    def ping(self) -> str:
        headers = {"contentType": "application/json", "messageId": uuid.uuid4().hex, "time": str(self.now_ms()),
                   "topic": "ping"}
        return json.dumps({"specVersion": "1.0", "type": "SYSTEM", "headers": headers,
                           "data": json.dumps({"opaque": uuid.uuid4().hex})})

    def disconnect_frame(self) -> str:
        headers = {"contentType": "application/json", "messageId": uuid.uuid4().hex, "time": str(self.now_ms()),
                   "topic": "disconnect"}
        return json.dumps({"specVersion": "1.0", "type": "SYSTEM", "headers": headers, "data": "{}"})

    def on_reply(self, text: str) -> bool:
        """An ack or pong from the client; True when the server should now ask it to reconnect."""
        try:
            reply = json.loads(text)
            message_id = reply["headers"]["messageId"]
            status = json.loads(reply["data"]).get("status") if reply.get("data") else None
        except (ValueError, KeyError, TypeError, AttributeError):
            return False
        with self._lock:
            self.acks.append({"messageId": message_id, "code": reply.get("code"), "status": status})
            found = next((d for d in self.deliveries if d.message_id == message_id), None)
            if found is None:
                self.pongs += 1
                return False
            if found.state != "sent":
                return False
            if status == "LATER":
                found.state = "queued"
                return False
            if status != "SUCCESS" or self._roll("late_ack"):
                return False  # as if it came after the timeout: sent again then
            found.state = "acked"
            return self._roll("disconnect")

    def lost(self, conn: _Connection) -> None:
        """The connection ended: what it had in flight goes out again on the next one."""
        with self._lock:
            conn.closed = True
            for d in self.deliveries:
                if d.state == "sent":
                    d.state = "queued"


async def serve_connection(gateway: StreamGateway, ws: WebSocket) -> None:
    conn = gateway.take_ticket(ws.query_params.get("ticket", ""))
    if conn is None:
        await ws.close(code=1008, reason="invalid or expired ticket")
        return
    await ws.accept()
    replies: asyncio.Queue[str | None] = asyncio.Queue()

    async def read() -> None:
        try:
            while True:
                await replies.put(await ws.receive_text())
        except (WebSocketDisconnect, RuntimeError):
            await replies.put(None)

    reader = asyncio.create_task(read())
    next_ping = time.monotonic() + gateway.settings.ping_interval
    try:
        while not conn.closed:
            raw, batch = gateway.due(conn)
            for text in raw:
                await ws.send_text(text)
            for d in batch:
                frame = gateway.frame(conn, d)
                await ws.send_text(frame)
                if gateway._roll("duplicate"):
                    await ws.send_text(frame)
                if gateway._roll("drop"):
                    await ws.close(code=1011)
                    return
            if time.monotonic() >= next_ping:
                await ws.send_text(gateway.ping())
                next_ping = time.monotonic() + gateway.settings.ping_interval
            try:
                reply = await asyncio.wait_for(replies.get(), 0.02)
            except TimeoutError:
                continue
            if reply is None:
                return
            if gateway.on_reply(reply):
                await ws.send_text(gateway.disconnect_frame())
                await asyncio.sleep(0.05)
                await ws.close()
                return
        await ws.close(code=1000, reason="replaced by a newer connection")
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        reader.cancel()
        gateway.lost(conn)


def stream_router(gateway: StreamGateway) -> APIRouter:
    router = APIRouter()

    @router.post(OPEN_PATH, include_in_schema=False)
    async def open_connection(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        status, answer = gateway.open(body)
        if status == 200:
            base = str(request.base_url).rstrip("/").replace("http", "ws", 1)
            answer = {"endpoint": base + CONNECT_PATH, **answer}
        else:
            answer = {"requestid": uuid.uuid4().hex.upper(), **answer}  # the new host's error envelope (§2)
        return JSONResponse(answer, status_code=status)

    @router.websocket(CONNECT_PATH)
    async def connect(ws: WebSocket) -> None:
        await serve_connection(gateway, ws)

    return router
