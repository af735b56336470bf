"""State of the Feishu emulator: settings, the simulated tenant (`FeishuWorld`) and callback delivery.

The world holds what the HTTP layer (`lifeline_hub.connectors.feishu.emulator`) serves: users and chats, the
bot's messages with their readers, tasks, approval instances, calendars, Hire interviews,
attendance records and VC meetings with their participants. Tests and the sandbox drive it
directly (or over `/_emulator/drive/...`) on an injectable clock, and inspect what the connector
did: calls per (app, api), rate-limit breaches, urgent calls and the callbacks sent. Wire facts
follow /work/shared/reference/feishu-api.md; the VC reports (not in it) follow the official pages
vc-v1/meeting_list/get and vc-v1/participant_list/get and the official Python SDK's models.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.connectors.feishu.crypto import NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, FeishuEventCrypto
from lifeline_hub.connectors.feishu.emulator_longconn import LongConnGateway, LongConnSettings
from lifeline_hub.core.emulator import DeliveryWorker, EmulatorWorld, Faults, QuotaMeter, record_attempt

ID_TYPES = ("open_id", "union_id", "user_id")
UNAUTHORISED_MSG = "Invalid access token for authorization. Please make a request with token attached"
APPROVAL_FINAL = frozenset({"APPROVED", "REJECTED", "CANCELED", "DELETED"})


class RateTier(BaseModel):
    """One ceiling of an API's documented limit, e.g. 50 per 1 s or 1000 per 60 s."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(gt=0)
    per_seconds: float = Field(gt=0)


def _tiers(*pairs: tuple[int, float]) -> list[RateTier]:
    return [RateTier(limit=limit, per_seconds=per) for limit, per in pairs]


def default_rate_tiers() -> dict[str, list[RateTier]]:
    """Per-API limits from the reference's summary; APIs whose limit is unconfirmed are not limited."""
    standard = ((1000, 60.0), (50, 1.0))
    return {
        "im.message.create": _tiers(*standard),
        "im.message.read_users": _tiers(*standard),
        "task.create": _tiers((10, 1.0)),
        "calendar.event.list": _tiers(*standard),
        "approval.instance.create": _tiers((100, 60.0)),
        "attendance.user_flow.query": _tiers((50, 1.0)),
        "hire.interview.list": _tiers((50, 1.0)),
        "hire.interview.get_by_talent": _tiers(*standard),
        "hire.application.get": _tiers(*standard),
        "hire.talent.get": _tiers((20, 1.0)),
        "vc.meeting_list.get": _tiers((100, 60.0)),
        "vc.participant_list.get": _tiers((100, 60.0)),
    }


class EmulatorSettings(BaseModel):
    """Knobs of one emulated tenant with one internal (self-built) app."""

    model_config = ConfigDict(extra="forbid")

    app_id: str = "cli_a1b2c3d4e5f60718"
    app_secret: str = "emulator-app-secret"  # noqa: S105 - the emulator's fixed, fake credential
    tenant_key: str = "736588c9260f175e"
    callback_url: str | None = Field(None, description="where signed, encrypted events are POSTed")
    events: Literal["http", "stream"] = Field(
        "http", description="deliver events as HTTP callbacks or over the long connection (emulator_longconn)")
    longconn: LongConnSettings = Field(default_factory=LongConnSettings)
    stream_drain_seconds: float = Field(30.0, gt=0, description="how long `deliver_pending_events` waits for acks")
    encrypt_key: str | None = "emulator-encrypt-key"
    verification_token: str = "emulator-verification-token"  # noqa: S105 - fake, like app_secret
    deliver_in_background: bool = True
    callback_timeout_seconds: float = 3.0
    callback_retry_delays: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 3600.0, 21600.0],
        description="4 retries after a failed push (schedule from an older doc revision)",
    )
    faults: Faults = Field(default_factory=Faults)
    scopes: list[str] | None = Field(None, description="granted API scopes; None grants every scope")
    token_ttl_seconds: int = 7200
    token_reissue_below_seconds: int = 1800
    rate_tiers: dict[str, list[RateTier]] = Field(default_factory=default_rate_tiers)
    rate_limit_http_status: int = Field(429, description="429, or 400 as some legacy APIs answer")
    per_receiver_qps: int = 5
    message_uuid_window_seconds: float = 3600.0
    task_client_token_window_seconds: float = 300.0
    read_users_max_age_seconds: float = 7 * 86400.0
    urgent_paid_quota: int | None = Field(0, description="SMS/phone urgent credits; None is unlimited")
    urgent_unread_limit: int = 200


class FeishuError(Exception):
    """A failure the emulator answers with the Feishu envelope `{code, msg, error}`."""

    def __init__(
        self,
        code: int,
        msg: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}
        self.detail = detail or {}


@dataclass
class User:
    open_id: str
    union_id: str
    user_id: str
    name: str
    chat_id: str
    mobile: str | None = None
    email: str | None = None
    employee_no: str | None = None

    def id_as(self, id_type: str) -> str:
        return str(getattr(self, id_type))


@dataclass
class Chat:
    chat_id: str
    name: str
    members: list[str]
    p2p: bool


@dataclass
class UrgentCall:
    kind: str
    user_ids: list[str]
    at_ms: int


@dataclass
class Message:
    message_id: str
    chat_id: str
    msg_type: str
    content: str
    created_ms: int
    sender_id: str
    sender_type: str
    recipients: list[str]
    uuid: str | None = None
    reads: dict[str, int] = field(default_factory=dict)
    urgent: list[UrgentCall] = field(default_factory=list)


@dataclass
class Task:
    guid: str
    task_id: str
    app_id: str
    summary: str
    fields: dict[str, Any]
    members: list[tuple[str, str]]
    created_ms: int
    updated_ms: int
    completed_ms: int = 0
    client_token: str | None = None


@dataclass
class Approval:
    instance_code: str
    approval_code: str
    app_id: str
    initiator: str
    form: str
    start_ms: int
    approvers: list[dict[str, Any]]
    uuid: str | None = None
    status: str = "PENDING"
    end_ms: int = 0
    serial_number: str = ""
    timeline: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Attendee:
    attendee_id: str
    type: str
    rsvp_status: str
    is_optional: bool
    display_name: str
    open_id: str | None = None
    email: str | None = None


@dataclass
class CalendarEvent:
    calendar_id: str
    event_id: str
    fields: dict[str, Any]
    created_s: int
    seq: int
    first_seq: int
    status: str = "confirmed"
    attendees: list[Attendee] = field(default_factory=list)


@dataclass
class HireInterview:
    interview_id: str
    talent_id: str
    job_id: str
    record: dict[str, Any]


@dataclass
class Talent:
    """A Hire talent as `GET /open-apis/hire/v2/talents/:talent_id` shows its `basic_info`."""

    talent_id: str
    name: str
    mobile_number: str | None = None
    mobile_code: str = "86"
    email: str | None = None


@dataclass
class Participant:
    """One join..leave segment of someone in a VC meeting (epoch seconds)."""

    name: str
    join_s: int
    leave_s: int
    leave_reason: str
    open_id: str | None = None


@dataclass
class Meeting:
    """A Feishu VC meeting that took place (or is running): number, times, participants."""

    meeting_no: str
    topic: str
    start_s: int
    end_s: int | None
    organizer: str | None
    participants: list[Participant] = field(default_factory=list)


@dataclass
class CallbackEvent:
    event_id: str
    event_type: str
    envelope: dict[str, Any]
    next_at: float
    status: str = "pending"
    attempts: int = 0
    posts: int = 0


class RateMeter(QuotaMeter):
    """A `QuotaMeter` that also says when its window frees up (for `x-ogw-ratelimit-reset`)."""

    def reset_after(self, key: str) -> int:
        window = self._calls.get(key)
        if not window:
            return 1
        return max(1, math.ceil(self.per_seconds - (float(self._clock()) - window[0])))


class FeishuWorld(EmulatorWorld[EmulatorSettings]):
    """The emulated tenant: state, drive methods for tests/the sandbox and inspection."""

    def __init__(self, settings: EmulatorSettings | None = None, now: Callable[[], float] = time.time) -> None:
        super().__init__(settings or EmulatorSettings(), now)
        self.rng = random.Random(self.settings.faults.seed)
        self.crypto = FeishuEventCrypto(self.settings.encrypt_key, self.settings.verification_token)
        self.scopes: set[str] | None = None if self.settings.scopes is None else set(self.settings.scopes)
        self.urgent_quota_left = self.settings.urgent_paid_quota
        self.users: dict[str, User] = {}
        self.chats: dict[str, Chat] = {}
        self.messages: dict[str, Message] = {}
        self.tasks: dict[str, Task] = {}
        self.approval_definitions: dict[str, str] = {}
        self.approval_subscriptions: set[str] = set()
        self.approvals: dict[str, Approval] = {}
        self.calendars: dict[str, str] = {}
        self.calendar_events: dict[str, CalendarEvent] = {}
        self.interviews: dict[str, HireInterview] = {}
        self.talents: dict[str, Talent] = {}
        self.attendance_flows: list[dict[str, Any]] = []
        self.attendance_results: list[dict[str, Any]] = []
        self.meetings: list[Meeting] = []
        self.callbacks: list[CallbackEvent] = []
        self.dedupe: dict[tuple[str, str, str], tuple[str, float]] = {}
        self.change_seq = 0
        self._user_index: dict[tuple[str, str], str] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._current_token: dict[str, str] = {}
        self._inflight: set[tuple[str, str]] = set()
        self._calls: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._breaches: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._meters = {
            api: [RateMeter(t.limit, t.per_seconds, clock=self.clock.pace) for t in tiers]
            for api, tiers in self.settings.rate_tiers.items()
        }
        self._receiver_meter = RateMeter(self.settings.per_receiver_qps, 1.0, clock=self.clock.pace)
        self.delivery = DeliveryWorker(self._deliver_due, "feishu-callbacks")
        self.gateway = LongConnGateway(self.settings.longconn, self.settings.app_id, self.settings.app_secret)

    # -- clock and ids ---------------------------------------------------------------------------
    # `now()`, `now_ms()` and `advance()` come from `EmulatorWorld`: virtual time moves tokens, dedupe
    # windows, the 7-day window and the rate windows alike.

    def new_id(self, prefix: str = "", hex_chars: int = 32) -> str:
        with self.lock:
            return prefix + "".join(self.rng.choice("0123456789abcdef") for _ in range(hex_chars))

    def new_number_id(self, digits: int = 19) -> str:
        with self.lock:
            return str(self.rng.randrange(10 ** (digits - 1), 10**digits))

    def next_seq(self) -> int:
        with self.lock:
            self.change_seq += 1
            return self.change_seq

    # -- auth, scopes, rate limits ---------------------------------------------------------------

    def issue_token(self, app_id: str, app_secret: str) -> tuple[str, int]:
        """A tenant_access_token and its remaining seconds, with the documented re-issue rule."""
        if app_id != self.settings.app_id:
            raise FeishuError(10003, "invalid param: app_id")
        if app_secret != self.settings.app_secret:
            raise FeishuError(10014, "app secret invalid")
        with self.lock:
            now = self.now()
            current = self._current_token.get(app_id)
            if current is not None:
                remaining = self._tokens[current][1] - now
                if remaining >= self.settings.token_reissue_below_seconds:
                    return current, int(remaining)
            token = self.new_id("t-", 40)
            self._tokens[token] = (app_id, now + self.settings.token_ttl_seconds)
            self._current_token[app_id] = token
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            return token, self.settings.token_ttl_seconds

    def authenticate(self, authorization: str | None) -> str:
        """The app behind an `Authorization: Bearer t-...` header, or the documented token error."""
        if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
            raise FeishuError(99991661, "Need a token")
        token = authorization[7:].strip()
        if not token.startswith("t-"):
            raise FeishuError(99991671, "token format wrong: a tenant_access_token starts with t-")
        with self.lock:
            entry = self._tokens.get(token)
            if entry is None or entry[1] <= self.now():
                raise FeishuError(99991663, UNAUTHORISED_MSG)
            return entry[0]

    def expire_tokens(self) -> None:
        """Expire every issued token now (the next call answers 99991663)."""
        with self.lock:
            now = self.now()
            self._tokens = {t: (app, now) for t, (app, _) in self._tokens.items()}

    def grant_scopes(self, scopes: list[str] | None) -> None:
        """Replace the app's granted scopes; None grants every scope."""
        with self.lock:
            self.scopes = None if scopes is None else set(scopes)

    def count_call(self, app_id: str, api: str) -> None:
        with self.lock:
            self._calls[app_id][api] += 1

    def check_rate(self, app_id: str, api: str) -> None:
        """Meter one call against the API's tiers; a refused call is a breach and a 99991400."""
        with self.lock:
            for meter in self._meters.get(api, []):
                if not meter.hit(app_id):
                    self._refuse(app_id, api, meter, app_id)

    def check_receiver_rate(self, app_id: str, receiver: str) -> None:
        """The documented 5 QPS per user (or group) for sending messages."""
        with self.lock:
            key = f"{app_id}|{receiver}"
            if not self._receiver_meter.hit(key):
                self._refuse(app_id, "im.message.create", self._receiver_meter, key)

    def _refuse(self, app_id: str, api: str, meter: RateMeter, key: str) -> None:
        self._breaches[app_id][api] += 1
        raise rate_limit_error(meter.limit, meter.reset_after(key), self.settings.rate_limit_http_status)

    @contextmanager
    def client_token_claim(self, app_id: str, token: str | None) -> Iterator[None]:
        """Hold a Task `client_token` for one request; a concurrent duplicate gets 1470422."""
        if token is None:
            yield
            return
        key = (app_id, token)
        with self.lock:
            if key in self._inflight:
                raise FeishuError(1470422, "concurrent call with the same client_token")
            self._inflight.add(key)
        try:
            yield
        finally:
            with self.lock:
                self._inflight.discard(key)

    def recall(self, kind: str, app_id: str, key: str, window: float | None) -> str | None:
        """The id created earlier under an idempotency key, when still inside its window."""
        hit = self.dedupe.get((kind, app_id, key))
        if hit is None or (window is not None and self.now() - hit[1] >= window):
            return None
        return hit[0]

    def remember(self, kind: str, app_id: str, key: str, object_id: str) -> None:
        self.dedupe[(kind, app_id, key)] = (object_id, self.now())

    # -- users and chats -------------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        mobile: str | None = None,
        email: str | None = None,
        user_id: str | None = None,
        employee_no: str | None = None,
    ) -> dict[str, str]:
        """A tenant member reachable by the bot; returns its ids and p2p `chat_id`."""
        with self.lock:
            user = User(
                open_id=self.new_id("ou_"),
                union_id=self.new_id("on_"),
                user_id=user_id or self.new_id("", 8),
                name=name,
                chat_id=self.new_id("oc_"),
                mobile=mobile,
                email=email,
                employee_no=employee_no,
            )
            self.users[user.open_id] = user
            for id_type in (*ID_TYPES, "email", "employee_no"):
                value = getattr(user, id_type)
                if value:
                    self._user_index[(id_type, value)] = user.open_id
            self.chats[user.chat_id] = Chat(user.chat_id, name, [user.open_id], p2p=True)
            return {
                "open_id": user.open_id,
                "union_id": user.union_id,
                "user_id": user.user_id,
                "chat_id": user.chat_id,
            }

    def find_user(self, value: str, id_type: str) -> User | None:
        open_id = self._user_index.get((id_type, value))
        return self.users.get(open_id) if open_id else None

    def user(self, open_id: str) -> User:
        if open_id not in self.users:
            raise KeyError(f"unknown user {open_id}")
        return self.users[open_id]

    def add_chat(self, name: str, members: list[str]) -> str:
        """A group chat with the bot and these members (open_ids); returns its `chat_id`."""
        with self.lock:
            for open_id in members:
                self.user(open_id)
            chat_id = self.new_id("oc_")
            self.chats[chat_id] = Chat(chat_id, name, list(members), p2p=False)
            return chat_id

    # -- messages --------------------------------------------------------------------------------

    def add_user_message(self, sender: str, chat_id: str, text: str) -> str:
        """A message a person (not the bot) sent; read_users on it answers 230012."""
        with self.lock:
            self.user(sender)
            chat = self.chats[chat_id]
            message = Message(
                message_id=self.new_id("om_"),
                chat_id=chat_id,
                msg_type="text",
                content=json.dumps({"text": text}, ensure_ascii=False),
                created_ms=self.now_ms(),
                sender_id=sender,
                sender_type="user",
                recipients=[m for m in chat.members if m != sender],
            )
            self.messages[message.message_id] = message
            return message.message_id

    def add_bot_message(self, chat_id: str, text: str, at_ms: int | None = None) -> str:
        """A message the app sent earlier (seeds receipts for the sandbox and benchmarks)."""
        with self.lock:
            chat = self.chats[chat_id]
            message = Message(
                message_id=self.new_id("om_"),
                chat_id=chat_id,
                msg_type="text",
                content=json.dumps({"text": text}, ensure_ascii=False),
                created_ms=at_ms if at_ms is not None else self.now_ms(),
                sender_id=self.settings.app_id,
                sender_type="app",
                recipients=list(chat.members),
            )
            self.messages[message.message_id] = message
            return message.message_id

    def mark_read(self, message_id: str, user: str, at_ms: int | None = None) -> None:
        """`user` (open_id) reads the message: listed by read_users, p2p reads raise the read event."""
        with self.lock:
            message = self.messages[message_id]
            reader = self.user(user)
            if user not in message.recipients:
                raise ValueError(f"{user} did not receive {message_id}")
            if user in message.reads:
                return
            read_ms = at_ms if at_ms is not None else self.now_ms()
            message.reads[user] = read_ms
            if self.chats[message.chat_id].p2p and message.sender_type == "app":
                self.emit_v2(
                    "im.message.message_read_v1",
                    {
                        "reader": {
                            "reader_id": {
                                "union_id": reader.union_id,
                                "user_id": reader.user_id,
                                "open_id": reader.open_id,
                            },
                            "read_time": str(read_ms),
                            "tenant_key": self.settings.tenant_key,
                        },
                        "message_id_list": [message_id],
                    },
                )

    def click_card(self, message_id: str, user: str, label: str) -> None:
        """`user` (open_id) clicks the card button labelled `label`: a callback button (one with a `value`)
        raises `card.action.trigger` (event schema 2.0; official SDK `p2_card_action_trigger.py`)."""
        with self.lock:
            message = self.messages[message_id]
            clicker = self.user(user)
            if user not in message.recipients or message.msg_type != "interactive":
                raise ValueError(f"{user} cannot click a card button in {message_id}")
            buttons = [b for e in json.loads(message.content).get("elements", []) if e.get("tag") == "action"
                       for b in e.get("actions", []) if b.get("tag") == "button"]
            found = next((b for b in buttons if b["text"]["content"] == label), None)
            if found is None or "value" not in found:
                raise ValueError(f"{message_id} has no callback button {label!r}")
            self.emit_v2("card.action.trigger", {
                "operator": {"tenant_key": self.settings.tenant_key, "user_id": clicker.user_id,
                             "open_id": clicker.open_id},
                "token": self.new_id("c-", 32),
                "action": {"value": found["value"], "tag": "button"},
                "host": "im_message",
                "context": {"open_message_id": message_id, "open_chat_id": message.chat_id},
            })

    def unread_urgent(self, open_id: str) -> int:
        return sum(
            1
            for message in self.messages.values()
            if open_id not in message.reads and any(open_id in call.user_ids for call in message.urgent)
        )

    def urgent_calls(self) -> list[dict[str, Any]]:
        """Every urgent (buzz) call made: message id, kind (app/sms/phone), open_ids, time."""
        with self.lock:
            return [
                {"message_id": m.message_id, **dataclasses.asdict(call)}
                for m in self.messages.values()
                for call in m.urgent
            ]

    # -- tasks -----------------------------------------------------------------------------------

    def complete_task(self, guid: str, user: str | None = None, at_ms: int | None = None) -> None:
        """Someone completes the task: `completed_at` is set and `task.task.updated_v1` sent."""
        with self.lock:
            task = self.tasks[guid]
            if user is not None:
                self.user(user)
            task.completed_ms = at_ms if at_ms is not None else self.now_ms()
            task.updated_ms = task.completed_ms
            self.emit_v2("task.task.updated_v1", {"task_id": guid, "obj_type": 5})

    # -- approvals -------------------------------------------------------------------------------

    def add_approval_definition(self, approval_code: str, name: str) -> None:
        """An approval definition instances can be created from."""
        with self.lock:
            self.approval_definitions[approval_code] = name

    def decide_approval(self, instance_code: str, status: str = "APPROVED", comment: str | None = None) -> None:
        """Finish an instance (APPROVED, REJECTED, CANCELED, DELETED) and send `approval_instance`."""
        if status not in APPROVAL_FINAL:
            raise ValueError(f"status must be one of {sorted(APPROVAL_FINAL)}")
        with self.lock:
            approval = self.approvals[instance_code]
            now_ms = self.now_ms()
            approval.status, approval.end_ms = status, now_ms
            task_status = {"APPROVED": "APPROVED", "REJECTED": "REJECTED"}.get(status, "DONE")
            for task in approval.approvers:
                if task["status"] == "PENDING":
                    task["status"], task["end_time"] = task_status, now_ms
            actor = approval.approvers[0]["open_id"] if approval.approvers else approval.initiator
            kind = {"APPROVED": "PASS", "REJECTED": "REJECT", "CANCELED": "CANCEL"}.get(status, "DELETED")
            approval.timeline.append({"type": kind, "create_time": now_ms, "open_id": actor})
            if comment:
                approval.comments.append(
                    {"id": self.new_number_id(), "open_id": actor, "comment": comment, "create_time": now_ms}
                )
            if approval.approval_code in self.approval_subscriptions:
                self.emit_v1(
                    {
                        "app_id": self.settings.app_id,
                        "tenant_key": self.settings.tenant_key,
                        "type": "approval_instance",
                        "approval_code": approval.approval_code,
                        "instance_code": instance_code,
                        "uuid": approval.uuid or "",
                        "operate_time": str(now_ms),
                        "instance_operate_time": str(now_ms),
                        "status": status,
                    }
                )

    # -- calendar --------------------------------------------------------------------------------

    def add_calendar(self, summary: str) -> str:
        """A calendar the app can write to; returns its `calendar_id`."""
        with self.lock:
            calendar_id = f"feishu.cn_{self.new_id('', 24)}@group.calendar.feishu.cn"
            self.calendars[calendar_id] = summary
            return calendar_id

    def add_calendar_event(
        self,
        calendar_id: str,
        summary: str,
        start: int,
        end: int,
        description: str = "",
        timezone: str = "Asia/Shanghai",
        meeting_url: str | None = None,
    ) -> str:
        """An event someone else put on the calendar (times in epoch seconds); returns `event_id`."""
        fields: dict[str, Any] = {
            "summary": summary,
            "description": description,
            "start_time": {"timestamp": str(start), "timezone": timezone},
            "end_time": {"timestamp": str(end), "timezone": timezone},
        }
        if meeting_url:
            fields["vchat"] = {"vc_type": "third_party", "meeting_url": meeting_url}
        return self.store_calendar_event(calendar_id, fields).event_id

    def store_calendar_event(self, calendar_id: str, fields: dict[str, Any]) -> CalendarEvent:
        with self.lock:
            if calendar_id not in self.calendars:
                raise KeyError(f"unknown calendar {calendar_id}")
            seq = self.next_seq()
            event = CalendarEvent(
                calendar_id=calendar_id,
                event_id=f"{self.new_id('', 8)}-{self.new_id('', 4)}-{self.new_id('', 12)}_0",
                fields=fields,
                created_s=int(self.now()),
                seq=seq,
                first_seq=seq,
            )
            self.calendar_events[event.event_id] = event
            return event

    def update_calendar_event(
        self,
        calendar_id: str,
        event_id: str,
        start: int | None = None,
        end: int | None = None,
        status: str | None = None,
    ) -> None:
        """Someone moves or cancels (`status="cancelled"`) an event."""
        with self.lock:
            event = self.calendar_event(calendar_id, event_id)
            timezone = event.fields["start_time"].get("timezone", "Asia/Shanghai")
            if start is not None:
                event.fields["start_time"] = {"timestamp": str(start), "timezone": timezone}
            if end is not None:
                event.fields["end_time"] = {"timestamp": str(end), "timezone": timezone}
            if status is not None:
                event.status = status
            self.touch_event(event, "update")

    def calendar_event(self, calendar_id: str, event_id: str) -> CalendarEvent:
        event = self.calendar_events.get(event_id)
        if event is None or event.calendar_id != calendar_id:
            raise KeyError(f"unknown event {event_id}")
        return event

    def add_attendee(
        self,
        calendar_id: str,
        event_id: str,
        user: str | None = None,
        email: str | None = None,
        rsvp: str = "needs_action",
        is_optional: bool = False,
    ) -> str:
        """A user (open_id) or external e-mail attendee; returns the `attendee_id`."""
        with self.lock:
            event = self.calendar_event(calendar_id, event_id)
            if user is not None:
                name, kind = self.user(user).name, "user"
            elif email:
                name, kind = email.split("@")[0], "third_party"
            else:
                raise ValueError("an attendee needs a user or an email")
            attendee = Attendee(
                attendee_id=f"{kind}_{self.new_number_id()}",
                type=kind,
                rsvp_status=rsvp,
                is_optional=is_optional,
                display_name=name,
                open_id=user,
                email=email if user is None else None,
            )
            event.attendees.append(attendee)
            self.touch_event(event, "update")
            return attendee.attendee_id

    def set_rsvp(self, calendar_id: str, event_id: str, attendee_id: str, rsvp: str) -> None:
        """An attendee answers: accept, tentative, decline (or is removed)."""
        with self.lock:
            event = self.calendar_event(calendar_id, event_id)
            attendee = next(a for a in event.attendees if a.attendee_id == attendee_id)
            attendee.rsvp_status = rsvp
            self.touch_event(event, "update")

    def touch_event(self, event: CalendarEvent, change_type: str) -> None:
        """Record a change for sync_token readers and send `calendar.calendar.event.changed_v4`."""
        event.seq = self.next_seq()
        users = [a.open_id for a in event.attendees if a.open_id]
        self.emit_v2(
            "calendar.calendar.event.changed_v4",
            {
                "calendar_id": event.calendar_id,
                "user_id_list": [{"open_id": u, "union_id": self.users[u].union_id} for u in users],
                "calendar_event_id": event.event_id,
                "change_type": change_type,
                "rsvp_infos": [
                    {"from_user_id": {"open_id": a.open_id}, "rsvp_status": a.rsvp_status}
                    for a in event.attendees
                    if a.open_id
                ],
            },
        )

    # -- hire --------------------------------------------------------------------------------------

    def add_hire_interview(
        self,
        application_id: str,
        talent_id: str,
        begin_ms: int,
        end_ms: int,
        interviewers: list[str] | None = None,
        job_id: str = "",
        interview_type: int = 3,
        round: int = 1,
        video_type: int = 5,
    ) -> str:
        """A scheduled Hire interview (times epoch ms numbers, interviewers as open_ids)."""
        with self.lock:
            interview_id = self.new_number_id()
            now_ms = self.now_ms()
            records = []
            for open_id in interviewers or []:
                name = self.user(open_id).name
                records.append(
                    {
                        "id": self.new_number_id(),
                        "user_id": open_id,
                        "content": "",
                        "commit_status": 2,
                        "conclusion": 3,
                        "interviewer": {"id": open_id, "name": {"zh_cn": name, "en_us": name}},
                    }
                )
            record = {
                "id": interview_id,
                "begin_time": begin_ms,
                "end_time": end_ms,
                "round": round,
                "interview_record_list": records,
                "stage_id": "6960663240925956401",
                "application_id": application_id,
                "stage": {"id": "6960663240925956401", "name": {"zh_cn": "面试", "en_us": "Interview"}},
                "biz_create_time": now_ms,
                "biz_modify_time": now_ms,
                "interview_round_summary": 2,
                "interview_arrangement_id": self.new_number_id(),
                "interview_type": interview_type,
                "talent_time_zone": {"code": "Asia/Shanghai",
                                     "name": {"zh_cn": "中国标准时间", "en_us": "China Standard Time"}},
                "video_type": video_type,
                "arrangement_type": 1,
                "arrangement_appointment_kind": 1,
                "meeting_room_list": [],
            }
            self.interviews[interview_id] = HireInterview(interview_id, talent_id, job_id, record)
            return interview_id

    def add_talent(
        self, talent_id: str, name: str, mobile: str | None = None, email: str | None = None, mobile_code: str = "86"
    ) -> None:
        """A Hire talent (replacing one of the same id): what the talent get endpoint answers for it.
        Interviews may name talents never added; the endpoint then answers "talent not exist"."""
        with self.lock:
            self.talents[talent_id] = Talent(talent_id, name, mobile, mobile_code, email)

    def update_hire_interview(self, interview_id: str, **fields: Any) -> None:
        """Change interview fields (reschedule `begin_time`/`end_time`, `interview_round_summary`...)."""
        with self.lock:
            record = self.interviews[interview_id].record
            record.update(fields)
            record["biz_modify_time"] = self.now_ms()

    def record_feedback(self, interview_id: str, interviewer: str, conclusion: int, content: str = "") -> None:
        """An interviewer submits feedback (conclusion 1 pass, 2 fail, 5 no-show, 6 undecided)."""
        with self.lock:
            record = self.interviews[interview_id].record
            entry = next(r for r in record["interview_record_list"] if r["user_id"] == interviewer)
            entry.update(commit_status=1, conclusion=conclusion, content=content)
            record["feedback_submit_time"] = record["biz_modify_time"] = self.now_ms()
            conclusions = {r["conclusion"] for r in record["interview_record_list"]}
            summary = {frozenset({1}): 4, frozenset({2}): 5}.get(frozenset(conclusions))
            record["interview_round_summary"] = 6 if 5 in conclusions else summary or 7

    # -- attendance --------------------------------------------------------------------------------

    def add_attendance_flow(self, user: str, check_time: int, location_name: str = "", type: int = 0) -> str:
        """A valid punch (epoch seconds) of `user` (open_id); returns its `record_id`."""
        with self.lock:
            self.user(user)
            record_id = self.new_number_id()
            self.attendance_flows.append(
                {
                    "open_id": user,
                    "record_id": record_id,
                    "check_time": str(check_time),
                    "location_name": location_name,
                    "type": type,
                    "comment": "",
                    "is_field": False,
                    "is_wifi": False,
                    "photo_urls": [],
                    "check_result": "",
                }
            )
            return record_id

    def add_attendance_result(
        self,
        user: str,
        day: int,
        check_in_result: str = "Normal",
        check_out_result: str = "Normal",
        check_in_time: int | None = None,
        check_out_time: int | None = None,
    ) -> str:
        """A day's punch result (`day` yyyyMMdd; punch times epoch seconds); returns `result_id`."""
        with self.lock:
            self.user(user)
            result_id = self.new_number_id()
            record: dict[str, Any] = {
                "check_in_result": check_in_result,
                "check_out_result": check_out_result,
                "check_in_result_supplement": "None",
                "check_out_result_supplement": "None",
                "task_shift_type": 0,
            }
            for side, at in (("check_in", check_in_time), ("check_out", check_out_time)):
                if at is not None:
                    record[f"{side}_record_id"] = self.new_number_id()
                    record[f"{side}_record"] = {"check_time": str(at), "type": 0}
            self.attendance_results.append({"open_id": user, "result_id": result_id, "day": day, "records": [record]})
            return result_id

    # -- VC meetings -------------------------------------------------------------------------------

    def hold_meeting(
        self, meeting_no: str, start: int, end: int | None = None, topic: str = "", organizer: str | None = None
    ) -> int:
        """A meeting with the 9-digit number `meeting_no` runs from `start` to `end` (epoch seconds;
        None while it runs); returns its index for `join_meeting`."""
        with self.lock:
            if organizer is not None:
                self.user(organizer)
            self.meetings.append(Meeting(meeting_no, topic, start, end, organizer))
            return len(self.meetings) - 1

    def join_meeting(
        self,
        meeting: int,
        join: int,
        leave: int,
        user: str | None = None,
        name: str | None = None,
        leave_reason: str = "主动离会",
    ) -> None:
        """A tenant user (open_id) or an external guest (`name`) attends from `join` to `leave`."""
        with self.lock:
            held = self.meetings[meeting]
            if user is None and not name:
                raise ValueError("a participant needs a user or a name")
            display = self.user(user).name if user is not None else str(name)
            held.participants.append(Participant(display, join, leave, leave_reason, user))

    def end_meeting(self, meeting: int, end: int) -> None:
        with self.lock:
            self.meetings[meeting].end_s = end

    # -- callbacks ---------------------------------------------------------------------------------

    def emit_v2(self, event_type: str, event: dict[str, Any]) -> None:
        """Queue an event-schema-2.0 callback."""
        event_id = self.new_id("", 32)
        envelope = {
            "schema": "2.0",
            "header": {
                "event_id": event_id,
                "event_type": event_type,
                "create_time": str(self.now_ms()),
                "token": self.settings.verification_token,
                "app_id": self.settings.app_id,
                "tenant_key": self.settings.tenant_key,
            },
            "event": event,
        }
        self._queue(CallbackEvent(event_id, event_type, envelope, next_at=self.now()))

    def emit_v1(self, event: dict[str, Any]) -> None:
        """Queue a v1 callback (`approval_instance` and other older events)."""
        event_id = self.new_id("", 32)
        envelope = {
            "uuid": event_id,
            "token": self.settings.verification_token,
            "ts": f"{self.now():.3f}",
            "type": "event_callback",
            "event": event,
        }
        self._queue(CallbackEvent(event_id, str(event["type"]), envelope, next_at=self.now()))

    def _queue(self, event: CallbackEvent) -> None:
        if self.settings.events == "stream" and self.settings.deliver_in_background:
            self.gateway.publish(event.event_id, event.event_type, event.envelope)
            return
        with self.lock:
            self.callbacks.append(event)
        if self.settings.callback_url and self.settings.deliver_in_background:
            self.delivery.kick()

    def deliver_pending_events(self) -> int:
        """POST every due callback once (retrying failures later); returns how many got a 200. In stream mode
        without background delivery (the sandbox's thread delivers): hand each due event to the long connection
        with the same draws as a POST, then wait until the client acked it (TimeoutError after
        `stream_drain_seconds`), so both modes give a seed one run."""
        delivered = self.delivery.run()
        if self.settings.events == "stream":
            unacked = self.gateway.wait_acked(self.settings.stream_drain_seconds)
            if unacked:
                raise TimeoutError(f"{unacked} events not acked over the long connection in "
                                   f"{self.settings.stream_drain_seconds:g} s: is the client connected?")
        return delivered

    def _deliver_due(self) -> int:
        url = self.settings.callback_url
        stream = self.settings.events == "stream"
        if not url and not stream:
            return 0
        delivered = 0
        with self.lock:
            due = [e for e in self.callbacks if e.status == "pending" and e.next_at <= self.now()]
        for event in due:
            send = self._publish if stream else functools.partial(self._post, str(url))
            ok = send(event)
            if ok and self.faults.roll("duplicate"):
                send(event)
            with self.lock:
                delivered += record_attempt(event, ok, self.now(), self.settings.callback_retry_delays)
        return delivered

    def _publish(self, event: CallbackEvent) -> bool:
        """`event` onto the long connection, drawing what its POST draws (the nonce)."""
        self.new_id("", 16)
        event.posts += 1
        self.gateway.publish(event.event_id, event.event_type, event.envelope)
        return True

    def _post(self, url: str, event: CallbackEvent) -> bool:
        body = self.crypto.encrypt_body(event.envelope)
        timestamp, nonce = str(int(self.now())), self.new_id("", 16)
        headers = {"Content-Type": "application/json; charset=utf-8", TIMESTAMP_HEADER: timestamp, NONCE_HEADER: nonce}
        if self.settings.encrypt_key:
            headers[SIGNATURE_HEADER] = self.crypto.sign(timestamp, nonce, body)
        event.posts += 1
        try:
            response = requests.post(url, data=body, headers=headers, timeout=self.settings.callback_timeout_seconds)
        except requests.RequestException:
            return False
        return response.status_code == 200

    def verify_callback_url(self) -> bool:
        """Send the url_verification challenge; True when echoed within the documented 1 s."""
        if not self.settings.callback_url:
            return False
        challenge = self.new_id("", 36)
        payload = {"challenge": challenge, "token": self.settings.verification_token, "type": "url_verification"}
        try:
            response = requests.post(
                self.settings.callback_url,
                data=self.crypto.encrypt_body(payload),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=1.0,
            )
            return response.status_code == 200 and response.json().get("challenge") == challenge
        except (requests.RequestException, ValueError):
            return False

    def close(self) -> None:
        """Stop the background delivery thread."""
        self.delivery.close()

    # -- inspection --------------------------------------------------------------------------------

    def call_counts(self) -> dict[str, dict[str, int]]:
        """Authenticated calls per app per API (e.g. `{"cli_...": {"im.message.read_users": 12}}`)."""
        with self.lock:
            return {app: dict(apis) for app, apis in self._calls.items()}

    def breaches(self) -> dict[str, dict[str, int]]:
        """Calls the real platform would have refused for rate, per app per API."""
        with self.lock:
            return {app: dict(apis) for app, apis in self._breaches.items()}

    def api_calls(self) -> int:
        with self.lock:
            return sum(n for apis in self._calls.values() for n in apis.values())

    def quota_breaches(self) -> int:
        with self.lock:
            return sum(n for apis in self._breaches.values() for n in apis.values())

    def summary(self) -> dict[str, Any]:
        """What `GET /_emulator/state` shows."""
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        """Everything inspectable, JSON-ready (served at `GET /_emulator/state`)."""
        with self.lock:
            return {
                "now": self.now(),
                "users": [{**dataclasses.asdict(u), "mobile": mask(u.mobile)} for u in self.users.values()],
                "chats": [dataclasses.asdict(c) for c in self.chats.values()],
                "messages": [dataclasses.asdict(m) for m in self.messages.values()],
                "tasks": [dataclasses.asdict(t) for t in self.tasks.values()],
                "approvals": [dataclasses.asdict(a) for a in self.approvals.values()],
                "calendar_events": [dataclasses.asdict(e) for e in self.calendar_events.values()],
                "interviews": [dataclasses.asdict(i) for i in self.interviews.values()],
                "talents": [
                    {"talent_id": t.talent_id, "name": t.name, "mobile_code": t.mobile_code,
                     "mobile_number": mask(t.mobile_number), "email": mask_address(t.email)}
                    for t in self.talents.values()
                ],
                "attendance_flows": list(self.attendance_flows),
                "attendance_results": list(self.attendance_results),
                "meetings": [dataclasses.asdict(m) for m in self.meetings],
                "callbacks": [
                    {k: v for k, v in dataclasses.asdict(e).items() if k != "envelope"} for e in self.callbacks
                ],
                "calls": self.call_counts(),
                "breaches": self.breaches(),
                "faults_injected": dict(self.faults.injected),
                "urgent_quota_left": self.urgent_quota_left,
            }


def rate_limit_error(limit: int, reset: int, status: int = 429) -> FeishuError:
    """The gateway's throttle answer: 99991400 with `x-ogw-ratelimit-limit`/`-reset`."""
    return FeishuError(
        99991400,
        "request trigger frequency limit",
        status=status,
        headers={"x-ogw-ratelimit-limit": str(limit), "x-ogw-ratelimit-reset": str(reset)},
    )


def mask(mobile: str | None) -> str | None:
    """`138****1234`: phone numbers never leave the emulator in full."""
    return None if not mobile else mobile[:3] + "****" + mobile[-4:]


def mask_address(email: str | None) -> str | None:
    """`a***@example.com`: nor do e-mail addresses (the inspection view)."""
    if not email:
        return None
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"
