"""DingTalk Stream mode (reference §10b, S4/S5): the app's outbound WebSocket for events.

    link = DingTalkStreamLink(connector)
    session = link.open()     # POST /v1.0/gateway/connections/open (clientId/clientSecret) -> endpoint + ticket

Frames are JSON text: `{"specVersion", "type": SYSTEM|EVENT|CALLBACK, "headers": {...}, "data": "<JSON>"}`.
SYSTEM `ping` is echoed (its `data`), SYSTEM `disconnect` means reconnect with a new ticket; EVENT and
CALLBACK frames become stream events (their `data` is the body, their headers lower-cased) acked by
`messageId` with `{"status": "SUCCESS"}` once stored or refused for good, `LATER` (deliver again) when
not stored. Subscriptions: every event type the app subscribes in the console (EVENT topic `*`: approval,
todo changes) and the card callback topic (interactive cards' buttons).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import requests

from lifeline_hub.core.listen import CredentialsRefused, EventLink, Inbound, Session, StreamEvent
from lifeline_hub.core.listen.link import Frame, Outcome

if TYPE_CHECKING:
    from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector

OPEN_PATH = "/v1.0/gateway/connections/open"
CARD_CALLBACK_TOPIC = "/v1.0/card/instances/callback"
SUBSCRIPTIONS = ({"type": "EVENT", "topic": "*"}, {"type": "CALLBACK", "topic": CARD_CALLBACK_TOPIC})
USER_AGENT = "lifeline-listen (dingtalk stream)"


class DingTalkStreamLink(EventLink):
    def __init__(self, connector: DingTalkConnector) -> None:
        self.connector = connector

    def open(self) -> Session:
        conn = self.connector
        body = {"clientId": conn.appkey, "clientSecret": conn._secret("password"),
                "subscriptions": list(SUBSCRIPTIONS), "ua": USER_AGENT, "localIp": ""}
        reply = requests.post(conn.base_url("api") + OPEN_PATH, json=body, timeout=(3.05, 10),
                              headers={"Accept": "application/json", "User-Agent": USER_AGENT})
        if reply.status_code in (400, 401, 403):
            raise CredentialsRefused(f"{OPEN_PATH} answered HTTP {reply.status_code} {_code(reply)}".rstrip())
        reply.raise_for_status()
        found = reply.json()
        endpoint, ticket = found.get("endpoint"), found.get("ticket")
        if not (isinstance(endpoint, str) and isinstance(ticket, str) and endpoint.startswith(("wss://", "ws://"))):
            raise ValueError(f"{OPEN_PATH} answered without a WebSocket endpoint and ticket")
        return DingTalkSession(f"{endpoint}?ticket={quote_plus(ticket)}")


def _code(reply: requests.Response) -> str:
    """The error code of a refusal (never the message echoing what was sent)."""
    try:
        return str(reply.json().get("code") or "")[:80]
    except ValueError:
        return ""


class DingTalkSession(Session):
    def __init__(self, url: str) -> None:
        self.url = url

    def read(self, message: Frame) -> Inbound:
        try:
            frame = json.loads(message)
        except (ValueError, RecursionError):
            return Inbound(problem="frame is not JSON")
        if not isinstance(frame, dict) or not isinstance(frame.get("headers"), dict):
            return Inbound(problem="frame is not a JSON object with headers")
        headers: dict[str, Any] = frame["headers"]
        kind, topic, message_id = frame.get("type"), headers.get("topic"), headers.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            return Inbound(problem=f"{kind} frame without a messageId")
        data = frame.get("data")
        if kind == "SYSTEM":
            if topic == "ping":
                return Inbound(replies=(_reply(message_id, data if isinstance(data, str) else "{}"),))
            if topic == "disconnect":
                return Inbound(reconnect=True)
            return Inbound(problem=f"SYSTEM frame of unknown topic {str(topic)[:60]!r}")
        if kind not in ("EVENT", "CALLBACK"):
            return Inbound(problem=f"frame of unknown type {str(kind)[:20]!r}",
                           replies=(_reply(message_id, _status("SUCCESS", "unknown frame type")),))
        if not isinstance(data, str):
            return Inbound(problem=f"{kind} frame {message_id} without data",
                           replies=(_reply(message_id, _status("SUCCESS", "no data")),))
        lowered = {str(k).lower(): str(v) for k, v in headers.items() if isinstance(v, str | int)}
        return Inbound(event=StreamEvent(message_id, data.encode("utf-8", "surrogatepass"), lowered))

    def ack(self, event: StreamEvent, outcome: Outcome, reply: Any = None) -> Frame:
        status = "LATER" if outcome == "later" else "SUCCESS"
        return _reply(event.message_id, _status(status, outcome))


def _status(status: str, message: str) -> str:
    return json.dumps({"status": status, "message": message})


def _reply(message_id: str, data: str) -> str:
    return json.dumps({"code": 200, "headers": {"messageId": message_id, "contentType": "application/json"},
                       "message": "OK", "data": data})


def link(connector: DingTalkConnector) -> DingTalkStreamLink:
    return DingTalkStreamLink(connector)
