"""Feishu long connection (reference §9 delivery mode 2): the app's outbound WebSocket for events, as the
official SDK's `lark_oapi.ws.Client` speaks it.

    link = FeishuLongConnLink(connector)
    session = link.open()     # POST {open}/callback/ws/endpoint {AppID, AppSecret} -> URL + ClientConfig

Messages are binary `pbbp2.Frame`s. CONTROL frames (method 0, header `type`): the client sends `ping`
every `ClientConfig.PingInterval` seconds with the URL's `service_id`; the server answers `pong`.
DATA frames (method 1) carry headers `type` (event, card), `message_id`, `sum`, `seq`, `trace_id`; a
payload split in `sum` parts is reassembled by `message_id` in `seq` order. The payload is the schema
2.0 event JSON in plaintext. The ack is the same frame sent back with a `biz_rt` header and payload
`{"code": 200}` (500 asks for redelivery). Endpoint answers: `code` 0 ok, 1 and 1000040343 the
server's trouble (retry), any other code refuses the app (e.g. bad credentials).
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import requests

from lifeline_hub.connectors.feishu import pbbp2
from lifeline_hub.core.listen import CredentialsRefused, EventLink, Inbound, Session, StreamEvent
from lifeline_hub.core.listen.link import Frame, Outcome
from lifeline_hub.core.receiver.guards import CALLBACK_LIMIT

if TYPE_CHECKING:
    from lifeline_hub.connectors.feishu.plugin import FeishuConnector

ENDPOINT_PATH = "/callback/ws/endpoint"
SERVER_TROUBLE = (1, 1000040343)
USER_AGENT = "lifeline-listen (feishu long connection)"
SUCCESS = {"msg": "success"}
"""The reply of an event that is not a card click (the HTTP answer; the SDK sends no data then)."""
MAX_PARTS = 64
"""Parts of one fragmented payload, and payloads being reassembled at once, at most."""


class FeishuLongConnLink(EventLink):
    def __init__(self, connector: FeishuConnector) -> None:
        self.connector = connector

    def open(self) -> Session:
        conn = self.connector
        creds = conn._credentials()
        body = {"AppID": conn.app_id, "AppSecret": str(creds.require("password"))}
        reply = requests.post(conn.host_url + ENDPOINT_PATH, json=body, timeout=(3.05, 10),
                              headers={"locale": "zh", "User-Agent": USER_AGENT})
        reply.raise_for_status()
        found = reply.json()
        code = found.get("code") if isinstance(found, dict) else None
        if code in SERVER_TROUBLE or not isinstance(code, int):
            raise ValueError(f"{ENDPOINT_PATH} answered code {str(code)[:20]}")
        if code != 0:
            raise CredentialsRefused(f"{ENDPOINT_PATH} answered code {code}")
        data = found.get("data") or {}
        url = data.get("URL")
        if not (isinstance(url, str) and url.startswith(("wss://", "ws://"))):
            raise ValueError(f"{ENDPOINT_PATH} answered without a WebSocket URL")
        service = parse_qs(urlparse(url).query).get("service_id", [""])[0]
        if not service.lstrip("-").isdigit():
            raise ValueError(f"{ENDPOINT_PATH} answered a URL without a service_id")
        ping = (data.get("ClientConfig") or {}).get("PingInterval")
        return FeishuSession(url, int(service), float(ping) if isinstance(ping, int | float) and ping > 0 else 120.0)


class FeishuSession(Session):
    def __init__(self, url: str, service: int, ping_interval: float) -> None:
        self.url, self.service, self.ping_interval = url, service, ping_interval
        self.parts: dict[str, list[bytes | None]] = {}

    def read(self, message: Frame) -> Inbound:
        if isinstance(message, str):
            return Inbound(problem="text message (frames are binary)")
        try:
            frame = pbbp2.decode(message)
        except pbbp2.FrameError as exc:
            return Inbound(problem=f"not a frame: {exc}")
        kind = frame.header("type")
        if frame.method == pbbp2.CONTROL:
            return Inbound() if kind in ("ping", "pong") else Inbound(problem=f"control frame of type {kind!r}")
        if frame.method != pbbp2.DATA:
            return Inbound(problem=f"frame of unknown method {frame.method}")
        message_id = frame.header("message_id")
        if not message_id:
            return Inbound(problem=f"{kind} frame without a message_id")
        if kind != "event":
            return Inbound(problem=f"data frame of unknown type {str(kind)[:20]!r}", replies=(_ack(frame, 200),))
        payload = self._assemble(frame, message_id)
        if isinstance(payload, str):
            return Inbound(problem=f"event {message_id}: {payload}", replies=(_ack(frame, 200),))
        if payload is None:
            return Inbound()
        headers = {"message_id": message_id, "trace_id": frame.header("trace_id") or ""}
        return Inbound(event=StreamEvent(message_id, payload, headers, ack_state=frame))

    def _assemble(self, frame: pbbp2.Frame, message_id: str) -> bytes | str | None:
        """The whole payload; None while parts are missing; a reason when the parts make no sense."""
        try:
            total, seq = int(frame.header("sum") or "1"), int(frame.header("seq") or "0")
        except ValueError:
            return "sum/seq not numbers"
        if total <= 1:
            return frame.payload
        if total > MAX_PARTS or not 0 <= seq < total:
            return f"part {seq} of {total}"
        parts = self.parts.get(message_id)
        if parts is None or len(parts) != total:
            if len(self.parts) >= MAX_PARTS:
                self.parts.pop(next(iter(self.parts)))
            parts = self.parts[message_id] = [None] * total
        parts[seq] = frame.payload
        if sum(len(p) for p in parts if p) > CALLBACK_LIMIT:
            del self.parts[message_id]
            return f"more than {CALLBACK_LIMIT} bytes in parts"
        if any(p is None for p in parts):
            return None
        del self.parts[message_id]
        return b"".join(p for p in parts if p)

    def ack(self, event: StreamEvent, outcome: Outcome, reply: Any = None) -> Frame:
        """`{"code": 200}`, with the reply a card click gets (its toast) base64-encoded in `data` as the SDK
        sends a handler's answer; 500 asks for redelivery."""
        assert isinstance(event.ack_state, pbbp2.Frame)
        data = reply if isinstance(reply, dict) and reply != SUCCESS else None
        return _ack(event.ack_state, 500 if outcome == "later" else 200, data)

    def ping(self) -> Frame:
        return pbbp2.encode(pbbp2.Frame(self.service, pbbp2.CONTROL, [("type", "ping")]))


def _ack(frame: pbbp2.Frame, code: int, data: dict[str, Any] | None = None) -> bytes:
    reply = frame.with_headers(biz_rt="0")
    body: dict[str, Any] = {"code": code}
    if data is not None:
        body["data"] = base64.b64encode(json.dumps(data, ensure_ascii=False).encode()).decode()
    reply.payload = json.dumps(body).encode()
    return pbbp2.encode(reply)


def link(connector: FeishuConnector) -> FeishuLongConnLink:
    return FeishuLongConnLink(connector)
