"""Action sinks: bot card messages (+ urgent buzz), Task v2 tasks, approval v4 instances and
calendar events, each passing the outbox idempotency key to Feishu's own dedupe field.

Keys and their documented windows (reference §3.1, §4.1, §5.1, §6.1): message `uuid` ≤ 50 chars,
one hour; task `client_token` 10–100 chars, 5 minutes after success; approval `uuid`, unique per
tenant forever (a repeat answers 60012: the instance is then looked up by uuid); calendar
`idempotency_key`, per app and calendar. A key that does not fit is replaced by a deterministic
`ll-<sha256>` of it. A task an earlier worker may have created (`action.maybe_sent`) is first looked
up in the tasklist, since its token may have outlived its 5-minute window.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lifeline_hub.connectors.feishu.answers import button
from lifeline_hub.connectors.feishu.client import PER_RECEIVER
from lifeline_hub.connectors.feishu.common import IdType, bounded_key, split_staff_id, staff_id
from lifeline_hub.connectors.feishu.streams import MARKER, marker
from lifeline_hub.core import ActionResult
from lifeline_hub.core.actions import CalendarEvent, CreateApproval, CreateTask, SendMessage
from lifeline_hub.core.http import Conflict, NotFound, RateLimited, TransientError
from lifeline_hub.core.markup import escape_markdown, with_links
from lifeline_hub.core.models import (
    Action,
    Audience,
    Channel,
    Notification,
    NotificationPurpose,
    from_epoch_millis,
    to_epoch_millis,
)

if TYPE_CHECKING:
    from lifeline_hub.connectors.feishu.plugin import FeishuConnector

MESSAGES = "/open-apis/im/v1/messages"
TASKS = "/open-apis/task/v2/tasks"
APPROVALS = "/open-apis/approval/v4/instances"
CARD_LIMIT = 30 * 1024


def perform(c: FeishuConnector, action: Action) -> ActionResult:
    handler = HANDLERS.get(action.kind)
    if handler is None:
        raise NotImplementedError(f"feishu has no action {action.kind!r}")
    return handler(c, action)


# -- messages ------------------------------------------------------------------------------------------


def card(message: SendMessage, callbacks: bool = False) -> dict[str, Any]:
    """An interactive card: plain-text title, the text escaped as `lark_md` and one button per link (first is
    primary): a link button, or with `callbacks` a card-action button for a link with a signed callback value
    (`answers.button`)."""
    elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md",
                                                              "content": escape_markdown(message.text)}}]
    if message.links:
        buttons = [button(link, i == 0, callbacks) for i, link in enumerate(message.links)]
        elements.append({"tag": "action", "actions": buttons})
    return {
        "config": {"wide_screen_mode": True},
        "header": {
            "title": {"tag": "plain_text", "content": message.title},
            "template": "red" if message.urgent else "blue",
        },
        "elements": elements,
    }


def send_message(c: FeishuConnector, action: Action) -> ActionResult:
    """One p2p card per recipient (`uuid` = the key, per recipient when there are several); urgent
    ones are buzzed by phone or SMS when the tenant allows the paid quota, else in the app."""
    message = SendMessage.model_validate(action.payload)
    content = json.dumps(card(message, c.config.card_callbacks), ensure_ascii=False)
    if len(content.encode()) > CARD_LIMIT:
        raise ValueError(f"card is {len(content.encode())} bytes; Feishu takes at most {CARD_LIMIT}")
    sent: list[dict[str, Any]] = []
    notifications: list[Notification] = []
    urgent: list[str] = []
    for recipient in message.recipients:
        id_type, user = split_staff_id(recipient, c.config.id_type)
        who = staff_id(id_type, user)
        key = action.idempotency_key if len(message.recipients) == 1 else f"{action.idempotency_key}/{who}"
        client = c.client
        assert client.limiter is not None
        client.limiter.acquire(f"im.message.create@{who}", client.app, PER_RECEIVER)
        data = client.call(
            "POST",
            MESSAGES,
            "im.message.create",
            params={"receive_id_type": id_type},
            json={"receive_id": user, "msg_type": "interactive", "content": content, "uuid": bounded_key(key, 1, 50)},
            idempotent=True,
        )
        message_id, sent_ms = str(data["message_id"]), int(data["create_time"])
        if message.urgent:  # a buzz rings a phone: never twice, so not after a try that may have buzzed
            urgent.append("not_repeated" if action.maybe_sent else buzz(c, message_id, id_type, user))
        sent.append({"message_id": message_id, "recipient": who, "sent_ms": sent_ms})
        notifications.append(
            Notification(
                source=c.instance.name,
                remote_id=message_id,
                interview_id=message.interview_id,
                occurred_at=from_epoch_millis(sent_ms),
                purpose=message.purpose,
                channel=Channel.feishu,
                recipient=who,
                audience=message.recipient_audience,
                status_raw="urgent_" + urgent[-1] if message.urgent else None,
                idempotency_key=action.idempotency_key,
            )
        )
    detail: dict[str, Any] = {"message_ids": [s["message_id"] for s in sent]}
    if urgent:
        detail["urgent"] = urgent
    return ActionResult(",".join(s["message_id"] for s in sent), detail, records=tuple(notifications),
                        handoff={"receipts": {"inbox": sent}})


def buzz(c: FeishuConnector, message_id: str, id_type: IdType, user: str) -> str:
    """Urgent the message for `user`: phone, else SMS (paid quota, when allowed), else in-app.
    A paid kind whose quota is used up (230024) falls back to the next; returns the kind used."""
    kinds = [k for k, ok in (("phone", c.config.urgent_phone_allowed), ("sms", c.config.urgent_sms_allowed)) if ok]
    for kind in [*kinds, "app"]:
        try:
            c.client.call(
                "PATCH",
                f"{MESSAGES}/{message_id}/urgent_{kind}",
                f"im.message.urgent_{kind}",
                params={"user_id_type": id_type},
                json={"user_id_list": [user]},
            )
        except RateLimited as exc:
            if kind == "app" or exc.code != 230024:
                raise
            continue
        return kind
    raise AssertionError("unreachable: urgent_app either succeeds or raises")


# -- tasks ---------------------------------------------------------------------------------------------


def create_task(c: FeishuConnector, action: Action) -> ActionResult:
    """A Task v2 task for the assignees (one ID type), in the configured tasklist if any; summary and
    description are plain text, the links listed under it and the first one the task's origin link."""
    task = CreateTask.model_validate(action.payload)
    ids = [split_staff_id(a, c.config.id_type) for a in task.assignees]
    id_type = ids[0][0]
    if any(t != id_type for t, _ in ids):
        raise ValueError("task assignees must share one ID type")
    token = bounded_key(action.idempotency_key, 10, 100)
    extra = json.dumps({"lifeline_key": action.idempotency_key, "interview_id": task.interview_id})
    found = find_task(c, action, task.title, extra) if action.maybe_sent else None
    if found is None:
        body: dict[str, Any] = {
            "summary": task.title,
            "description": with_links(task.description, task.links),
            "members": [{"id": user, "type": "user", "role": "assignee"} for _, user in ids],
            "client_token": token,
            "extra": extra,
            "origin": {"platform_i18n_name": {"zh_cn": "Lifeline", "en_us": "Lifeline"}},
        }
        if task.links:
            body["origin"]["href"] = {"url": task.links[0].url, "title": task.links[0].label}
        if task.due_at is not None:
            body["due"] = {"timestamp": str(to_epoch_millis(task.due_at)), "is_all_day": False}
        if c.config.tasklist_guid:
            body["tasklists"] = [{"tasklist_guid": c.config.tasklist_guid}]
        found = c.client.call(
            "POST", TASKS, "task.create", params={"user_id_type": id_type}, json=body, idempotent=True
        )["task"]
    guid = str(found["guid"])
    notification = Notification(
        source=c.instance.name,
        remote_id=f"task/{guid}",
        interview_id=task.interview_id,
        occurred_at=from_epoch_millis(int(found.get("created_at") or c.now_ms())),
        purpose=NotificationPurpose.hr_task,
        channel=Channel.feishu,
        recipient=staff_id(id_type, ids[0][1]),
        audience=Audience.staff,
        idempotency_key=action.idempotency_key,
    )
    return ActionResult(guid, {"url": found.get("url")}, records=(notification,))


def find_task(c: FeishuConnector, action: Action, title: str, extra: str) -> dict[str, Any] | None:
    """The task an earlier attempt created: same summary in the tasklist since the row was first handed over
    (else since it was due), confirmed by its `extra`."""
    if not c.config.tasklist_guid:
        return None
    path = f"/open-apis/task/v2/tasklists/{c.config.tasklist_guid}/tasks"
    params = {"page_size": 100, "created_from": str(to_epoch_millis(action.handed_at or action.due_at) - 60_000)}
    try:
        for page in c.client.pages(path, "task.tasklist.tasks", params):
            for item in page:
                if not (isinstance(item, dict) and isinstance(item.get("summary"), str)
                        and isinstance(item.get("guid"), str)):  # might be ours: no conclusion, so no second create
                    raise TransientError("task look-up met an unreadable task; not creating it again before a "
                                         "clean look-up", vendor="feishu")
                if item.get("summary") == title:
                    try:
                        full = c.client.call("GET", f"{TASKS}/{item['guid']}", "task.get")["task"]
                    except NotFound:  # deleted since it was listed: not ours to find
                        continue
                    if full.get("extra") == extra:
                        return dict(full)
    except NotFound:
        raise TransientError(f"tasklist {c.config.tasklist_guid} not found; not creating the task again before "
                             "a look-up", vendor="feishu") from None
    return None


# -- approvals -----------------------------------------------------------------------------------------


def approval_uuid(key: str) -> str:
    """Lifeline's keys (`ll-…`) go as they are; anything else becomes `ll-<sha256>` (the approvals
    stream keeps only `ll-` instances: those Lifeline started)."""
    if key.startswith("ll-") and len(key) <= 64:
        return key
    return "ll-" + hashlib.sha256(key.encode()).hexdigest()[:48]


def create_approval(c: FeishuConnector, action: Action) -> ActionResult:
    """An approval v4 instance; a repeated `uuid` (60012) means an earlier attempt created it."""
    approval = CreateApproval.model_validate(action.payload)
    uuid = approval_uuid(action.idempotency_key)
    body: dict[str, Any] = {
        "approval_code": approval.process_code,
        "form": json.dumps(
            [{"id": name, "type": "input", "value": value} for name, value in approval.fields.items()],
            ensure_ascii=False,
        ),
        "uuid": uuid,
        "title": approval.title,
    }
    id_type, originator = split_staff_id(approval.originator, c.config.id_type)
    body[_approval_id_field(id_type)] = originator
    if approval.approvers:
        if not c.config.approval_approver_node:
            raise ValueError("approvers given but approval_approver_node is not configured")
        lists: dict[str, list[str]] = {}
        for approver in approval.approvers:
            kind, user = split_staff_id(approver, c.config.id_type)
            lists.setdefault(f"node_approver_{_approval_id_field(kind).removesuffix('_id')}_id_list", []).append(user)
        for field, users in lists.items():
            body[field] = [{"key": c.config.approval_approver_node, "value": users}]
    try:
        code = c.client.call("POST", APPROVALS, "approval.instance.create", json=body, idempotent=True)["instance_code"]
    except Conflict:
        code = c.client.call("GET", f"{APPROVALS}/{uuid}", "approval.instance.get")["instance_code"]
    return ActionResult(str(code), {"uuid": uuid})


def _approval_id_field(id_type: IdType) -> str:
    if id_type == "union_id":
        raise ValueError("approval v4 takes open_id or user_id, not union_id")
    return id_type


# -- calendar ------------------------------------------------------------------------------------------


def _event_body(event: CalendarEvent, action: Action) -> dict[str, Any]:
    description = MARKER.sub("", event.description).rstrip()
    if action.interview_id:
        description = f"{description}\n\n{marker(action.interview_id, event.sequence)}".lstrip()
    return {
        "summary": event.summary,
        "description": description,
        "start_time": {"timestamp": str(int(event.start_at.timestamp())), "timezone": event.timezone},
        "end_time": {"timestamp": str(int(event.end_at.timestamp())), "timezone": event.timezone},
    }


def create_calendar_event(c: FeishuConnector, action: Action) -> ActionResult:
    """An event with a Feishu meeting on the configured calendar, then its attendees. The answer names no
    meeting link (a `vc` vchat has none): the detail keeps the event's `app_link`."""
    event = CalendarEvent.model_validate(action.payload)
    path = _events(c)
    body = {
        **_event_body(event, action),
        "need_notification": True,
        "vchat": {"vc_type": "vc"},
        "attendee_ability": "can_see_others",
    }
    params = {"idempotency_key": bounded_key(action.idempotency_key, 1, 64), "user_id_type": c.config.id_type}
    created = c.client.call("POST", path, "calendar.event.create", params=params, json=body, idempotent=True)
    event_id = str(created["event"]["event_id"])
    add_attendees(c, event_id, (event.organizer, *event.attendees))
    return ActionResult(event_id, {"app_link": created["event"].get("app_link")})


def update_calendar_event(c: FeishuConnector, action: Action) -> ActionResult:
    """A reschedule PATCHes the event created before (`remote_event_id`): same event, same meeting."""
    event = CalendarEvent.model_validate(action.payload)
    if event.remote_event_id is None:
        raise ValueError("update_calendar_event needs remote_event_id (the event created before)")
    if event.status == "cancelled":
        raise ValueError("cancelling an event (DELETE) is not supported by this connector yet")
    path = f"{_events(c)}/{event.remote_event_id}"
    patched = c.client.call("PATCH", path, "calendar.event.patch", json=_event_body(event, action), idempotent=True)
    add_attendees(c, event.remote_event_id, (event.organizer, *event.attendees))
    return ActionResult(str(patched["event"]["event_id"]))


def add_attendees(c: FeishuConnector, event_id: str, people: tuple[str, ...]) -> None:
    """Add the users not yet on the event (adding is not idempotent, so look first)."""
    path = f"{_events(c)}/{event_id}/attendees"
    params = {"user_id_type": c.config.id_type, "page_size": 100}
    present = {
        str(a.get("user_id")) for page in c.client.pages(path, "calendar.event.attendee.list", params) for a in page
    }
    wanted: dict[str, None] = {}
    for person in people:
        id_type, user = split_staff_id(person, c.config.id_type)
        if id_type != c.config.id_type:
            raise ValueError(f"calendar attendees must use the instance's id_type {c.config.id_type}")
        if user not in present:
            wanted[user] = None
    if wanted:
        attendees = [{"type": "user", "user_id": user, "is_optional": False} for user in wanted]
        c.client.call(
            "POST",
            path,
            "calendar.event.attendee.create",
            params={"user_id_type": c.config.id_type},
            json={"attendees": attendees, "need_notification": True},
        )


def _events(c: FeishuConnector) -> str:
    if not c.config.calendar_id:
        raise ValueError(f"{c.instance.name}: set calendar_id for calendar actions")
    return f"/open-apis/calendar/v4/calendars/{c.config.calendar_id}/events"


HANDLERS: dict[str, Callable[[FeishuConnector, Action], ActionResult]] = {
    "send_message": send_message,
    "create_task": create_task,
    "create_approval": create_approval,
    "create_calendar_event": create_calendar_event,
    "update_calendar_event": update_calendar_event,
}
