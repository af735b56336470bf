"""State of the DingTalk emulator: settings, the world's records, tokens, quotas, faults, callbacks.

`DingTalkWorld` holds what a DingTalk org would hold (users, work notifications and their receipts,
robot and DING messages, todos, calendar events, approval instances, ATS interviews, attendance)
in the vendor's wire shapes, and lets tests and the sandbox drive and inspect it. All times are
epoch seconds from an injectable clock, so the sandbox can run virtual time.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import requests
from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.connectors.dingtalk.crypto import CallbackRejected, DingTalkCrypto, random_text
from lifeline_hub.connectors.dingtalk.emulator_stream import StreamGateway, StreamSettings
from lifeline_hub.core.emulator import DeliveryWorker, EmulatorWorld, Faults, QuotaMeter

log = logging.getLogger(__name__)

Json = dict[str, Any]
Delivery = Literal["ok", "failed", "forbidden"]
Receipt = Literal["read", "unread", "failed", "forbidden", "invalid"]
Response = Literal["needsAction", "accepted", "declined", "tentative"]
CheckType = Literal["OnDuty", "OffDuty"]
DAILY_CAP = 500  # work notifications per user per day per internal app (143105)
CHECK_POINTS: tuple[tuple[int, CheckType], ...] = ((9, "OnDuty"), (18, "OffDuty"))  # a leave day's schedule


class DingTalkApp(BaseModel):
    """One internal app of the emulated org."""

    model_config = ConfigDict(extra="forbid")

    appkey: str
    appsecret: str = Field(repr=False)
    agent_id: int
    robot_code: str = Field("", description="the app's robot code; empty means the AppKey")

    @property
    def robot(self) -> str:
        return self.robot_code or self.appkey


def _default_apps() -> list[DingTalkApp]:
    return [DingTalkApp(appkey="dingemulatorappkey01", appsecret="emulator-appsecret-01", agent_id=3000000001)]


class EmulatorSettings(BaseModel):
    """Knobs of one emulated DingTalk org."""

    model_config = ConfigDict(extra="forbid")

    corp_id: str = "dingemulatorcorp0001"
    apps: list[DingTalkApp] = Field(default_factory=_default_apps, min_length=1)
    timezone: str = "Asia/Shanghai"
    callback_url: str | None = None
    callback_token: str = Field("lifeline-emulator", repr=False)
    callback_aes_key: str = Field(
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", min_length=43, max_length=43, repr=False
    )
    callback_owner_key: str = Field("", description="plaintext owner; empty means the first app's AppKey")
    callback_background: bool = Field(True, description="deliver callbacks from a background thread")
    callback_attempts: int = Field(3, ge=1)
    callback_timeout: float = Field(1.5, gt=0, description="DingTalk waits 1,500 ms for the reply")
    events: Literal["http", "stream"] = Field(
        "http", description="deliver events as HTTP callbacks or over Stream mode (emulator_stream)")
    stream: StreamSettings = Field(default_factory=StreamSettings)
    faults: Faults = Field(default_factory=Faults)
    qps_per_app_per_api: int = Field(20, ge=1)
    token_ttl: int = Field(7200, ge=1)
    receipt_retention_seconds: int = Field(86400, ge=1)
    denied_apis: list[str] = Field(default_factory=list, description=(
        "APIs (`METHOD /path-template`) the apps lack the permission for; `*` denies every API but the token "
        "endpoints (reference §2 'no permission')"))


# ---------------------------------------------------------------- time and ids


def millis(t: float) -> int:
    return round(t * 1000)


def utc_minute(t: float) -> str:
    """The workflow/calendar SDK's UTC `yyyy-MM-ddTHH:mmZ`."""
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(t))


@dataclass
class User:
    userid: str
    union_id: str
    name: str = ""
    mobile: str = field(default="", repr=False)
    dept_ids: list[int] = field(default_factory=lambda: [1])
    delivery: Delivery = "ok"

    def public(self) -> Json:
        return {"userid": self.userid, "unionId": self.union_id, "name": self.name, "deptIds": self.dept_ids}


@dataclass
class WorkNotice:
    task_id: int
    appkey: str
    agent_id: int
    msg: Json
    sent_at: float
    status: dict[str, Receipt]
    forbidden: list[Json] = field(default_factory=list)
    invalid_depts: list[int] = field(default_factory=list)
    read_at: dict[str, float] = field(default_factory=dict)
    recalled: bool = False

    def public(self) -> Json:
        return {
            "task_id": self.task_id, "appkey": self.appkey, "agent_id": self.agent_id,
            "msgtype": self.msg.get("msgtype"), "msg": self.msg, "sent_at": self.sent_at,
            "recipients": dict(self.status), "read_at": dict(self.read_at), "recalled": self.recalled,
        }


@dataclass
class Push:
    """A robot 1:1 message (`processQueryKey`) or a DING (`openDingId`)."""

    key: str
    kind: Literal["robot", "ding"]
    appkey: str
    robot_code: str
    content: Json
    sent_at: float
    recipients: list[str]
    read_at: dict[str, float] = field(default_factory=dict)
    recalled: bool = False

    def public(self) -> Json:
        return {
            "key": self.key, "kind": self.kind, "appkey": self.appkey, "robotCode": self.robot_code,
            "content": self.content, "sent_at": self.sent_at, "recipients": list(self.recipients),
            "read_at": dict(self.read_at), "recalled": self.recalled,
        }


@dataclass
class Approval:
    instance_id: str
    appkey: str
    process_code: str
    originator: str
    dept_id: int
    form: list[Json]
    approvers: list[str]
    cc: list[str]
    title: str
    created: float
    business_id: str
    status: str = "RUNNING"
    result: str = ""
    finished: float | None = None
    tasks: list[Json] = field(default_factory=list)
    records: list[Json] = field(default_factory=list)

    def public(self) -> Json:
        return {
            "instanceId": self.instance_id, "appkey": self.appkey, "processCode": self.process_code,
            "originatorUserId": self.originator, "title": self.title, "status": self.status,
            "result": self.result, "createTime": self.created, "finishTime": self.finished,
            "approvers": list(self.approvers), "form": copy.deepcopy(self.form),
        }


@dataclass
class Callback:
    seq: int
    event: Json
    attempts: int = 0
    state: Literal["pending", "delivered", "failed", "undeliverable"] = "pending"
    due: float = 0.0
    error: str = ""

    def public(self) -> Json:
        return {"seq": self.seq, "event": self.event, "attempts": self.attempts, "state": self.state,
                "error": self.error}


@dataclass
class Token:
    appkey: str
    expires_at: float


class CallbackOutbox:
    """Queues callback events and POSTs them signed and encrypted, with retries."""

    def __init__(self, settings: EmulatorSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        owner = settings.callback_owner_key or settings.apps[0].appkey
        self.crypto = DingTalkCrypto(settings.callback_token, settings.callback_aes_key, owner)
        self._clock = clock
        self._items: list[Callback] = []
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self.worker = DeliveryWorker(lambda: self._deliver(only_due=True), "dingtalk-callbacks", interval=0.1)

    def enqueue(self, event: Json, copies: int = 1) -> None:
        state: Literal["pending", "undeliverable"] = "pending" if self.settings.callback_url else "undeliverable"
        with self._lock:
            for _ in range(copies):
                self._items.append(Callback(next(self._seq), copy.deepcopy(event), state=state))
        if self.settings.callback_url and self.settings.callback_background:
            self.worker.kick()

    def items(self) -> list[Json]:
        with self._lock:
            return [item.public() for item in self._items]

    def deliver_pending(self, only_due: bool = False) -> int:
        """Attempt every pending callback once; return how many were delivered."""
        return self.worker.run(lambda: self._deliver(only_due))

    def _deliver(self, only_due: bool) -> int:
        with self._lock:
            now = time.monotonic()
            batch = [c for c in self._items if c.state == "pending" and (not only_due or c.due <= now)]
        return sum(self._attempt(item) for item in batch)

    def _attempt(self, item: Callback) -> int:
        url = self.settings.callback_url
        if not url:
            item.state = "undeliverable"
            return 0
        sealed = self.crypto.encrypt(
            json.dumps(item.event, ensure_ascii=False, separators=(",", ":")),
            nonce=random_text(8),
            timestamp=str(millis(self._clock())),
        )
        query = {k: sealed[k] for k in ("msg_signature", "timestamp", "nonce")}
        item.attempts += 1
        try:
            reply = requests.post(url, params=query, json={"encrypt": sealed["encrypt"]},
                                  timeout=self.settings.callback_timeout)
            if reply.status_code != 200:
                raise ValueError(f"HTTP {reply.status_code}")
            if self.crypto.open_reply(reply.json()) != "success":
                raise ValueError("reply is not an encrypted 'success'")
        except (requests.RequestException, ValueError, CallbackRejected) as exc:
            item.error = type(exc).__name__ if isinstance(exc, requests.RequestException) else str(exc)
            if item.attempts >= self.settings.callback_attempts:
                item.state = "failed"
            item.due = time.monotonic() + 0.2 * 2**item.attempts
            log.info("callback %s attempt %d failed: %s", item.seq, item.attempts, item.error)
            return 0
        item.state, item.error = "delivered", ""
        return 1

    def close(self) -> None:
        self.worker.close()


class DingTalkWorld(EmulatorWorld[EmulatorSettings]):
    """Everything the emulated DingTalk org knows, plus the drive and inspect API for tests and the sandbox."""

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        now: Callable[[], float] = time.time,
        qps_clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(settings or EmulatorSettings(), now)
        self.tz = ZoneInfo(self.settings.timezone)
        self.rng = random.Random(self.settings.faults.seed)
        self.quota = QuotaMeter(self.settings.qps_per_app_per_api, 1.0, clock=qps_clock or self.clock.monotonic)
        self.outbox = CallbackOutbox(self.settings, self.now)
        self._seq = itertools.count(1)
        self.apps = {app.appkey: app for app in self.settings.apps}
        self.gateway = StreamGateway(self.settings.stream, self.settings.corp_id, self.apps, self.now_ms)
        self.tokens: dict[str, Token] = {}
        self.users: dict[str, User] = {}
        self.notices: dict[int, WorkNotice] = {}
        self.sent_today: dict[tuple[str, str, int], int] = {}
        self.content_seen: set[tuple[str, str, str, int]] = set()
        self.pushes: dict[str, Push] = {}
        self.todos: dict[str, Json] = {}
        self.todo_meta: dict[str, tuple[str, str]] = {}  # id -> (owner unionId, appkey)
        self.todo_sources: dict[tuple[str, str], str] = {}
        self.calendar: dict[str, Json] = {}
        self.client_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self.checkins: dict[str, dict[str, float]] = {}
        self.approvals: dict[str, Approval] = {}
        self.interviews_by_id: dict[str, Json] = {}
        self.flows: dict[str, Json] = {}  # application flows (candidate x job), by flowId
        self.flow_modified: dict[str, int] = {}  # flowId -> last modification (ms)
        self.attendance_rows: list[Json] = []
        self.punches: set[int] = set()
        self.leaves: list[Json] = []

    # ------------------------------------------------------------ clock, ids, faults
    # `now()` and `advance()` (which returns the new time) come from `EmulatorWorld`.

    def ident(self, kind: str, size: int = 32) -> str:
        """A deterministic id: same seed and call order, same ids (keeps cassettes stable)."""
        digest = hashlib.sha256(f"{kind}:{next(self._seq)}:{self.settings.faults.seed}".encode()).digest()
        return base64.b64encode(digest).decode()[:size] if kind == "b64" else digest.hex()[:size]

    def number(self) -> int:
        return 256271667526 + next(self._seq)

    def local(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self.tz)

    def day(self, t: float) -> int:
        return self.local(t).toordinal()

    def configure_faults(self, faults: Faults) -> Faults:
        """Replace the fault knobs (and reseed the draws, the listing corruptions' too)."""
        with self.lock:
            self.rng = random.Random(faults.seed)
            return super().configure_faults(faults)

    def listing(self, records: Sequence[Any], required: Sequence[str] = ()) -> list[Any]:
        """A copy of one listing with the duplicate and malformed faults applied."""
        out = copy.deepcopy(list(records))
        if out and self.faults.roll("duplicate"):
            i = self.rng.randrange(len(out))
            out.insert(i + 1, copy.deepcopy(out[i]))
        if out and self.faults.roll("malformed"):
            i = self.rng.randrange(len(out))
            out[i] = self._corrupt(out[i], required)
        return out

    def _corrupt(self, record: Any, required: Sequence[str]) -> Any:
        if not isinstance(record, dict):
            return self.rng.choice([None, 0, {"garbled": str(record)}])
        keys = [k for k in required if k in record] or list(record)
        key = self.rng.choice(keys)
        if self.rng.random() < 0.5:
            del record[key]
            return record
        value = record[key]
        if isinstance(value, bool):
            record[key] = "maybe"
        elif isinstance(value, int | float):
            record[key] = f"{value}?garbled"
        elif isinstance(value, str):
            record[key] = {"garbled": value}
        else:
            record[key] = "garbled"
        return record

    # ------------------------------------------------------------ tokens and quotas

    def issue_token(self, appkey: str) -> str:
        """The app's current token, extended for another `token_ttl` (as DingTalk does), or a new one."""
        with self.lock:
            now = self.now()
            for value, token in self.tokens.items():
                if token.appkey == appkey and token.expires_at > now:
                    token.expires_at = now + self.settings.token_ttl
                    return value
            value = self.ident("token")
            self.tokens[value] = Token(appkey, now + self.settings.token_ttl)
            return value

    def token_state(self, value: str) -> tuple[DingTalkApp | None, Literal["ok", "invalid", "expired"]]:
        with self.lock:
            token = self.tokens.get(value)
            if token is None:
                return None, "invalid"
            if token.expires_at <= self.now():
                return self.apps[token.appkey], "expired"
            return self.apps[token.appkey], "ok"

    def expire_tokens(self, appkey: str | None = None) -> int:
        """Expire every live token (of one app); return how many."""
        with self.lock:
            now = self.now()
            hit = [t for t in self.tokens.values() if t.expires_at > now and appkey in (None, t.appkey)]
            for token in hit:
                token.expires_at = now
            return len(hit)

    def deny_apis(self, apis: list[str]) -> None:
        """Withdraw the apps' permission for `apis` (`METHOD /path-template`, or `*` for all); [] grants all."""
        with self.lock:
            self.settings.denied_apis = list(apis)

    def permitted(self, api: str) -> bool:
        with self.lock:
            denied = self.settings.denied_apis
            return "*" not in denied and api not in denied

    def call_counts(self) -> dict[tuple[str, str], int]:
        """Calls per (appkey, api), over-quota ones included."""
        return {_split(k): v for k, v in self.quota.calls.items()}

    def qps_breaches(self) -> dict[tuple[str, str], int]:
        """Calls per (appkey, api) that the real vendor would have refused for QPS."""
        return {_split(k): v for k, v in self.quota.breaches.items()}

    def api_calls(self) -> int:
        return self.quota.total_calls

    def quota_breaches(self) -> int:
        return self.quota.total_breaches

    # ------------------------------------------------------------ people

    def add_user(self, userid: str, union_id: str = "", name: str = "", mobile: str = "",
                 dept_ids: list[int] | None = None) -> Json:
        """Add (or replace) an org member; `union_id` defaults to a derived id."""
        with self.lock:
            user = User(userid, union_id or f"union{hashlib.sha256(userid.encode()).hexdigest()[:20]}",
                        name, mobile, dept_ids or [1])
            self.users[userid] = user
            return user.public()

    def user_by_union(self, union_id: str) -> User | None:
        return next((u for u in self.users.values() if u.union_id == union_id), None)

    def display_name(self, union_id: str) -> str:
        user = self.user_by_union(union_id)
        return user.name if user else ""

    def set_delivery(self, userid: str, outcome: Delivery) -> None:
        """Make future sends to `userid` fail or be forbidden (or succeed again)."""
        with self.lock:
            self.users[userid].delivery = outcome

    # ------------------------------------------------------------ work notifications and pushes

    def send_notice(self, app: DingTalkApp, msg: Json, userids: list[str], dept_ids: list[int],
                    to_all: bool) -> WorkNotice:
        with self.lock:
            now = self.now()
            targets = list(dict.fromkeys(userids))
            known_depts = {d for u in self.users.values() for d in u.dept_ids}
            for dept in dept_ids:
                targets += [u.userid for u in self.users.values() if dept in u.dept_ids]
            if to_all:
                targets += list(self.users)
            notice = WorkNotice(self.number(), app.appkey, app.agent_id, copy.deepcopy(msg), now, {},
                                invalid_depts=[d for d in dept_ids if d not in known_depts])
            digest = hashlib.sha256(json.dumps(msg, sort_keys=True).encode()).hexdigest()
            for userid in dict.fromkeys(targets):
                notice.status[userid] = self._deliver(app, userid, digest, notice.forbidden, now)
            self.notices[notice.task_id] = notice
            return notice

    def _deliver(self, app: DingTalkApp, userid: str, digest: str, forbidden: list[Json], now: float) -> Receipt:
        user = self.users.get(userid)
        if user is None:
            return "invalid"
        day = self.day(now)
        code = ""
        if (app.appkey, userid, digest, day) in self.content_seen:
            code, count = "143106", 1
        elif self.sent_today.get((app.appkey, userid, day), 0) >= DAILY_CAP:
            code, count = "143105", DAILY_CAP
        elif user.delivery == "forbidden":
            code, count = "1430004", 0
        if code:
            forbidden.append({"code": code, "count": count, "userid": userid})
            return "forbidden"
        if user.delivery == "failed":
            return "failed"
        self.content_seen.add((app.appkey, userid, digest, day))
        self.sent_today[(app.appkey, userid, day)] = self.sent_today.get((app.appkey, userid, day), 0) + 1
        return "unread"

    def mark_read(self, task_id: int, userid: str, at: float | None = None) -> None:
        """A recipient of work notification `task_id` reads it."""
        with self.lock:
            notice = self.notices[task_id]
            if notice.status.get(userid) != "unread":
                raise ValueError(f"{userid} has no unread copy of task {task_id}")
            notice.status[userid] = "read"
            notice.read_at[userid] = self.now() if at is None else at

    def set_receipt(self, task_id: int, userid: str, status: Receipt) -> None:
        """Force one recipient's status in work notification `task_id`."""
        with self.lock:
            notice = self.notices[task_id]
            if userid not in notice.status:
                raise KeyError(f"{userid} is not a recipient of task {task_id}")
            notice.status[userid] = status

    def add_push(self, app: DingTalkApp, kind: Literal["robot", "ding"], content: Json, userids: list[str]) -> Push:
        with self.lock:
            key = f"{self.ident('b64', 30)}=" if kind == "robot" else self.ident("ding", 32)
            push = Push(key, kind, app.appkey, app.robot, content, self.now(), userids)
            self.pushes[key] = push
            return push

    def mark_push_read(self, key: str, userid: str, at: float | None = None) -> None:
        """A recipient reads robot message `processQueryKey` or DING `openDingId` `key`."""
        with self.lock:
            push = self.pushes[key]
            if userid not in push.recipients:
                raise KeyError(f"{userid} is not a recipient of {key}")
            push.read_at[userid] = self.now() if at is None else at

    # ------------------------------------------------------------ todos

    def set_todo_done(self, task_id: str, done: bool = True, by: str = "") -> Json:
        """HR completes (or reopens) todo `task_id`; emits a todo change callback."""
        with self.lock:
            todo = self.todos[task_id]
            now = millis(self.now())
            todo.update(done=done, finishTime=now if done else 0, modifiedTime=now,
                        modifierId=by or todo["creatorId"])
            self.emit_todo_change(task_id)
            return copy.deepcopy(todo)

    def emit_todo_change(self, task_id: str) -> None:
        todo = self.todos[task_id]
        self.emit({
            "EventType": "todo_task_change", "corpId": self.settings.corp_id, "taskId": task_id,
            "sourceId": todo["sourceId"], "unionId": self.todo_meta[task_id][0], "done": todo["done"],
            "type": "finish" if todo["done"] else "update", "modifiedTime": todo["modifiedTime"],
        })

    # ------------------------------------------------------------ calendar

    def event_time(self, t: float) -> Json:
        return {"dateTime": self.local(t).isoformat(timespec="seconds"), "timeZone": self.settings.timezone}

    def add_calendar_event(self, organizer: str, summary: str, start: float, end: float,
                           attendees: list[str] | None = None, description: str = "") -> str:
        """Create an event on `organizer`'s (unionId) primary calendar; return its id."""
        with self.lock:
            event = self.new_event(organizer, {
                "summary": summary, "description": description, "start": self.event_time(start),
                "end": self.event_time(end), "attendees": [{"id": a} for a in attendees or []],
            })
            return str(event["id"])

    def new_event(self, organizer: str, body: Json) -> Json:
        now = utc_minute(self.now())
        event: Json = {
            "id": self.ident("b64", 32).replace("/", "_").replace("+", "-"),
            "summary": body["summary"], "description": body.get("description", ""),
            "start": body["start"], "end": body["end"], "isAllDay": bool(body.get("isAllDay", False)),
            "organizer": {"id": organizer, "displayName": self.display_name(organizer), "responseStatus": "accepted"},
            "attendees": [], "status": "confirmed", "createTime": now, "updateTime": now,
            "extendedProperties": {"sharedProperties": {"belongCorpId": self.settings.corp_id, "sourceOpenCid": ""}},
        }
        self.patch_event(event, body)
        self.calendar[event["id"]] = event
        return event

    def patch_event(self, event: Json, body: Json) -> None:
        for key in ("summary", "description", "start", "end", "isAllDay", "location", "recurrence", "extra"):
            if key in body:
                event[key] = body[key]
        if "reminders" in body:
            event["reminders"] = [{"method": r.get("method", "dingtalk"), "minutes": str(r.get("minutes", 15))}
                                  for r in body["reminders"]]
        if "onlineMeetingInfo" in body:
            conference = self.ident("conf", 12)
            event["onlineMeetingInfo"] = {"type": "dingtalk", "conferenceId": conference,
                                          "url": f"dingtalk://dingtalkclient/page/videoConfFromCalendar?confId={conference}",
                                          "extraInfo": {}}
        if "attendees" in body:
            previous = {a["id"]: a for a in event["attendees"]}
            event["attendees"] = [{
                "id": a["id"], "displayName": self.display_name(a["id"]),
                "responseStatus": previous.get(a["id"], {}).get("responseStatus", "needsAction"),
                "isOptional": bool(a.get("isOptional", False)),
            } for a in body["attendees"]]
        event["updateTime"] = utc_minute(self.now())

    def set_attendee_response(self, event_id: str, union_id: str, status: Response) -> None:
        """An attendee accepts, declines or tentatively accepts event `event_id`."""
        with self.lock:
            attendee = next(a for a in self.calendar[event_id]["attendees"] if a["id"] == union_id)
            attendee["responseStatus"] = status

    def check_in(self, event_id: str, union_id: str, at: float | None = None) -> int:
        """`union_id` checks in to event `event_id`; return the check-in time (ms)."""
        with self.lock:
            event = self.calendar[event_id]
            if union_id not in self.event_people(event):
                raise KeyError(f"{union_id} is not on event {event_id}")
            stamp = self.checkins.setdefault(event_id, {})
            stamp.setdefault(union_id, self.now() if at is None else at)
            return millis(stamp[union_id])

    @staticmethod
    def event_people(event: Json) -> list[str]:
        return [event["organizer"]["id"], *(a["id"] for a in event["attendees"])]

    # ------------------------------------------------------------ approvals

    def create_approval(self, app: DingTalkApp, process_code: str, originator: str, dept_id: int,
                        form: list[Json], approvers: list[str], cc: list[str]) -> Approval:
        with self.lock:
            user = self.users.get(originator)
            now = self.now()
            instance = Approval(
                self.ident("b64", 36).replace("/", "x").replace("+", "y"), app.appkey, process_code, originator,
                dept_id, copy.deepcopy(form), approvers, cc, f"{user.name if user else originator}提交的{process_code}",
                now, self.local(now).strftime("%Y%m%d%H%M%S%f")[:17],
            )
            instance.records.append({"userId": originator, "date": now, "type": "START_PROCESS_INSTANCE",
                                     "result": "NONE", "remark": ""})
            for approver in approvers[:1]:
                instance.tasks.append(self._approval_task(instance, approver))
            self.approvals[instance.instance_id] = instance
            self._emit_instance(instance, "start")
            return instance

    def _approval_task(self, instance: Approval, userid: str) -> Json:
        return {"taskId": self.number(), "userId": userid, "status": "RUNNING", "result": "NONE",
                "activityId": f"act-{len(instance.tasks) + 1}", "createTime": self.now(),
                "finishTime": None, "processInstanceId": instance.instance_id,
                "mobileUrl": f"aflow.dingtalk.com?procInsId={instance.instance_id}&taskId=",
                "pcUrl": f"aflow.dingtalk.com?procInsId={instance.instance_id}&taskId="}

    def decide_approval(self, instance_id: str, result: Literal["agree", "refuse"], userid: str = "",
                        remark: str = "") -> Json:
        """The current approver (or `userid`) agrees or refuses; `agree` moves to the next approver."""
        with self.lock:
            instance = self.approvals[instance_id]
            if instance.status != "RUNNING":
                raise ValueError(f"instance {instance_id} is {instance.status}")
            now = self.now()
            task = next((t for t in instance.tasks if t["status"] == "RUNNING"), None)
            actor = userid or (task["userId"] if task else instance.originator)
            if task is not None:
                task.update(status="COMPLETED", result=result.upper(), finishTime=now, userId=actor)
                self.emit({**self._instance_event(instance, "finish"), "EventType": "bpms_task_change",
                           "result": result, "staffId": actor, "taskId": task["taskId"],
                           "activityId": task["activityId"], "remark": remark})
            instance.records.append({"userId": actor, "date": now, "type": "EXECUTE_TASK_NORMAL",
                                     "result": result.upper(), "remark": remark})
            done_with = {t["userId"] for t in instance.tasks}
            following = [a for a in instance.approvers if a not in done_with]
            if result == "agree" and following:
                instance.tasks.append(self._approval_task(instance, following[0]))
            else:
                instance.status, instance.result, instance.finished = "COMPLETED", result, now
                self._emit_instance(instance, "finish")
            return instance.public()

    def terminate_approval(self, instance_id: str, remark: str = "") -> Json:
        """The originator withdraws instance `instance_id`."""
        with self.lock:
            instance = self.approvals[instance_id]
            instance.status, instance.finished = "TERMINATED", self.now()
            for task in instance.tasks:
                if task["status"] == "RUNNING":
                    task["status"] = "CANCELED"
            instance.records.append({"userId": instance.originator, "date": self.now(),
                                     "type": "TERMINATE_PROCESS_INSTANCE", "result": "NONE", "remark": remark})
            self._emit_instance(instance, "terminate")
            return instance.public()

    def _instance_event(self, instance: Approval, kind: str) -> Json:
        return {
            "EventType": "bpms_instance_change", "processInstanceId": instance.instance_id,
            "corpId": self.settings.corp_id, "createTime": millis(instance.created), "title": instance.title,
            "type": kind, "staffId": instance.originator, "processCode": instance.process_code,
            "businessId": instance.business_id,
            "url": f"https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm#/approval?procInstId={instance.instance_id}",
        }

    def _emit_instance(self, instance: Approval, kind: str) -> None:
        event = self._instance_event(instance, kind)
        if kind != "start":
            event["finishTime"] = millis(instance.finished or self.now())
        if kind == "finish":
            event["result"] = instance.result
        self.emit(event)

    # ------------------------------------------------------------ ATS and attendance

    def add_interview(self, candidate_id: str, start: float, end: float, interviewers: list[str],
                      job_id: str = "", creator: str = "", cancelled: bool = False) -> str:
        """Add a recruiting interview (interviewers and creator are userIds); return its interviewId.

        The candidate's application flow for the job is created or marked modified.
        """
        with self.lock:
            interview_id = self.ident("interview", 24)
            job_id = job_id or self.ident("job", 16)
            self.interviews_by_id[interview_id] = {
                "interviewId": interview_id, "jobId": job_id,
                "creatorUserId": creator or (interviewers[0] if interviewers else ""),
                "startTimeMillis": millis(start), "endTimeMillis": millis(end), "cancelled": cancelled,
                "interviewers": [{"userId": u} for u in interviewers], "candidateId": candidate_id,
                "signInTimeMillis": None,
            }
            self._touch_flow(candidate_id, job_id)
            return interview_id

    def cancel_interview(self, interview_id: str) -> None:
        with self.lock:
            interview = self.interviews_by_id[interview_id]
            interview["cancelled"] = True
            self._touch_flow(interview["candidateId"], interview["jobId"])

    def _touch_flow(self, candidate_id: str, job_id: str) -> None:
        flow = next((f for f in self.flows.values() if (f["candidateId"], f["jobId"]) == (candidate_id, job_id)), None)
        if flow is None:
            flow = {"flowId": self.ident("flow", 24), "candidateId": candidate_id, "candidateName": "",
                    "jobId": job_id, "currentStatus": "21", "sourceName": "", "statId": self.ident("stat", 16),
                    "createTime": millis(self.now())}
            self.flows[flow["flowId"]] = flow
        self.flow_modified[flow["flowId"]] = millis(self.now())

    def add_attendance(self, userid: str, base_check_time: float, check_type: CheckType,
                       time_result: str = "Normal", user_check_time: float | None = None,
                       location_result: str = "Normal", source_type: str = "USER", proc_inst_id: str = "") -> int:
        """Add one clock-in result row (a scheduled check point); return its record id."""
        with self.lock:
            work_day = self.local(base_check_time).replace(hour=0, minute=0, second=0, microsecond=0)
            record_id = self.number()
            row: Json = {
                "id": record_id, "recordId": record_id, "userId": userid, "corpId": self.settings.corp_id,
                "groupId": 100001, "planId": record_id + 7, "workDate": millis(work_day.timestamp()),
                "checkType": check_type, "timeResult": time_result, "locationResult": location_result,
                "baseCheckTime": millis(base_check_time),
                "userCheckTime": millis(base_check_time if user_check_time is None else user_check_time),
                "sourceType": source_type,
            }
            if user_check_time is not None:
                self.punches.add(record_id)
            if proc_inst_id:
                row.update(procInstId=proc_inst_id, approveId=self.number())
            self.attendance_rows.append(row)
            return record_id

    def add_leave(self, userid: str, start: float, end: float, sub_type: str = "事假") -> str:
        """Add an approved leave; the covered days get APPROVE-sourced check points. Return the procInst id."""
        with self.lock:
            proc = self.ident("leave", 24)
            self.leaves.append({
                "userid": userid, "procInst_id": proc, "biz_type": 3, "begin_time": millis(start),
                "end_time": millis(end), "duration": round((end - start) / 3600, 1), "duration_unit": "HOUR",
                "sub_type": sub_type, "tag_name": "请假", "gmt_finished": millis(start),
            })
            day = self.local(start).replace(hour=0, minute=0, second=0, microsecond=0)
            while day.timestamp() < end:
                for hour, kind in CHECK_POINTS:
                    at = day.replace(hour=hour).timestamp()
                    if start <= at <= end:
                        self.add_attendance(userid, at, kind, location_result="NotSigned", source_type="APPROVE",
                                            proc_inst_id=proc)
                day = (day + timedelta(days=1)).replace(hour=0)
            return proc

    # ------------------------------------------------------------ callbacks

    def emit(self, event: Json) -> None:
        """Queue an event callback (twice when the duplicate fault hits), or a Stream mode event."""
        copies = 2 if self.faults.roll("duplicate") else 1
        if self.settings.events == "stream":
            self.gateway.publish(event, copies)
            return
        self.outbox.enqueue(event, copies)

    def send_check_url(self) -> None:
        """Queue the `check_url` event DingTalk sends when the callback URL is saved."""
        self.outbox.enqueue({"EventType": "check_url"})

    def set_callback_url(self, url: str | None) -> None:
        with self.lock:
            self.settings.callback_url = url

    def deliver_pending_callbacks(self) -> int:
        """Deliver every pending callback now (one attempt each); return how many succeeded."""
        return self.outbox.deliver_pending()

    def close(self) -> None:
        self.outbox.close()

    # ------------------------------------------------------------ inspection

    def messages(self) -> list[Json]:
        """Work notifications with per-recipient status."""
        with self.lock:
            return [n.public() for n in self.notices.values()]

    def receipts(self, task_id: int) -> dict[str, Receipt]:
        with self.lock:
            return dict(self.notices[task_id].status)

    def push_messages(self, kind: Literal["robot", "ding"] | None = None) -> list[Json]:
        """Robot 1:1 messages and DINGs."""
        with self.lock:
            return [p.public() for p in self.pushes.values() if kind in (None, p.kind)]

    def todo_list(self) -> list[Json]:
        with self.lock:
            return [{**copy.deepcopy(t), "ownerUnionId": self.todo_meta[t["id"]][0]} for t in self.todos.values()]

    def approval_list(self) -> list[Json]:
        with self.lock:
            return [a.public() for a in self.approvals.values()]

    def events(self) -> list[Json]:
        """Calendar events, with check-ins (ms) per unionId."""
        with self.lock:
            return [{**copy.deepcopy(e), "checkIns": {u: millis(t) for u, t in self.checkins.get(e["id"], {}).items()}}
                    for e in self.calendar.values()]

    def interviews(self) -> list[Json]:
        with self.lock:
            return copy.deepcopy(list(self.interviews_by_id.values()))

    def attendance(self) -> list[Json]:
        with self.lock:
            return copy.deepcopy(self.attendance_rows)

    def callbacks(self) -> list[Json]:
        return self.outbox.items()

    def summary(self) -> Json:
        """Counts of everything, calls and breaches, injected faults: the `/_emulator/state` body."""
        with self.lock:
            states = [c["state"] for c in self.callbacks()]
            return {
                "now": self.now(), "corp_id": self.settings.corp_id, "users": len(self.users),
                "messages": len(self.notices), "robot_messages": sum(p.kind == "robot" for p in self.pushes.values()),
                "dings": sum(p.kind == "ding" for p in self.pushes.values()), "todos": len(self.todos),
                "approvals": len(self.approvals), "events": len(self.calendar),
                "interviews": len(self.interviews_by_id), "attendance": len(self.attendance_rows),
                "callbacks": {s: states.count(s) for s in sorted(set(states))},
                "calls": [{"app": a, "api": p, "count": n} for (a, p), n in sorted(self.call_counts().items())],
                "qps_breaches": [{"app": a, "api": p, "count": n} for (a, p), n in sorted(self.qps_breaches().items())],
                "faults": self.faults.faults.model_dump(), "faults_injected": dict(self.faults.injected),
            }


def quota_key(appkey: str, api: str) -> str:
    return f"{appkey} {api}"


def _split(key: str) -> tuple[str, str]:
    appkey, _, api = key.partition(" ")
    return appkey, api
