"""State of the WeChat Official Account emulator: tokens, followers, template and subscription messages, events.

`OaWorld` holds what one Official Account would (wecom-wechat.md §9, channels.md §3): its AppID/AppSecret, both
token flavours (classic `cgi-bin/token`: a new one invalidates the previous after a 5-minute overlap; `stable_token`
in normal mode: the same token while valid, renewed in its last 5 minutes), the followers and how their WeChat
treats template messages (the `Status` of their `TEMPLATESENDJOBFINISH`), one-time subscription credits, every
accepted message (numeric `msgid`, every other one above 2^53), `client_msg_id` dedupe, the daily quota, and the
queue of events pushed, encrypted (safe mode, receive id = AppID), to `callback_url` with 3 retries. A
`subscribe_msg_sent_event` says `ErrorCode` 0 / `success`, or 1 with the follower's Status (the reference confirms
the fields, not the non-zero codes: UNCONFIRMED).
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.connectors.wecom.crypto import OfficialAccountCrypto, signature
from lifeline_hub.connectors.wecom.oa_templates import value_limit
from lifeline_hub.core.emulator import DeliveryWorker, EmulatorWorld, Faults, QuotaMeter, record_attempt

log = logging.getLogger(__name__)

Json = dict[str, Any]
TOKEN_TTL = 7200
OVERLAP = 300.0
"""Seconds an old token keeps working after a new one (classic) or before expiry a stable token is renewed."""
SMALL_IDS, BIG_IDS = 200_228_332, 3_487_542_469_355_618_313
"""`msgid`s alternate between these ranges: the second is above 2^53, as real event MsgIDs are."""
STATUSES = ("success", "failed:user block", "failed: system failed", "failed:freq limit")
"""`TEMPLATESENDJOBFINISH` Status values (§9.2; note the space in the documented "failed: system failed")."""
ERRMSG = {
    -1: "system error", 40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type", 40003: "invalid openid", 40013: "invalid appid", 40014: "invalid access_token",
    40037: "invalid template_id", 40125: "invalid appsecret", 41001: "access_token missing",
    42001: "access_token expired", 43004: "require subscribe", 43101: "user refuse to accept the msg",
    44002: "empty post data", 45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit, must slower, retry next minute",
    47001: "data format error", 47003: "argument invalid!", 48001: "api unauthorized",
}


def _default_followers() -> dict[str, str]:
    return {f"oEmulatorFollower{i:04d}": "success" for i in range(1, 6)}


def _default_templates() -> dict[str, list[str]]:
    return {"TPL-interview-reminder": ["thing1", "time2", "thing3"],
            "TPL-reschedule-offer": ["thing1", "time2"]}


class EmulatorSettings(BaseModel):
    """Knobs of one emulated Official Account."""

    model_config = ConfigDict(extra="forbid")

    app_id: str = "wxemulatoroa000001"
    app_secret: str = Field("emulator-official-account-secret-0001", repr=False)
    original_id: str = Field("gh_emulator00001", description="the account's original id (ToUserName of events)")
    token_ttl_seconds: int = Field(TOKEN_TTL, ge=OVERLAP * 2)
    followers: dict[str, str] = Field(default_factory=_default_followers, description=(
        "openid -> the Status its TEMPLATESENDJOBFINISH reports (success, failed:user block, ...)"))
    templates: dict[str, list[str]] = Field(default_factory=_default_templates, description=(
        "template message template_id -> its keyword names"))
    subscribe_templates: dict[str, list[str]] = Field(
        default_factory=lambda: {"SUB-interview-reminder": ["thing1", "time2"]},
        description="subscription notification template_id -> its keyword names")
    credits: dict[str, dict[str, int]] = Field(default_factory=dict, description=(
        "openid -> subscription template_id -> one-time credits left"))
    daily_quota: int = Field(100_000, ge=1, description="calls per API per day (45009 beyond)")
    event_delay_seconds: float = Field(1.0, ge=0, description="from accepting a message to its result event")
    callback_url: str | None = Field(None, description="the account's server URL (safe mode) events are pushed to")
    callback_token: str = Field("emulatorOaToken0001", repr=False)
    callback_aes_key: str = Field("ZW11bGF0b3Itb2ZmaWNpYWwtYWNjb3VudC1hZXNrZXk", repr=False,
                                  min_length=43, max_length=43)
    push_background: bool = Field(True, description="push events from a background thread")
    push_timeout: float = Field(5.0, gt=0)
    push_retry_seconds: list[float] = Field(default_factory=lambda: [5.0, 5.0, 5.0], description=(
        "delays before the 3 retries of an unanswered push"))
    denied_apis: list[str] = Field(default_factory=list, description=(
        "APIs (`template.send`, `subscribe.bizsend`; `*` all) the account may not call: 48001"))
    faults: Faults = Field(default_factory=Faults)


class OaError(Exception):
    """An API error answered as HTTP 200 `{errcode, errmsg}`."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.message = ERRMSG.get(code, "error") + (f" {detail}" if detail else "")
        super().__init__(self.message)


@dataclass
class Message:
    """One accepted template message or subscription notification."""

    msgid: int
    kind: Literal["template", "subscribe"]
    openid: str
    template_id: str
    data: Json
    link: str
    client_msg_id: str
    sent_at: float
    status: str

    def public(self) -> Json:
        return {"msgid": str(self.msgid), "kind": self.kind, "openid": self.openid, "template_id": self.template_id,
                "data": self.data, "link": self.link, "client_msg_id": self.client_msg_id, "sent_at": self.sent_at,
                "status": self.status}


@dataclass
class Push:
    """One event pushed to the callback URL, with its attempts."""

    seq: int
    event: dict[str, str]
    next_at: float
    extra_xml: str = ""
    attempts: int = 0
    status: str = "pending"
    error: str = ""

    def public(self) -> Json:
        return {"seq": self.seq, "event": self.event.get("Event"), "openid": self.event.get("FromUserName"),
                "msgid": self.event.get("MsgID"), "attempts": self.attempts, "status": self.status,
                "error": self.error}


@dataclass
class Forced:
    code: int
    api: str | None
    times: int


@dataclass
class Tokens:
    """Issued tokens (value -> expiry) per flavour, and the current one of each."""

    expiry: dict[str, float] = field(default_factory=dict)
    replaced: set[str] = field(default_factory=set)
    """Tokens cut short by a newer one: refused as "invalid or not latest" (40001), not as expired."""
    classic: str | None = None
    stable: str | None = None
    issued: int = 0


class OaWorld(EmulatorWorld[EmulatorSettings]):
    """One Official Account, its followers and everything sent to them, plus drive and inspect actions."""

    def __init__(self, settings: EmulatorSettings | None = None, now: Callable[[], float] = time.time) -> None:
        super().__init__(settings or EmulatorSettings(), now)
        self.quota = QuotaMeter(self.settings.daily_quota, 86_400.0, clock=self.clock.now)
        self.tokens = Tokens()
        self.messages: list[Message] = []
        self.by_client_msg_id: dict[str, Message] = {}
        self.pushes: list[Push] = []
        self.forced: list[Forced] = []
        self._ids = itertools.count(1)
        self.pusher = DeliveryWorker(self._push_due, "wechat-oa-events", interval=0.1)

    # ------------------------------------------------------------ tokens

    def issue_token(self, app_id: str, secret: str, stable: bool, force_refresh: bool = False) -> tuple[str, int]:
        """A token and its `expires_in` for `cgi-bin/token` or `stable_token` (`force_refresh`: a new stable token
        at once, the previous one invalid from now on)."""
        if app_id != self.settings.app_id:
            raise OaError(40013)
        if not secrets.compare_digest(secret.encode(), self.settings.app_secret.encode()):
            raise OaError(40125 if stable else 40001)
        now = self.now()
        with self.lock:
            current = self.tokens.stable if stable else self.tokens.classic
            if stable and force_refresh and current is not None:
                self.tokens.expiry[current] = now
                self.tokens.replaced.add(current)
                current = self.tokens.stable = None
            if stable and current is not None and self.tokens.expiry[current] - now > OVERLAP:
                return current, int(self.tokens.expiry[current] - now)
            value = secrets.token_urlsafe(96)[:128]
            self.tokens.expiry[value] = now + self.settings.token_ttl_seconds
            if current is not None and not stable:  # one classic token per AppID: the old one overlaps 5 minutes
                self.tokens.expiry[current] = min(self.tokens.expiry[current], now + OVERLAP)
                self.tokens.replaced.add(current)
            if stable:
                self.tokens.stable = value
            else:
                self.tokens.classic = value
            self.tokens.issued += 1
            return value, self.settings.token_ttl_seconds

    def authenticate(self, token: str | None) -> None:
        if not token:
            raise OaError(41001)
        expires = self.tokens.expiry.get(token)
        if expires is None:
            raise OaError(40001)
        if self.now() >= expires:
            raise OaError(40001 if token in self.tokens.replaced else 42001)
        if self.faults.roll("expire_token"):
            raise OaError(42001)

    def gate(self, api: str) -> None:
        """Quota, faults, permission and forced errors of one authenticated call of `api`."""
        if not self.quota.hit(api):
            raise OaError(45009)
        if self.faults.roll("rate_limit"):
            raise OaError(45011)
        if self.faults.roll("server_error"):
            raise OaError(-1)
        with self.lock:
            denied = self.settings.denied_apis
            if "*" in denied or api in denied:
                raise OaError(48001)
            for forced in self.forced:
                if forced.api in (None, api):
                    forced.times -= 1
                    if forced.times <= 0:
                        self.forced.remove(forced)
                    raise OaError(forced.code)

    # ------------------------------------------------------------ messages

    def _next_msgid(self) -> int:
        n = next(self._ids)
        return (BIG_IDS if n % 2 == 0 else SMALL_IDS) + n

    def send_template(self, body: Json) -> int:
        """Validate and accept a template message; its msgid (the earlier one for a repeated `client_msg_id`)."""
        openid, template_id = _text(body, "touser"), _text(body, "template_id")
        client_msg_id = body.get("client_msg_id")
        if client_msg_id is not None and not isinstance(client_msg_id, str):
            raise OaError(47001, "client_msg_id")
        with self.lock:
            if client_msg_id and client_msg_id in self.by_client_msg_id:
                return self.by_client_msg_id[client_msg_id].msgid
            if not openid:
                raise OaError(40003)
            keywords = self.settings.templates.get(template_id)
            if keywords is None:
                raise OaError(40037)
            _check_data(body.get("data"), keywords)
            status = self.settings.followers.get(openid)
            if status is None:
                raise OaError(43004)
            link = _link(body, "url")
            message = self._accept("template", openid, template_id, body["data"], link, client_msg_id or "", status)
            if client_msg_id:
                self.by_client_msg_id[client_msg_id] = message
            return message.msgid

    def send_subscribe(self, body: Json) -> int:
        """Validate and accept a one-time subscription notification (one credit); its msgid."""
        openid, template_id = _text(body, "touser"), _text(body, "template_id")
        with self.lock:
            if not openid:
                raise OaError(40003)
            keywords = self.settings.subscribe_templates.get(template_id)
            if keywords is None:
                raise OaError(40037)
            _check_data(body.get("data"), keywords)
            left = self.settings.credits.get(openid, {}).get(template_id, 0)
            if left <= 0:
                raise OaError(43101)
            self.settings.credits[openid][template_id] = left - 1
            status = self.settings.followers.get(openid, "success")
            message = self._accept("subscribe", openid, template_id, body["data"], _link(body, "page"), "", status)
            return message.msgid

    def _accept(self, kind: Literal["template", "subscribe"], openid: str, template_id: str, data: Json, link: str,
                client_msg_id: str, status: str) -> Message:
        now = self.now()
        message = Message(self._next_msgid(), kind, openid, template_id, data, link, client_msg_id, now, status)
        self.messages.append(message)
        event = {"ToUserName": self.settings.original_id, "FromUserName": openid, "CreateTime": "",
                 "MsgType": "event"}
        if kind == "template":
            self._queue({**event, "Event": "TEMPLATESENDJOBFINISH", "MsgID": str(message.msgid), "Status": status},
                        now + self.settings.event_delay_seconds)
        else:
            ok = status == "success"
            result = (f"<SubscribeMsgSentEvent><List><TemplateId><![CDATA[{template_id}]]></TemplateId>"
                      f"<MsgID>{message.msgid}</MsgID><ErrorCode>{0 if ok else 1}</ErrorCode>"
                      f"<ErrorStatus><![CDATA[{status}]]></ErrorStatus></List></SubscribeMsgSentEvent>")
            self._queue({**event, "Event": "subscribe_msg_sent_event"}, now + self.settings.event_delay_seconds,
                        result)
        return message

    # ------------------------------------------------------------ events

    def _queue(self, event: dict[str, str], due: float, extra_xml: str = "") -> None:
        """Queue `event` (made at `due`: its `CreateTime`, the same in every retry and duplicate push)."""
        event = {**event, "CreateTime": event.get("CreateTime") or str(int(due))}
        with self.lock:
            for _ in range(2 if self.faults.roll("duplicate") else 1):
                self.pushes.append(Push(len(self.pushes) + 1, dict(event), due, extra_xml))
        if self.settings.push_background and self.settings.callback_url:
            self.pusher.start()

    def event_xml(self, push: Push) -> str:
        """The plaintext XML of a queued event."""
        inner = "".join(f"<{k}>{v}</{k}>" if k in ("CreateTime", "MsgID") else f"<{k}><![CDATA[{v}]]></{k}>"
                        for k, v in push.event.items())
        return f"<xml>{inner}{push.extra_xml}</xml>"

    def sealed_body(self, plaintext: str) -> tuple[dict[str, str], bytes]:
        """Query and body of a safe-mode push of `plaintext` (signed now, receive id = AppID)."""
        box = OfficialAccountCrypto(self.settings.callback_token, self.settings.callback_aes_key, self.settings.app_id)
        sealed = box.encrypt_message(plaintext, timestamp=str(int(self.now())))
        query = {"signature": signature(self.settings.callback_token, sealed.timestamp, sealed.nonce),
                 "timestamp": sealed.timestamp, "nonce": sealed.nonce, "encrypt_type": "aes",
                 "msg_signature": sealed.msg_signature}
        body = (f"<xml><ToUserName><![CDATA[{self.settings.original_id}]]></ToUserName>"
                f"<Encrypt><![CDATA[{sealed.encrypt}]]></Encrypt></xml>")
        return query, body.encode()

    def deliver_events(self) -> int:
        """Push every due event once (on the caller's thread); how many the callback URL accepted."""
        return self.pusher.run()

    def _push_due(self) -> int:
        now = self.now()
        with self.lock:
            due = [p for p in self.pushes if p.status == "pending" and p.next_at <= now]
        return sum(self._push(p) for p in due)

    def _push(self, push: Push) -> int:
        url = self.settings.callback_url
        ok = False
        try:
            if not url:
                raise ValueError("no callback URL configured")
            plaintext = self.event_xml(push)
            query, body = self.sealed_body(plaintext)
            if push.event.get("FromUserName"):
                query["openid"] = push.event["FromUserName"]
            reply = requests.post(url, params=query, data=body, headers={"Content-Type": "text/xml"},
                                  timeout=self.settings.push_timeout)
            ok = reply.status_code == 200
            push.error = "" if ok else f"HTTP {reply.status_code}"
        except (requests.RequestException, ValueError) as exc:
            push.error = type(exc).__name__ if isinstance(exc, requests.RequestException) else str(exc)
        with self.lock:
            return record_attempt(push, ok, self.now(), self.settings.push_retry_seconds)

    def close(self) -> None:
        self.pusher.close()

    # ------------------------------------------------------------ drive

    def advance(self, seconds: float) -> float:
        """Move the clock; pushes the events that became due."""
        self.clock.advance(seconds)
        self.deliver_events()
        return self.now()

    def follow(self, openid: str, status: str = "success") -> None:
        """`openid` follows the account (again); its template messages end with `status`."""
        self.set_status(openid, status)
        self._queue({"ToUserName": self.settings.original_id, "FromUserName": openid, "CreateTime": "",
                     "MsgType": "event", "Event": "subscribe", "EventKey": ""}, self.now())

    def unfollow(self, openid: str) -> None:
        """`openid` stops following: later template messages get 43004, and an `unsubscribe` event is pushed."""
        with self.lock:
            self.settings.followers.pop(openid, None)
        self._queue({"ToUserName": self.settings.original_id, "FromUserName": openid, "CreateTime": "",
                     "MsgType": "event", "Event": "unsubscribe", "EventKey": ""}, self.now())

    def block(self, openid: str) -> None:
        """`openid` turns off the account's template messages: they end with `failed:user block`."""
        self.set_status(openid, "failed:user block")

    def set_status(self, openid: str, status: str) -> None:
        """How `openid`'s later template messages end (one of `STATUSES`); makes it a follower."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self.lock:
            self.settings.followers[openid] = status

    def grant_credits(self, openid: str, template_id: str, count: int = 1) -> int:
        """`openid` accepted `template_id` in a subscription popup `count` times; the credits it now has."""
        if template_id not in self.settings.subscribe_templates:
            raise KeyError(f"unknown subscription template {template_id!r}")
        with self.lock:
            held = self.settings.credits.setdefault(openid, {})
            held[template_id] = held.get(template_id, 0) + count
            return held[template_id]

    def push_event(self, event: dict[str, str]) -> None:
        """Push any event (plaintext fields) now: unknown kinds included, for the receiver's tests."""
        self._queue({"ToUserName": self.settings.original_id, "CreateTime": "", "MsgType": "event", **event},
                    self.now())

    def set_callback_url(self, url: str | None) -> None:
        with self.lock:
            self.settings.callback_url = url
        if url and self.settings.push_background:
            self.pusher.start()

    def deny_apis(self, apis: list[str]) -> None:
        """Withdraw the account's permission for `apis` (`*`: all): 48001; [] grants them again."""
        with self.lock:
            self.settings.denied_apis = list(apis)

    def fail_next(self, code: int, times: int = 1, api: str | None = None) -> None:
        """Answer the next `times` calls (of `api`, or any) with `errcode`."""
        if code not in ERRMSG:
            raise ValueError(f"unknown errcode {code}")
        with self.lock:
            self.forced.append(Forced(code, api, times))

    # ------------------------------------------------------------ inspection

    def message_list(self) -> list[Json]:
        with self.lock:
            return [m.public() for m in self.messages]

    def push_list(self) -> list[Json]:
        with self.lock:
            return [p.public() for p in self.pushes]

    def api_calls(self) -> int:
        return self.quota.total_calls

    def quota_breaches(self) -> int:
        return self.quota.total_breaches

    def summary(self) -> Json:
        with self.lock:
            pushes = [p.status for p in self.pushes]
            return {"now": self.now(), "messages": len(self.messages), "followers": len(self.settings.followers),
                    "tokens_issued": self.tokens.issued, "callback_url": self.settings.callback_url,
                    "pushes": {s: pushes.count(s) for s in sorted(set(pushes))}, "calls": dict(self.quota.calls),
                    "faults": self.faults.faults.model_dump(), "faults_injected": dict(self.faults.injected)}


def _text(body: Json, key: str) -> str:
    value = body.get(key)
    return value if isinstance(value, str) else ""


def _link(body: Json, key: str) -> str:
    value = body.get(key)
    mini = body.get("miniprogram")
    if isinstance(mini, dict) and isinstance(mini.get("pagepath"), str):  # the mini program wins over `url`
        return f"miniprogram:{mini.get('appid')}/{mini['pagepath']}"
    return value if isinstance(value, str) else ""


def _check_data(data: Any, keywords: list[str]) -> None:
    """`data` must be `{keyword: {"value": str}}` for exactly the template's keywords, values within their limits."""
    if not isinstance(data, dict):
        raise OaError(47001, "data")
    for name in keywords:
        entry = data.get(name)
        value = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(value, str) or not value or len(value) > value_limit(name):
            raise OaError(47003, f"data.{name}.value invalid")

