"""State of the WeCom emulator (wecom-wechat.md §2-§5, §11): one corp, its apps, members, app messages, pushes.

`gettoken` per Secret (an app's, or the customer-contact Secret): the same token again within its 7200 s,
`expires_in` counting down, every call counted. Tokens are checked on each API (41001 missing, 40014 unknown,
42001 expired). `message/send` validates the body (agentid of the token's app, `msgtype` and its object, byte
limits, card rules), splits recipients into reached and `invaliduser` (lower-cased, `|`-joined) or
`unlicenseduser`, answers 81013 when nobody is valid, a string `msgid`, a `response_code` for interactive cards,
applies the duplicate check, and drops *silently* what goes over 30/min or 1000/h per member (kept in `dropped`
and counted as quota breaches). `update_template_card` takes a response code once (72 h), `recall` a message of the
last 24 h, `get_statistics` counts per app and day. A click on a task card (`click`) pushes an encrypted
`template_card_event` to `callback_url` (`push_event`, on a `DeliveryWorker`, three attempts in all).

Codes the reference does not name (a reused `task_id`, an unknown or spent `response_code`, a recall of an
unknown or too old message) answer 40058 "invalid parameter" here (UNCONFIRMED against a real tenant).
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.connectors.wecom.crypto import WXBizMsgCrypt
from lifeline_hub.connectors.wecom.emulator_contact import ContactState
from lifeline_hub.core.emulator import DeliveryWorker, EmulatorWorld, Faults, QuotaMeter, record_attempt

Json = dict[str, Any]
CONTACT = 0
"""The owner of a customer-contact Secret's tokens (apps are their AgentId)."""
BEIJING = timezone(timedelta(hours=8))
ERRMSG = {-1: "system busy", 40001: "invalid credential", 40013: "invalid corpid", 40014: "invalid access_token",
          40058: "invalid parameter", 41001: "access_token missing", 42001: "access_token expired",
          44004: "empty content", 45002: "content size out of limit", 45009: "api freq out of limit",
          45033: "api concurrent out of limit", 48002: "api forbidden", 60011: "no privilege to access/modify "
          "contact/party/agent", 60020: "not allow to access from your ip", 81013: "user & party & tag all invalid",
          301002: "not allow operate another agent with this accesstoken"}
TEXT_LIMITS = {("text", "content"): 2048, ("textcard", "title"): 128, ("textcard", "description"): 512,
               ("markdown", "content"): 2048}
CARD_TYPES = ("text_notice", "news_notice", "button_interaction", "vote_interaction", "multiple_interaction")
INTERACTIVE = ("button_interaction", "vote_interaction", "multiple_interaction")
TASK_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-@")


class EmulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    corp_id: str = "wwemulatorcorp0001"
    apps: dict[int, str] = Field(default_factory=lambda: {1000002: "emulator-wecom-app-secret-0001"}, repr=False)
    """AgentId -> the self-built app's Secret."""
    contact_secret: str = Field("emulator-wecom-contact-secret-01", repr=False)
    """The customer-contact (客户联系) Secret."""
    users: list[str] = Field(default_factory=lambda: ["hr01", "hr02", "iv01", "iv02", "iv03"])
    """Userids in the apps' visibility (compared case-insensitively, as WeCom does)."""
    unlicensed: list[str] = Field(default_factory=list, description="visible userids without an interface licence")
    token_ttl_seconds: int = Field(7200, ge=1)
    member_per_minute: int = Field(30, ge=1)
    member_per_hour: int = Field(1000, ge=1)
    calls_per_minute: int = Field(10_000, ge=1, description="per corp and API")
    response_code_ttl_seconds: float = Field(72 * 3600.0, description="how long a response_code may update a card")
    recall_window_seconds: float = Field(24 * 3600.0, description="how old a message `recall` still takes")
    callback_url: str | None = Field(None, description="where encrypted events are POSTed (the app's URL)")
    callback_token: str = Field("emulatorwecomtoken01", repr=False)
    callback_aes_key: str = Field("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", repr=False)
    callback_timeout_seconds: float = 5.0
    callback_retry_delays: list[float] = Field(default_factory=lambda: [5.0, 10.0],
                                               description="WeCom tries a push three times in all")
    deliver_in_background: bool = True
    faults: Faults = Field(default_factory=Faults)


class WeComError(Exception):
    """A call refused with a WeCom errcode (the HTTP status stays 200)."""

    def __init__(self, code: int) -> None:
        super().__init__(ERRMSG.get(code, "error"))
        self.code = code


@dataclass
class Message:
    msgid: str
    agentid: int
    kind: str
    content: Json
    to: list[str]
    reached: list[str]
    at: float
    task_id: str | None = None
    duplicates: int = 0
    recalled_at: float | None = None


@dataclass
class ResponseCode:
    msgid: str
    userids: list[str]
    issued_at: float
    used_at: float | None = None
    update: Json | None = None


@dataclass
class Push:
    """One event pushed to the callback URL."""

    event: Json
    agentid: int | None
    next_at: float
    status: str = "pending"
    attempts: int = 0
    posts: int = 0


@dataclass
class Forced:
    code: int
    times: int
    stall: float = 0.0


class WeComWorld(EmulatorWorld[EmulatorSettings]):
    """One corp: apps, tokens, members, app messages (who they reached, what was dropped) and pushed events."""

    def __init__(self, settings: EmulatorSettings | None = None, now: Callable[[], float] = time.time) -> None:
        super().__init__(settings or EmulatorSettings(), now)
        self.quota = QuotaMeter(self.settings.calls_per_minute, 60.0, clock=self.clock.pace)
        self.tokens: dict[str, tuple[int, float]] = {}  # token -> (owner: AgentId or CONTACT, expires at)
        self.gettoken_calls = 0
        self.messages: list[Message] = []
        self.dropped: list[Json] = []
        self.recent: dict[tuple[int, str], deque[float]] = defaultdict(deque)  # (agentid, member) -> reach times
        self.codes: dict[str, ResponseCode] = {}
        self.task_ids: dict[tuple[int, str], str] = {}  # (agentid, task_id) -> msgid
        self.pushes: list[Push] = []
        self.forced: list[Forced] = []
        self.denied: dict[str, int] = {}  # api (or "*") -> errcode
        self._ids = itertools.count(1)
        self.delivery = DeliveryWorker(self._deliver_due, "wecom-callbacks", interval=0.2)
        self.contact = ContactState(self)
        """Customer contact (客户联系): relations, welcome codes, staged mass messages."""

    # ---------------------------------------------------------------- tokens

    def gettoken(self, corpid: str, corpsecret: str) -> Json:
        self.gettoken_calls += 1
        if corpid != self.settings.corp_id:
            raise WeComError(40013)
        owners = {**{s: a for a, s in self.settings.apps.items()}, self.settings.contact_secret: CONTACT}
        owner = next((o for s, o in owners.items() if corpsecret and secrets.compare_digest(s, corpsecret)), None)
        if owner is None:
            raise WeComError(40001)
        now = self.now()
        token = next((t for t, (o, exp) in self.tokens.items() if o == owner and exp > now), None)
        if token is None:
            token = secrets.token_urlsafe(48)
            self.tokens[token] = (owner, now + self.settings.token_ttl_seconds)
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": int(self.tokens[token][1] - now)}

    def owner_of(self, token: str | None) -> int:
        """The AgentId (or `CONTACT`) a token was issued to: 41001 / 40014 / 42001 otherwise."""
        if not token:
            raise WeComError(41001)
        owner, expires_at = self.tokens.get(token, (-1, 0.0))
        if owner < 0:
            raise WeComError(40014)
        if self.now() >= expires_at or self.faults.roll("expire_token"):
            raise WeComError(42001)
        return owner

    def check_allowed(self, api: str) -> None:
        code = self.denied.get(api) or self.denied.get("*")
        if code:
            raise WeComError(code)

    # ---------------------------------------------------------------- message/send

    def send(self, agent: int, body: Json) -> Json:
        if body.get("agentid") != agent:
            raise WeComError(301002)
        kind = body.get("msgtype")
        content = body.get(kind) if isinstance(kind, str) else None
        if not isinstance(content, dict):
            raise WeComError(44004)
        task_id = self._validate(str(kind), content)
        if task_id is not None and (agent, task_id) in self.task_ids and not self._duplicate(agent, body):
            raise WeComError(40058)  # task_id is unique per app
        named = [u for u in str(body.get("touser") or "").split("|") if u]
        known = {u.lower() for u in self.settings.users}
        unlicensed = {u.lower() for u in self.settings.unlicensed}
        valid = sorted({u.lower() for u in named if u.lower() in known and u.lower() not in unlicensed})
        invalid = list(dict.fromkeys(u.lower() for u in named if u.lower() not in known))
        refused = list(dict.fromkeys(u.lower() for u in named if u.lower() in unlicensed))
        if not valid:
            raise WeComError(81013)
        answer: Json = {"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid), "invalidparty": "",
                        "invalidtag": "", "unlicenseduser": "|".join(refused)}
        same = self._duplicate(agent, body)
        if same is not None:
            same.duplicates += 1
            return {**answer, "msgid": same.msgid}
        now = self.now()
        msgid = f"{secrets.token_hex(16)}_{next(self._ids)}"
        reached = [u for u in valid if self._within_limits(agent, u, now, msgid)]
        self.messages.append(Message(msgid, agent, str(kind), content, valid, reached, now, task_id))
        if task_id is not None:
            self.task_ids[(agent, task_id)] = msgid
        if kind == "template_card" and content.get("card_type") in INTERACTIVE:
            answer["response_code"] = self._issue_code(msgid, reached)
        return {**answer, "msgid": msgid}

    def _validate(self, kind: str, content: Json) -> str | None:
        """Check the type-specific object; returns the card's task_id (None for other types)."""
        if kind in ("text", "textcard", "markdown"):
            fields = ("content",) if kind != "textcard" else ("title", "description")
            for name in fields:
                value = content.get(name)
                if not isinstance(value, str) or not value.strip():
                    raise WeComError(44004)
                if len(value.encode()) > TEXT_LIMITS[(kind, name)]:
                    raise WeComError(45002)
            if kind == "textcard" and not str(content.get("url") or "").startswith(("http://", "https://")):
                raise WeComError(40058)
            return None
        if kind != "template_card":
            raise WeComError(40058)
        card_type = content.get("card_type")
        if card_type not in CARD_TYPES:
            raise WeComError(40058)
        task_id = content.get("task_id")
        if task_id is not None and not (isinstance(task_id, str) and 0 < len(task_id.encode()) <= 128
                                        and set(task_id) <= TASK_CHARS):
            raise WeComError(40058)
        if card_type == "text_notice" and not isinstance(content.get("card_action"), dict):
            raise WeComError(40058)
        if card_type in INTERACTIVE and task_id is None:
            raise WeComError(40058)
        if card_type == "button_interaction":
            buttons = content.get("button_list")
            if not isinstance(buttons, list) or not 1 <= len(buttons) <= 6 or not all(
                    isinstance(b, dict) and b.get("text") and b.get("key") for b in buttons):
                raise WeComError(40058)
        return task_id if isinstance(task_id, str) else None

    def _duplicate(self, agent: int, body: Json) -> Message | None:
        """The earlier message this one repeats within its duplicate-check window (same content, same people)."""
        if body.get("enable_duplicate_check") != 1:
            return None
        window = min(int(body.get("duplicate_check_interval") or 1800), 14400)
        kind = body.get("msgtype")
        to = sorted({u.lower() for u in str(body.get("touser") or "").split("|") if u})
        known = {u.lower() for u in self.settings.users}
        to = [u for u in to if u in known]
        now = self.now()
        return next((m for m in reversed(self.messages) if m.agentid == agent and m.kind == kind
                     and m.content == body.get(kind) and m.to == to and now - m.at < window), None)

    def _within_limits(self, agent: int, member: str, now: float, msgid: str) -> bool:
        """Count one message to `member`; over 30/min or 1000/h WeCom drops it without a word (recorded here)."""
        sent = self.recent[(agent, member)]
        while sent and now - sent[0] >= 3600:
            sent.popleft()
        minute = sum(1 for t in sent if now - t < 60)
        if minute >= self.settings.member_per_minute or len(sent) >= self.settings.member_per_hour:
            self.dropped.append({"msgid": msgid, "member": member, "at": now})
            return False
        sent.append(now)
        return True

    def _issue_code(self, msgid: str, userids: list[str]) -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = ResponseCode(msgid, userids, self.now())
        return code

    # ---------------------------------------------------------------- the other app-message APIs

    def update_template_card(self, agent: int, body: Json) -> Json:
        if body.get("agentid") != agent:
            raise WeComError(301002)
        code = self.codes.get(str(body.get("response_code") or ""))
        now = self.now()
        if code is None or code.used_at is not None or now - code.issued_at > self.settings.response_code_ttl_seconds:
            raise WeComError(40058)
        button, card = body.get("button"), body.get("template_card")
        if not (isinstance(button, dict) and button.get("replace_name")) and not isinstance(card, dict):
            raise WeComError(40058)
        named = [str(u).lower() for u in body.get("userids") or [] if u]
        invalid = [u for u in named if u not in code.userids]
        code.used_at, code.update = now, {"userids": [u for u in named if u in code.userids],
                                          "button": button, "template_card": card}
        return {"errcode": 0, "errmsg": "ok", "invaliduser": invalid}

    def recall(self, agent: int, body: Json) -> Json:
        message = next((m for m in self.messages if m.msgid == body.get("msgid") and m.agentid == agent), None)
        if message is None or message.recalled_at is not None \
                or self.now() - message.at > self.settings.recall_window_seconds:
            raise WeComError(40058)
        message.recalled_at = self.now()
        return {"errcode": 0, "errmsg": "ok"}

    def get_statistics(self, agent: int, body: Json) -> Json:
        time_type = body.get("time_type", 0)
        if time_type not in (0, 1):
            raise WeComError(40058)
        day = datetime.fromtimestamp(self.now(), BEIJING).date() - timedelta(days=int(time_type))
        counts: dict[int, int] = defaultdict(int)
        for m in self.messages:
            if datetime.fromtimestamp(m.at, BEIJING).date() == day:
                counts[m.agentid] += len(m.reached)
        return {"errcode": 0, "errmsg": "ok", "statistics": [
            {"agentid": a, "app_name": f"app {a}", "count": counts[a]} for a in sorted(self.settings.apps)]}

    def take_forced(self) -> Forced | None:
        with self.lock:
            if not self.forced:
                return None
            forced = self.forced[0]
            forced.times -= 1
            if forced.times <= 0:
                self.forced.pop(0)
            return forced

    # ---------------------------------------------------------------- callbacks

    def crypto(self) -> WXBizMsgCrypt:
        s = self.settings
        return WXBizMsgCrypt(s.callback_token, s.callback_aes_key, s.corp_id)

    def push_event(self, event: Mapping[str, Any], agentid: int | None = None) -> None:
        """Queue an event for the callback URL (encrypted and signed when it is posted)."""
        with self.lock:
            self.pushes.append(Push(dict(event), agentid, self.now()))
        if self.settings.callback_url and self.settings.deliver_in_background:
            self.delivery.kick()

    def deliver_pending_events(self) -> int:
        """POST every due event once (on the caller's thread); returns how many got an HTTP 200."""
        return self.delivery.run()

    def _deliver_due(self) -> int:
        url = self.settings.callback_url
        if not url:
            return 0
        with self.lock:
            due = [p for p in self.pushes if p.status == "pending" and p.next_at <= self.now()]
        delivered = 0
        for push in due:
            ok = self._post(url, push)
            if ok and self.faults.roll("duplicate"):
                self._post(url, push)
            with self.lock:
                delivered += record_attempt(push, ok, self.now(), self.settings.callback_retry_delays)
        return delivered

    def _post(self, url: str, push: Push) -> bool:
        sealed = self.crypto().encrypt_message(event_xml(push.event), timestamp=str(int(self.now())))
        body = sealed.event_xml(self.settings.corp_id, "" if push.agentid is None else str(push.agentid))
        push.posts += 1
        try:
            response = requests.post(url, params=sealed.query, data=body.encode(),
                                     headers={"Content-Type": "text/xml; charset=utf-8"},
                                     timeout=self.settings.callback_timeout_seconds)
        except requests.RequestException:
            return False
        return response.status_code == 200

    # ---------------------------------------------------------------- drive

    def click(self, userid: str, task_id: str, key: str, agentid: int | None = None) -> Json:
        """`userid` clicks button `key` on the task card `task_id` they received: a `template_card_event`
        (with a fresh ResponseCode) is pushed to the callback URL."""
        with self.lock:
            agent = agentid or next(iter(self.settings.apps))
            msgid = self.task_ids.get((agent, task_id))
            message = next((m for m in self.messages if m.msgid == msgid), None)
            member = userid.lower()
            if message is None or member not in message.reached:
                raise KeyError(f"{userid} got no card {task_id!r}")
            keys = [str(b.get("key")) for b in message.content.get("button_list") or []]
            if key not in keys:
                raise ValueError(f"card {task_id!r} has no button {key!r}; one of {keys}")
            code = self._issue_code(message.msgid, [member])
            event = {"ToUserName": self.settings.corp_id, "FromUserName": member, "CreateTime": str(int(self.now())),
                     "MsgType": "event", "Event": "template_card_event", "EventKey": key, "TaskId": task_id,
                     "CardType": str(message.content.get("card_type")), "ResponseCode": code, "AgentID": str(agent)}
        self.push_event(event, agent)
        return {"response_code": code}

    def set_callback_url(self, url: str | None) -> None:
        with self.lock:
            self.settings.callback_url = url

    def fail_next(self, errcode: int, times: int = 1) -> None:
        """Answer the next `times` API calls with `errcode` (not acted on)."""
        if errcode not in ERRMSG:
            raise ValueError(f"unknown errcode {errcode}; one of {sorted(ERRMSG)}")
        with self.lock:
            self.forced.append(Forced(errcode, times))

    def stall_next(self, seconds: float, times: int = 1) -> None:
        """Act on the next `times` calls, then answer only after `seconds` (the caller times out)."""
        with self.lock:
            self.forced.append(Forced(0, times, seconds))

    def deny_actions(self, apis: list[str], errcode: int = 48002) -> None:
        """Refuse these APIs (`message.send`...; `*` every API) with a permission errcode (48002, 60011, 60020)."""
        if errcode not in (48002, 60011, 60020, 301002):
            raise ValueError("errcode: one of 48002, 60011, 60020, 301002")
        with self.lock:
            self.denied.update(dict.fromkeys(apis, errcode))

    def add_user(self, userid: str) -> None:
        with self.lock:
            self.settings.users.append(userid)

    # ---------------------------------------------------------------- inspection

    def deliveries(self) -> list[tuple[str, str]]:
        """(member, msgid) of every app message that reached someone: what a person would see in WeCom."""
        with self.lock:
            return [(member, m.msgid) for m in self.messages for member in m.reached]

    def arrivals(self, member: str) -> list[float]:
        """When app messages reached `member` (dropped ones excluded), oldest first."""
        with self.lock:
            return sorted(m.at for m in self.messages if member.lower() in m.reached)

    def api_calls(self) -> int:
        return self.quota.total_calls

    def quota_breaches(self) -> int:
        """Calls over the per-API limits plus app messages WeCom would have dropped (per-member limits)."""
        with self.lock:
            return self.quota.total_breaches + len(self.dropped)

    def summary(self) -> Json:
        with self.lock:
            out = {"now": self.now(), "messages": len(self.messages), "dropped": len(self.dropped),
                   "duplicates": sum(m.duplicates for m in self.messages), "gettoken_calls": self.gettoken_calls,
                   "pushes": len(self.pushes), "pushes_delivered": sum(p.status == "delivered" for p in self.pushes),
                   "faults_injected": dict(self.faults.injected)}
            return {**out, **self.contact.summary()}

    def inspect_messages(self) -> list[Json]:
        with self.lock:
            return [{"msgid": m.msgid, "agentid": m.agentid, "msgtype": m.kind, "content": m.content, "to": m.to,
                     "reached": m.reached, "at": m.at, "task_id": m.task_id, "duplicates": m.duplicates,
                     "recalled": m.recalled_at is not None} for m in self.messages]

    def close(self) -> None:
        self.delivery.close()


def event_xml(event: Mapping[str, Any]) -> str:
    """An event as WeCom's plaintext XML: each top-level value in CDATA (numbers as text)."""
    parts = []
    for tag, value in event.items():
        text = str(value)
        parts.append(f"<{tag}>{text}</{tag}>" if text.isdigit() else f"<{tag}><![CDATA[{escape_cdata(text)}]]></{tag}>")
    return "<xml>" + "".join(parts) + "</xml>"


def escape_cdata(text: str) -> str:
    return text.replace("]]>", "]]]]><![CDATA[>")
