"""The Feishu emulator's long connection (what the official SDK's `ws.Client` talks to): what the world's
events become when the tenant runs with `events = "stream"` instead of POSTing callbacks.

    POST /callback/ws/endpoint  {AppID, AppSecret}  -> {code: 0, data: {URL, ClientConfig}}
    WS   /callback/ws/connect?device_id=...&service_id=...   single-use device_id (90 s); a new one wins

Each queued event goes out as a pbbp2 DATA frame (`type` event, `message_id` the same on every
redelivery, `sum`/`seq`, `trace_id`; payload the plaintext schema 2.0 or v1 envelope), at most
`window` unacked, done when the client sends the frame back with payload `{"code": 200}`. Not acked
within `ack_timeout`, acked with another code, or in flight when the connection ends: sent again. A
client `ping` CONTROL frame is answered `pong` with the ClientConfig. Faults (`LongConnFaults`, seeded):
`drop` closes the connection right after an event, `duplicate` sends a frame twice, `fragment` splits a
payload in 3 parts sent out of order, `late_ack` takes an ack as too late (redelivery), `disconnect`
closes the connection after an ack. Bad AppSecret: code 10014 (UNCONFIRMED for this endpoint; the SDK
treats any code but 0, 1 and 1000040343 as the client's fault).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.connectors.feishu import pbbp2

Json = dict[str, Any]
ENDPOINT_PATH = "/callback/ws/endpoint"
CONNECT_PATH = "/callback/ws/connect"
TICKET_TTL = 90.0
PARTS = 3


class LongConnFaults(BaseModel):
    """Long-connection faults: each the probability that one event (or ack) suffers it."""

    model_config = ConfigDict(extra="forbid")

    drop: float = Field(0.0, ge=0, le=1, description="close the connection right after sending an event")
    duplicate: float = Field(0.0, ge=0, le=1, description="send an event frame twice")
    fragment: float = Field(0.0, ge=0, le=1, description="split an event's payload in 3 parts, out of order")
    late_ack: float = Field(0.0, ge=0, le=1, description="take an ack as too late: deliver the event again")
    disconnect: float = Field(0.0, ge=0, le=1, description="close the connection after an ack")
    seed: int = 0


class LongConnSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ack_timeout: float = Field(5.0, gt=0, description="seconds an event waits for its ack before it is resent")
    window: int = Field(16, ge=1, description="events in flight (sent, not acked) per connection")
    ping_interval: int = Field(120, gt=0, description="ClientConfig.PingInterval (seconds) given to clients")
    faults: LongConnFaults = Field(default_factory=LongConnFaults)


@dataclass
class LongConnDelivery:
    seq: int
    message_id: str
    event_id: str
    kind: str
    payload: bytes
    state: Literal["queued", "sent", "acked"] = "queued"
    sent_at: float = 0.0
    sends: int = 0

    def public(self) -> Json:
        return {"seq": self.seq, "event_id": self.event_id, "event_type": self.kind, "state": self.state,
                "sends": self.sends}


@dataclass
class _Connection:
    service: int
    raw: list[bytes | str] = field(default_factory=list)
    closed: bool = False


class LongConnGateway:
    """Device tickets, the event queue and the app's live connection."""

    def __init__(self, settings: LongConnSettings, app_id: str, app_secret: str) -> None:
        self.settings, self.app_id, self.app_secret = settings, app_id, app_secret
        self.rng = random.Random(settings.faults.seed)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self.tickets: dict[str, tuple[int, float]] = {}
        self.deliveries: list[LongConnDelivery] = []
        self.live: _Connection | None = None
        self.acks: list[Json] = []
        self.pings = 0
        self.connects = 0
        self.injected: dict[str, int] = {}

    # -- driving -------------------------------------------------------------------------------

    def publish(self, event_id: str, kind: str, envelope: Json) -> None:
        payload = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        with self._lock:
            self.deliveries.append(LongConnDelivery(next(self._seq), uuid.uuid4().hex, event_id, kind, payload))

    def wait_acked(self, timeout: float) -> int:
        """Block until the client has acked every queued event (`lifeline demo`: stored before the sandbox's next
        step) or `timeout` real seconds passed; how many are still unacked."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                unacked = sum(d.state != "acked" for d in self.deliveries)
            if not unacked or time.monotonic() >= deadline:
                return unacked
            time.sleep(0.005)

    def send_raw(self, message: bytes | str) -> bool:
        """Send any message to the connected app (bad-input tests); False when none is connected."""
        with self._lock:
            if self.live is None or self.live.closed:
                return False
            self.live.raw.append(message)
            return True

    def configure(self, faults: LongConnFaults) -> None:
        with self._lock:
            self.settings.faults = faults
            self.rng = random.Random(faults.seed)

    def summary(self) -> Json:
        with self._lock:
            states = [d.state for d in self.deliveries]
            return {"deliveries": {s: states.count(s) for s in sorted(set(states))},
                    "sends": sum(d.sends for d in self.deliveries), "connects": self.connects,
                    "connected": self.live is not None and not self.live.closed, "pings": self.pings,
                    "faults_injected": dict(self.injected)}

    def items(self) -> list[Json]:
        with self._lock:
            return [d.public() for d in self.deliveries]

    # -- the protocol --------------------------------------------------------------------------

    def endpoint(self, body: Any) -> Json:
        if not isinstance(body, dict) or not body.get("AppID"):
            return {"code": 10003, "msg": "AppID is required"}
        if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
            return {"code": 10014, "msg": "app secret invalid"}
        device, service = uuid.uuid4().hex, self.rng.randrange(1, 2**31)
        with self._lock:
            self.tickets[device] = (service, time.monotonic() + TICKET_TTL)
        return {"code": 0, "msg": "ok", "data": {
            "URL": f"{CONNECT_PATH}?device_id={device}&service_id={service}",
            "ClientConfig": {"ReconnectCount": -1, "ReconnectInterval": 120, "ReconnectNonce": 30,
                             "PingInterval": self.settings.ping_interval}}}

    def take_ticket(self, device: str, service: str) -> _Connection | None:
        with self._lock:
            found = self.tickets.pop(device, None)
            if found is None or found[1] < time.monotonic() or str(found[0]) != service:
                return None
            if self.live is not None:
                self.live.closed = True
            self.live = _Connection(found[0])
            self.connects += 1
            return self.live

    def roll(self, kind: str) -> bool:
        p = float(getattr(self.settings.faults, kind))
        hit = p > 0 and self.rng.random() < p
        if hit:
            self.injected[kind] = self.injected.get(kind, 0) + 1
        return hit

    def due(self, conn: _Connection) -> tuple[list[bytes | str], list[LongConnDelivery]]:
        """Raw messages to send, then the events to send now (marked sent)."""
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

    def frames(self, conn: _Connection, d: LongConnDelivery) -> list[bytes]:
        """The DATA frames of one delivery: one, or (fault `fragment`) its parts out of order."""
        pieces = [d.payload]
        if len(d.payload) >= PARTS and self.roll("fragment"):
            step = -(-len(d.payload) // PARTS)
            pieces = [d.payload[i:i + step] for i in range(0, len(d.payload), step)]
        frames = [pbbp2.encode(pbbp2.Frame(conn.service, pbbp2.DATA, [
            ("type", "event"), ("message_id", d.message_id), ("sum", str(len(pieces))), ("seq", str(n)),
            ("trace_id", uuid.uuid4().hex)], piece)) for n, piece in enumerate(pieces)]
        return frames[1:] + frames[:1]

    def on_message(self, conn: _Connection, message: bytes) -> tuple[bytes | None, bool]:
        """A client frame: (a reply to send, whether to close the connection now)."""
        try:
            frame = pbbp2.decode(message)
        except pbbp2.FrameError:
            return None, False
        if frame.method == pbbp2.CONTROL and frame.header("type") == "ping":
            with self._lock:
                self.pings += 1
            config = {"PingInterval": self.settings.ping_interval}
            return pbbp2.encode(pbbp2.Frame(conn.service, pbbp2.CONTROL, [("type", "pong")],
                                            json.dumps(config).encode())), False
        message_id = frame.header("message_id")
        try:
            answer = json.loads(frame.payload)
            code, data = answer.get("code"), answer.get("data")
        except (ValueError, AttributeError):
            code = data = None
        with self._lock:
            self.acks.append({"message_id": message_id, "code": code, "data": data, "biz_rt": frame.header("biz_rt")})
            found = next((d for d in self.deliveries if d.message_id == message_id), None)
            if found is None or found.state != "sent":
                return None, False
            if code != 200:
                found.state = "queued"
                return None, False
            if self.roll("late_ack"):
                return None, False  # as if it came after the timeout: sent again then
            found.state = "acked"
            return None, self.roll("disconnect")

    def lost(self, conn: _Connection) -> None:
        """The connection ended: what it had in flight goes out again on the next one."""
        with self._lock:
            conn.closed = True
            for d in self.deliveries:
                if d.state == "sent":
                    d.state = "queued"


async def serve_connection(gateway: LongConnGateway, ws: WebSocket) -> None:
    conn = gateway.take_ticket(ws.query_params.get("device_id", ""), ws.query_params.get("service_id", ""))
    if conn is None:
        await ws.close(code=1008, reason="invalid or expired device_id")
        return
    await ws.accept()
    inbox: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def read() -> None:
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                await inbox.put(message.get("bytes") or b"")
        except (WebSocketDisconnect, RuntimeError):
            pass
        await inbox.put(None)

    reader = asyncio.create_task(read())
    try:
        while not conn.closed:
            raw, batch = gateway.due(conn)
            for message in raw:
                await (ws.send_bytes(message) if isinstance(message, bytes) else ws.send_text(message))
            for d in batch:
                frames = gateway.frames(conn, d)
                for frame in frames + (frames if gateway.roll("duplicate") else []):
                    await ws.send_bytes(frame)
                if gateway.roll("drop"):
                    await ws.close(code=1011)
                    return
            try:
                got = await asyncio.wait_for(inbox.get(), 0.02)
            except TimeoutError:
                continue
            if got is None:
                return
            reply, close = gateway.on_message(conn, got)
            if reply is not None:
                await ws.send_bytes(reply)
            if close:
                await ws.close(code=1000, reason="server closed the connection")
                return
        await ws.close(code=1000, reason="replaced by a newer connection")
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        reader.cancel()
        gateway.lost(conn)


def longconn_router(gateway: LongConnGateway) -> APIRouter:
    router = APIRouter()

    @router.post(ENDPOINT_PATH, include_in_schema=False)
    async def endpoint(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        answer = gateway.endpoint(body)
        if answer["code"] == 0:
            base = str(request.base_url).rstrip("/").replace("http", "ws", 1)
            answer["data"]["URL"] = base + answer["data"]["URL"]
        return JSONResponse(answer)

    @router.websocket(CONNECT_PATH)
    async def connect(ws: WebSocket) -> None:
        await serve_connection(gateway, ws)

    return router
