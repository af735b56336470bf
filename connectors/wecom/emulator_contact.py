"""Emulated WeCom customer contact (客户联系, wecom-wechat.md §6, §11 item 7): candidates who added a member.

`ContactState` is one corp's customer-contact side (`world.contact`): relations member <-> external_userid, the
welcome codes of `add_external_contact`, and the mass messages (`add_msg_template`) with their member tasks and
per-customer results. Nothing is sent when a message is created: each member it names gets a task (status 0) and
the customers stay at status 0 until the member confirms (`confirm`, the sandbox's or a test's tap in the client);
then each customer gets status 1 (sent, at that virtual time), 2 (not a contact any more) or 3 (over the monthly
cap: as many mass messages a month as the month has days, `monthly_cap` to override). `send_welcome_msg` takes a
code at most 20 s old, once (else 41051). Errors per §2.2: 40096 (not an external_userid), 84061 (the relation is
gone), 41063 (results asked for while the confirmed message is still being dispatched, `dispatch_seconds`);
40058 for a body it cannot take, 45002 for a text over 4000 bytes. Faults `malformed` and `duplicate` hit the
records of `get_groupmsg_send_result`. Drive actions (`DRIVE`): `add_contact` (pushes `add_external_contact` with a
`WelcomeCode`), `delete_contact` (`del_follow_user`, or `del_external_contact` when the member deletes),
`confirm`, `set_monthly_cap`.

API-made messages carry no `creator` in `get_groupmsg_list_v2` (doc 93338: only member-made ones name one).
"""

from __future__ import annotations

import calendar
import itertools
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import FastAPI

Json = dict[str, Any]
EXTERNAL_USERID = re.compile(r"^w[mo][0-9A-Za-z_-]{6,64}$")
WELCOME_SECONDS = 20.0
MAX_TEXT_BYTES = 4000
MAX_ATTACHMENTS = 9
MAX_REMINDERS = 3
"""`remind_groupmsg_send` per mass message in 24 h (doc 97610)."""
BEIJING = timezone(timedelta(hours=8))
CONTACT_ERRMSG = {40058: "invalid parameter", 40096: "invalid external userid", 41051: "welcome msg not allowed",
                  41063: "group msg is sending, try again later", 44004: "empty content",
                  84061: "external contact relation not exist", 40003: "invalid userid",
                  45002: "content size out of limit"}
"""errmsg (before WeCom's per-call tail) of the customer-contact errors."""


class ContactError(Exception):
    """A customer-contact call refused with a WeCom errcode."""

    def __init__(self, code: int) -> None:
        super().__init__(CONTACT_ERRMSG.get(code, "error"))
        self.code = code


@dataclass
class Relation:
    member: str
    external_userid: str
    state: str
    added_at: float
    deleted_at: float | None = None
    deleted_by: str | None = None  # "customer" (del_follow_user) or "member" (del_external_contact)


@dataclass
class Welcome:
    code: str
    member: str
    external_userid: str
    issued_at: float
    used_at: float | None = None
    text: str = ""


@dataclass
class Result:
    """One customer of one mass message, through one member."""

    external_userid: str
    userid: str
    status: int = 0
    send_time: int = 0


@dataclass
class GroupMsg:
    msgid: str
    create_time: int
    sender: str | None
    text: Json
    attachments: list[Any]
    tasks: dict[str, Json] = field(default_factory=dict)  # member -> {"status": 0|2, "send_time": int}
    results: list[Result] = field(default_factory=list)
    fail_list: list[str] = field(default_factory=list)
    confirmed_at: float | None = None
    cancelled_at: float | None = None
    """`cancel_groupmsg_send`: members who have not tapped send no longer can."""
    reminders: list[float] = field(default_factory=list)
    """When `remind_groupmsg_send` nudged the members (at most 3 in 24 h)."""

    def listing(self) -> Json:
        return {"msgid": self.msgid, "create_time": self.create_time, "create_type": 0, "text": self.text,
                "attachments": self.attachments}


def _page(items: list[Any], cursor: Any, limit: Any, most: int) -> tuple[list[Any], str]:
    """One page of `items` from an opaque `cursor` (the offset as text) and WeCom's `next_cursor` ("" at the end)."""
    try:
        start = int(cursor) if cursor not in (None, "") else 0
        size = int(limit) if limit not in (None, "") else most
    except (TypeError, ValueError):
        raise ContactError(40058) from None
    if start < 0 or size < 1:
        raise ContactError(40058)
    size = min(size, most)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else "")


class ContactState:
    """One corp's customer contact; the world's lock guards it (the routes and drive actions take it)."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.relations: dict[tuple[str, str], Relation] = {}
        self.welcomes: dict[str, Welcome] = {}
        self.messages: dict[str, GroupMsg] = {}
        self.received: dict[tuple[str, str], int] = {}  # (external_userid, month) -> mass messages received
        self.monthly_cap: int | None = None
        """Mass messages a customer may receive a month; None: as many as the month has days (doc 92135)."""
        self.dispatch_seconds = 0.0
        """How long after a confirmation the results are still being dispatched (41063)."""
        self._ids = itertools.count(1)

    # ---------------------------------------------------------------- helpers

    def _now(self) -> float:
        return float(self.world.now())

    def _corp(self) -> str:
        return str(getattr(self.world.settings, "corp_id", ""))

    def related(self, member: str, external_userid: str) -> bool:
        relation = self.relations.get((member, external_userid))
        return relation is not None and relation.deleted_at is None

    def cap(self, at: float) -> tuple[str, int]:
        day = datetime.fromtimestamp(at, BEIJING)
        days = calendar.monthrange(day.year, day.month)[1]
        return f"{day.year:04d}-{day.month:02d}", self.monthly_cap if self.monthly_cap is not None else days

    def _message(self, msgid: Any) -> GroupMsg:
        message = self.messages.get(str(msgid)) if isinstance(msgid, str) and msgid else None
        if message is None:
            raise ContactError(40058)
        return message

    # ---------------------------------------------------------------- the vendor API

    def add_msg_template(self, body: Mapping[str, Any]) -> Json:
        """Create a mass message to customers: a task per member, nothing sent; non-contacts in `fail_list`."""
        chat_type = body.get("chat_type") or "single"
        if chat_type != "single":
            raise ContactError(40058)  # group chats are not emulated
        targets = body.get("external_userid")
        if not isinstance(targets, list) or not targets or len(targets) > 10_000:
            raise ContactError(40058)
        if any(not isinstance(t, str) or not EXTERNAL_USERID.match(t) for t in targets):
            raise ContactError(40096)
        text = body.get("text") if isinstance(body.get("text"), dict) else {}
        content = str((text or {}).get("content") or "")
        attachments = body.get("attachments") or []
        if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
            raise ContactError(40058)
        if len(content.encode()) > MAX_TEXT_BYTES:
            raise ContactError(45002)
        if not content.strip() and not attachments:
            raise ContactError(44004)
        sender = body.get("sender")
        if sender is not None and (not isinstance(sender, str) or not sender):
            raise ContactError(40003)
        now = self._now()
        msgid = f"msg{secrets.token_hex(10)}{next(self._ids)}"
        message = GroupMsg(msgid, int(now), sender, {"content": content} if content else {}, list(attachments))
        for target in dict.fromkeys(targets):
            members = [sender] if sender else sorted(m for m, e in self.relations if e == target)
            members = [m for m in members if self.related(m, target)]
            if not members:
                message.fail_list.append(target)
            for member in members:
                message.tasks.setdefault(member, {"status": 0, "send_time": 0})
                message.results.append(Result(target, member))
        answer: Json = {"errcode": 0, "errmsg": "ok", "fail_list": list(message.fail_list)}
        if message.results:
            self.messages[msgid] = message
            answer["msgid"] = msgid
        return answer

    def get_groupmsg_list_v2(self, body: Mapping[str, Any]) -> Json:
        if (body.get("chat_type") or "single") != "single":
            return {"errcode": 0, "errmsg": "ok", "next_cursor": "", "group_msg_list": []}
        try:
            start, end = int(body["start_time"]), int(body["end_time"])
        except (KeyError, TypeError, ValueError):
            raise ContactError(40058) from None
        if end < start or end - start > 31 * 86400:
            raise ContactError(40058)
        filter_type = body.get("filter_type", 2)
        if filter_type not in (0, 1, 2):
            raise ContactError(40058)
        creator = body.get("creator")
        found = [m for m in self.messages.values() if start <= m.create_time <= end and filter_type != 1
                 and not creator]  # API-made messages have no creator: a creator filter matches none of them
        page, cursor = _page(found, body.get("cursor"), body.get("limit"), 100)
        return {"errcode": 0, "errmsg": "ok", "next_cursor": cursor, "group_msg_list": [m.listing() for m in page]}

    def get_groupmsg_task(self, body: Mapping[str, Any]) -> Json:
        message = self._message(body.get("msgid"))
        tasks = [{"userid": u, **t} for u, t in sorted(message.tasks.items())]
        page, cursor = _page(tasks, body.get("cursor"), body.get("limit"), 1000)
        return {"errcode": 0, "errmsg": "ok", "next_cursor": cursor, "task_list": page}

    def get_groupmsg_send_result(self, body: Mapping[str, Any]) -> Json:
        message = self._message(body.get("msgid"))
        userid = body.get("userid")
        if not isinstance(userid, str) or not userid:
            raise ContactError(40003)
        if message.confirmed_at is not None and self._now() < message.confirmed_at + self.dispatch_seconds:
            raise ContactError(41063)
        rows = [r for r in message.results if r.userid == userid]
        page, cursor = _page(rows, body.get("cursor"), body.get("limit"), 1000)
        send_list: list[Any] = []
        for row in page:
            item: Json = {"external_userid": row.external_userid, "userid": row.userid, "status": row.status,
                          "send_time": row.send_time}
            if self.world.faults.roll("malformed"):
                item = {"external_userid": "", "userid": row.userid, "status": "?"}
            send_list.append(item)
            if self.world.faults.roll("duplicate"):
                send_list.append(dict(item))
        return {"errcode": 0, "errmsg": "ok", "next_cursor": cursor, "send_list": send_list}

    def cancel_groupmsg_send(self, body: Mapping[str, Any]) -> Json:
        """Stop the mass message: members who have not sent it can no longer (what was sent stays sent)."""
        message = self._message(body.get("msgid"))
        if message.cancelled_at is None:
            message.cancelled_at = self._now()
        return {"errcode": 0, "errmsg": "ok"}

    def remind_groupmsg_send(self, body: Mapping[str, Any]) -> Json:
        """Nudge the members who have not sent the mass message yet: at most 3 times in 24 h (else 45009)."""
        message = self._message(body.get("msgid"))
        now = self._now()
        if len([t for t in message.reminders if now - t < 86400]) >= MAX_REMINDERS:
            raise ContactError(45009)
        message.reminders.append(now)
        return {"errcode": 0, "errmsg": "ok"}

    def send_welcome_msg(self, body: Mapping[str, Any]) -> Json:
        """The welcome message for a fresh add: the code must be at most 20 s old and unused (else 41051)."""
        code = body.get("welcome_code")
        welcome = self.welcomes.get(code) if isinstance(code, str) else None
        now = self._now()
        if welcome is None or welcome.used_at is not None or now - welcome.issued_at > WELCOME_SECONDS:
            raise ContactError(41051)
        text = body.get("text") if isinstance(body.get("text"), dict) else {}
        content = str((text or {}).get("content") or "")
        if not content.strip() and not body.get("attachments"):
            raise ContactError(44004)
        if not self.related(welcome.member, welcome.external_userid):
            raise ContactError(84061)
        welcome.used_at, welcome.text = now, content
        return {"errcode": 0, "errmsg": "ok"}

    # ---------------------------------------------------------------- drive (the people in the clients)

    def add_contact(self, member: str, external_userid: str = "", state: str = "",
                    welcome_code: bool = True) -> Json:
        """A candidate adds `member` from WeChat (scanning a contact-me code with `state`): the relation, and the
        `add_external_contact` callback (with a fresh `WelcomeCode` unless `welcome_code` is False)."""
        with self.world.lock:
            external_userid = external_userid or f"wm{secrets.token_hex(14)}"
            if not EXTERNAL_USERID.match(external_userid):
                raise ValueError("not an external_userid (wm…/wo…)")
            if member.lower() not in {u.lower() for u in self.world.settings.users}:
                raise KeyError(f"{member} is no member of the corp")
            now = self._now()
            self.relations[(member, external_userid)] = Relation(member, external_userid, state, now)
            event: Json = {"ToUserName": self._corp(), "FromUserName": "sys", "CreateTime": str(int(now)),
                           "MsgType": "event", "Event": "change_external_contact",
                           "ChangeType": "add_external_contact", "UserID": member, "ExternalUserID": external_userid}
            if state:
                event["State"] = state
            code = ""
            if welcome_code:
                code = secrets.token_urlsafe(24)
                self.welcomes[code] = Welcome(code, member, external_userid, now)
                event["WelcomeCode"] = code
        self.world.push_event(event)
        return {"external_userid": external_userid, "welcome_code": code}

    def delete_contact(self, member: str, external_userid: str, by: str = "customer") -> Json:
        """The candidate deletes `member` (`del_follow_user`), or the member deletes the candidate (`by`
        "member": `del_external_contact`); the callback is pushed either way."""
        if by not in ("customer", "member"):
            raise ValueError("by: customer or member")
        with self.world.lock:
            relation = self.relations.get((member, external_userid))
            if relation is None or relation.deleted_at is not None:
                raise KeyError(f"{member} has no contact {external_userid}")
            now = self._now()
            relation.deleted_at, relation.deleted_by = now, by
            kind = "del_follow_user" if by == "customer" else "del_external_contact"
            event: Json = {"ToUserName": self._corp(), "FromUserName": "sys", "CreateTime": str(int(now)),
                           "MsgType": "event", "Event": "change_external_contact", "ChangeType": kind,
                           "UserID": member, "ExternalUserID": external_userid}
        self.world.push_event(event)
        return {"change_type": kind}

    def confirm(self, msgid: str, member: str) -> int:
        """`member` taps send on the mass message's task: each of their customers gets it now (status 1), or
        status 2 (no longer a contact) or 3 (over the monthly cap). Returns how many got it (0 for a task
        already confirmed)."""
        with self.world.lock:
            message = self.messages.get(msgid)
            task = message.tasks.get(member) if message is not None else None
            if message is None or task is None:
                raise KeyError(f"no task of {member} for {msgid}")
            if task["status"] != 0 or message.cancelled_at is not None:
                return 0
            now = self._now()
            month, cap = self.cap(now)
            sent = 0
            for row in message.results:
                if row.userid != member or row.status != 0:
                    continue
                if not self.related(member, row.external_userid):
                    row.status = 2
                elif self.received.get((row.external_userid, month), 0) >= cap:
                    row.status = 3
                else:
                    row.status, row.send_time = 1, int(now)
                    self.received[(row.external_userid, month)] = self.received.get((row.external_userid, month),
                                                                                    0) + 1
                    sent += 1
            task.update(status=2, send_time=int(now))
            message.confirmed_at = now
            return sent

    def set_monthly_cap(self, cap: int | None = None) -> None:
        if cap is not None and cap < 0:
            raise ValueError("cap: 0 or more (None: the month's days)")
        with self.world.lock:
            self.monthly_cap = cap

    # ---------------------------------------------------------------- inspection

    def deliveries(self) -> list[tuple[str, str]]:
        """(external_userid, msgid) of every mass message a candidate received: what they would see in WeChat."""
        with self.world.lock:
            return [(r.external_userid, m.msgid) for m in self.messages.values() for r in m.results if r.status == 1]

    def summary(self) -> Json:
        with self.world.lock:
            return {"contacts": sum(1 for r in self.relations.values() if r.deleted_at is None),
                    "group_messages": len(self.messages), "contact_deliveries": len(self.deliveries()),
                    "welcomes_sent": sum(1 for w in self.welcomes.values() if w.used_at is not None)}

    def inspect(self) -> Json:
        with self.world.lock:
            return {"messages": [{**m.listing(), "sender": m.sender, "tasks": m.tasks, "fail_list": m.fail_list,
                                  "cancelled": m.cancelled_at is not None, "reminders": len(m.reminders),
                                  "results": [vars(r) for r in m.results]} for m in self.messages.values()],
                    "welcomes": [{"member": w.member, "external_userid": w.external_userid, "used": w.used_at
                                  is not None, "text": w.text} for w in self.welcomes.values()]}


ROUTES: dict[str, tuple[str, Callable[[ContactState, Mapping[str, Any]], Json]]] = {
    "/cgi-bin/externalcontact/add_msg_template": ("externalcontact.add_msg_template", ContactState.add_msg_template),
    "/cgi-bin/externalcontact/get_groupmsg_list_v2": ("externalcontact.get_groupmsg_list_v2",
                                                      ContactState.get_groupmsg_list_v2),
    "/cgi-bin/externalcontact/get_groupmsg_task": ("externalcontact.get_groupmsg_task",
                                                   ContactState.get_groupmsg_task),
    "/cgi-bin/externalcontact/get_groupmsg_send_result": ("externalcontact.get_groupmsg_send_result",
                                                          ContactState.get_groupmsg_send_result),
    "/cgi-bin/externalcontact/send_welcome_msg": ("externalcontact.send_welcome_msg",
                                                  ContactState.send_welcome_msg),
    "/cgi-bin/externalcontact/cancel_groupmsg_send": ("externalcontact.cancel_groupmsg_send",
                                                      ContactState.cancel_groupmsg_send),
    "/cgi-bin/externalcontact/remind_groupmsg_send": ("externalcontact.remind_groupmsg_send",
                                                      ContactState.remind_groupmsg_send),
}
DRIVE = ("add_contact", "delete_contact", "confirm", "set_monthly_cap")


def register(app: FastAPI, world: Any) -> None:
    """Add the customer-contact routes (`ROUTES`) to the WeCom emulator `app` of `world` (a `WeComWorld` whose
    `contact` is a `ContactState`), through the emulator's own route wrapper (token, metering, faults, forced
    answers, WeCom's envelope). A token of the customer-contact Secret or of an app (taken as one of its callable
    apps) is accepted. The drive actions (`DRIVE`) are bound onto the world, for its `/_emulator/drive/<name>`."""
    from lifeline_hub.connectors.wecom.emulator import vendor_route  # that module calls this one

    def bound(act: Callable[[ContactState, Mapping[str, Any]], Json]) -> Callable[[int, Json], Json]:
        return lambda owner, body: act(world.contact, body)

    for path, (api, act) in ROUTES.items():
        vendor_route(app, world, path, api, bound(act), contact=True)
    for name in DRIVE:
        setattr(world, name, getattr(world.contact, name))
