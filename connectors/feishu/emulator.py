"""Feishu Open Platform emulator: the documented `/open-apis/...` endpoints on a FastAPI app.

`create_app()` serves the APIs a Lifeline connector uses with the real envelope, error codes and
headers; every call passes the gateway (faults, tenant token, scopes, per-API rate tiers) before
its handler. State lives in `FeishuWorld` (`app.state.world`); `/_emulator/...` lets a separate
process (`lifeline emulate feishu --port N`) be inspected and driven over HTTP. The host
(open.feishu.cn or open.larksuite.com) is the client's choice: the paths are the same.
"""

from __future__ import annotations

import base64
import copy
import datetime
import itertools
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from lifeline_hub.connectors.feishu.emulator_longconn import longconn_router
from lifeline_hub.connectors.feishu.emulator_state import (
    ID_TYPES,
    UNAUTHORISED_MSG,
    Approval,
    Attendee,
    CalendarEvent,
    EmulatorSettings,
    FeishuError,
    FeishuWorld,
    Meeting,
    Message,
    Task,
    UrgentCall,
    mask,
    rate_limit_error,
)
from lifeline_hub.core.emulator import add_vendor_middleware, control_router, json_object

__all__ = ["EmulatorSettings", "FeishuWorld", "create_app"]

RECEIVE_ID_TYPES = (*ID_TYPES, "email", "chat_id")
MSG_TYPES = frozenset(
    ("text", "post", "image", "file", "audio", "media", "sticker", "interactive", "share_chat", "share_user",
     "system")
)  # fmt: skip
TASK_ECHOED = ("description", "due", "start", "origin", "extra", "mode", "is_milestone", "repeat_rule")
EVENT_FIELDS = (
    "summary", "description", "need_notification", "start_time", "end_time", "vchat", "visibility",
    "attendee_ability", "free_busy_status", "location", "color", "reminders", "recurrence", "schemas",
    "attachments", "event_check_in",
)  # fmt: skip
DRIVE_ACTIONS = frozenset(
    ("add_user", "add_chat", "add_user_message", "mark_read", "complete_task", "add_approval_definition",
     "decide_approval", "add_calendar", "add_calendar_event", "update_calendar_event", "add_attendee", "set_rsvp",
     "add_hire_interview", "add_talent", "update_hire_interview", "record_feedback", "add_attendance_flow",
     "add_attendance_result", "add_bot_message", "hold_meeting", "join_meeting", "end_meeting", "advance",
     "expire_tokens", "grant_scopes", "deliver_pending_events", "verify_callback_url")
)  # fmt: skip
TEN_HOURS_MS = 10 * 3600 * 1000
VCHAT_FIELDS = {
    "vc": ("vc_type", "meeting_settings"),
    "third_party": ("vc_type", "icon_type", "description", "meeting_url"),
}
"""What an event's `vchat` keeps per `vc_type` (calendar-event/create, `vchat.vc_type`): a Feishu meeting
(`vc`) takes nothing but its pre-meeting settings and shows no `meeting_url`; only a third-party link has one."""


@dataclass(frozen=True)
class Call:
    """One admitted request: the calling app and its parameters."""

    app_id: str
    query: Mapping[str, str]
    body: dict[str, Any]
    path: Mapping[str, str]


@dataclass(frozen=True)
class Reply:
    """A handler's answer: `data`, which list in it holds records (for fault injection) and which
    fields of those records are required. `top_level` puts the fields next to code/msg (auth);
    `single` says `data` itself is one record (a get), which the malformed fault may corrupt."""

    data: dict[str, Any]
    listing: str | None = None
    required: tuple[str, ...] = ()
    top_level: bool = False
    single: bool = False


Handler = Callable[[FeishuWorld, Call], Reply]


@dataclass(frozen=True)
class Api:
    name: str
    method: str
    path: str
    handler: Handler
    scopes: tuple[str, ...] = ()
    server_error: tuple[int, int] | None = None
    claim_field: str | None = None
    authenticated: bool = True


# -- helpers ----------------------------------------------------------------------------------------


def field_error(name: str, description: str) -> FeishuError:
    """The gateway's request-validation failure (99992402) with its `field_violations`."""
    detail = {"field_violations": [{"field": name, "description": description}]}
    return FeishuError(99992402, "field validation failed", detail=detail)


def id_type_of(call: Call, required: bool = False) -> str:
    value = call.query.get("user_id_type")
    if value is None:
        if required:
            raise field_error("user_id_type", "user_id_type is required")
        return "open_id"
    if value not in ID_TYPES:
        raise field_error("user_id_type", "must be one of open_id, union_id, user_id")
    return value


def int_param(call: Call, name: str, default: int | None = None) -> int | None:
    raw = call.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise field_error(name, f"{name} must be an integer") from None


def page_size(call: Call, default: int, low: int, high: int, code: int) -> int:
    size = int_param(call, "page_size", default)
    assert size is not None
    if not low <= size <= high:
        raise FeishuError(code, f"page_size must be within [{low}, {high}]")
    return size


def encode_token(state: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_token(raw: str, scope: str, code: int) -> dict[str, Any]:
    """A page token issued by this emulator for the same listing, or the API's error `code`."""
    try:
        state = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        state = None
    if not isinstance(state, dict) or state.get("scope") != scope:
        raise FeishuError(code, "invalid page_token")
    return state


def offset_page(
    call: Call, items: list[Any], scope: str, size: int, code: int, empty_token: str | None = None
) -> dict[str, Any]:
    """Offset paging: `items`, `has_more` and `page_token` (absent, or `empty_token`, at the end)."""
    raw = call.query.get("page_token")
    offset = decode_token(raw, scope, code).get("offset") if raw else 0
    if not isinstance(offset, int) or offset < 0:
        raise FeishuError(code, "invalid page_token")
    page = items[offset : offset + size]
    has_more = offset + size < len(items)
    data: dict[str, Any] = {"items": page, "has_more": has_more}
    if has_more:
        data["page_token"] = encode_token({"scope": scope, "offset": offset + size})
    elif empty_token is not None:
        data["page_token"] = empty_token
    return data


def require_str(body: Mapping[str, Any], name: str, code: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise FeishuError(code, f"{name} is required")
    return value


def user_ref(world: FeishuWorld, open_id: str, id_type: str) -> str:
    user = world.users.get(open_id)
    return user.id_as(id_type) if user else open_id


def resolve_users(world: FeishuWorld, ids: list[Any], id_type: str, code: int) -> list[str]:
    open_ids = []
    for value in ids:
        user = world.find_user(str(value), id_type)
        if user is None:
            raise FeishuError(code, f"unknown user id {value}")
        open_ids.append(user.open_id)
    return open_ids


# -- auth ---------------------------------------------------------------------------------------------


def tenant_access_token(world: FeishuWorld, call: Call) -> Reply:
    app_id, app_secret = call.body.get("app_id"), call.body.get("app_secret")
    if not isinstance(app_id, str) or not isinstance(app_secret, str):
        raise FeishuError(10003, "invalid param: app_id and app_secret are required")
    world.count_call(app_id, "auth.tenant_access_token")
    token, expire = world.issue_token(app_id, app_secret)
    return Reply({"tenant_access_token": token, "expire": expire}, top_level=True)


# -- IM -----------------------------------------------------------------------------------------------


def render_message(world: FeishuWorld, message: Message) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "msg_type": message.msg_type,
        "create_time": str(message.created_ms),
        "update_time": str(message.created_ms),
        "deleted": False,
        "updated": False,
        "chat_id": message.chat_id,
        "sender": {
            "id": message.sender_id,
            "id_type": "app_id" if message.sender_type == "app" else "open_id",
            "sender_type": message.sender_type,
            "tenant_key": world.settings.tenant_key,
        },
        "body": {"content": message.content},
    }


def send_message(world: FeishuWorld, call: Call) -> Reply:
    id_type = call.query.get("receive_id_type")
    if id_type not in RECEIVE_ID_TYPES:
        raise field_error("receive_id_type", f"must be one of {', '.join(RECEIVE_ID_TYPES)}")
    receive_id = call.body.get("receive_id")
    if not isinstance(receive_id, str) or not receive_id:
        raise field_error("receive_id", "receive_id is required")
    msg_type, content, uuid = call.body.get("msg_type"), call.body.get("content"), call.body.get("uuid")
    if msg_type not in MSG_TYPES:
        raise field_error("msg_type", "unknown msg_type")
    if not isinstance(content, str):
        raise field_error("content", "content must be a JSON-encoded string")
    if uuid is not None and (not isinstance(uuid, str) or len(uuid) > 50):
        raise field_error("uuid", "uuid is a string of at most 50 characters")
    try:
        json.loads(content)
    except ValueError:
        raise FeishuError(230001, "Your request contains an invalid request parameter: content") from None
    limit = 150 * 1024 if msg_type == "text" else 30 * 1024
    if len(content.encode()) > limit:
        raise FeishuError(230001, "Your request contains an invalid request parameter: content too long")
    if id_type == "chat_id":
        chat = world.chats.get(receive_id)
        if chat is None:
            raise FeishuError(230002, "The bot can not be outside the group.")
    else:
        user = world.find_user(receive_id, id_type)
        if user is None:
            if id_type == "open_id":
                raise FeishuError(99992351, "open_id does not exist")
            raise FeishuError(230001, "Your request contains an invalid request parameter: receive_id")
        chat = world.chats[user.chat_id]
    world.check_receiver_rate(call.app_id, chat.chat_id)
    if uuid:
        earlier = world.recall("message", call.app_id, uuid, world.settings.message_uuid_window_seconds)
        if earlier is not None:
            return Reply(render_message(world, world.messages[earlier]))
    message = Message(
        message_id=world.new_id("om_"),
        chat_id=chat.chat_id,
        msg_type=msg_type,
        content=content,
        created_ms=world.now_ms(),
        sender_id=call.app_id,
        sender_type="app",
        recipients=list(chat.members),
        uuid=uuid,
    )
    world.messages[message.message_id] = message
    if uuid:
        world.remember("message", call.app_id, uuid, message.message_id)
    return Reply(render_message(world, message))


def own_message(world: FeishuWorld, call: Call) -> Message:
    message = world.messages.get(call.path["message_id"])
    if message is None:
        raise FeishuError(230001, "Your request contains an invalid request parameter: message_id")
    if message.sender_type != "app" or message.sender_id != call.app_id:
        raise FeishuError(230012, "Bot is NOT the sender of the message.")
    return message


def read_users(world: FeishuWorld, call: Call) -> Reply:
    id_type = id_type_of(call, required=True)
    message = own_message(world, call)
    if world.now() * 1000 - message.created_ms > world.settings.read_users_max_age_seconds * 1000:
        raise FeishuError(230033, "Get the reading status must be done within 7 days after the message is sent.")
    size = page_size(call, 20, 1, 100, 230001)
    readers = sorted(message.reads.items(), key=lambda item: (item[1], item[0]))
    items = [
        {
            "user_id_type": id_type,
            "user_id": user_ref(world, open_id, id_type),
            "timestamp": str(read_ms),
            "tenant_key": world.settings.tenant_key,
        }
        for open_id, read_ms in readers
    ]
    data = offset_page(call, items, message.message_id, size, 230001)
    return Reply(data, "items", ("user_id", "timestamp"))


def urgent(kind: str) -> Handler:
    def handler(world: FeishuWorld, call: Call) -> Reply:
        id_type = id_type_of(call, required=True)
        ids = call.body.get("user_id_list")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 200:
            raise field_error("user_id_list", "user_id_list holds 1 to 200 ids")
        message = own_message(world, call)
        valid, invalid = [], []
        for value in ids:
            user = world.find_user(str(value), id_type)
            if user is not None and user.open_id in message.recipients:
                valid.append(user.open_id)
            else:
                invalid.append(value)
        if not valid:
            raise FeishuError(230001, "Your request contains an invalid request parameter: no valid user id")
        if any(world.unread_urgent(u) >= world.settings.urgent_unread_limit for u in valid):
            raise FeishuError(230023, "The user has too many unread urgent messages.")
        if kind != "app" and world.urgent_quota_left is not None:
            if world.urgent_quota_left < len(valid):
                raise FeishuError(230024, "Reach the upper limit of urgent message.")
            world.urgent_quota_left -= len(valid)
        message.urgent.append(UrgentCall(kind, valid, world.now_ms()))
        return Reply({"invalid_user_id_list": invalid})

    return handler


# -- Task v2 ------------------------------------------------------------------------------------------


def render_task(world: FeishuWorld, task: Task, id_type: str) -> dict[str, Any]:
    members = [
        {"id": user_ref(world, open_id, id_type), "type": "user", "role": role, "name": world.users[open_id].name}
        for open_id, role in task.members
    ]
    return {
        "guid": task.guid,
        "task_id": task.task_id,
        "summary": task.summary,
        "description": "",
        **task.fields,
        "creator": {"id": task.app_id, "type": "app", "role": "creator"},
        "members": members,
        "completed_at": str(task.completed_ms),
        "status": "done" if task.completed_ms else "todo",
        "created_at": str(task.created_ms),
        "updated_at": str(task.updated_ms),
        "source": 6,
        "mode": task.fields.get("mode", 2),
        "url": f"https://applink.feishu.cn/client/todo/detail?guid={task.guid}&suite_entity_num={task.task_id}",
        "attachments": [],
        "parent_task_guid": "",
        "subtask_count": 0,
        "custom_fields": [],
        "dependencies": [],
        "positive_reminders": [],
        "assignee_related": [
            {"id": m["id"], "completed_at": str(task.completed_ms)} for m in members if m["role"] == "assignee"
        ],
    }


def create_task(world: FeishuWorld, call: Call) -> Reply:
    id_type = id_type_of(call)
    body = call.body
    summary = require_str(body, "summary", 1470400)
    token = body.get("client_token")
    if token is not None and (not isinstance(token, str) or not 10 <= len(token) <= 100):
        raise FeishuError(1470400, "client_token must be 10 to 100 characters")
    if token:
        earlier = world.recall("task", call.app_id, token, world.settings.task_client_token_window_seconds)
        if earlier is not None:
            return Reply({"task": render_task(world, world.tasks[earlier], id_type)})
    members: list[tuple[str, str]] = []
    for member in body.get("members") or []:
        role = member.get("role") if isinstance(member, dict) else None
        if role not in ("assignee", "follower") or member.get("type", "user") != "user":
            raise FeishuError(1470400, "a member needs type user and role assignee or follower")
        (open_id,) = resolve_users(world, [member.get("id")], id_type, 1470400)
        if (open_id, role) not in members:
            members.append((open_id, role))
    if len(members) > 50:
        raise FeishuError(1470400, "at most 50 members")
    reminders = body.get("reminders") or []
    if len(reminders) > 1:
        raise FeishuError(1470613, "more than one reminder")
    if reminders and not body.get("due"):
        raise FeishuError(1470400, "a reminder needs a due time")
    completed_at = str(body.get("completed_at", "0"))
    if not completed_at.isdigit():
        raise FeishuError(1470400, "completed_at must be a millisecond timestamp string")
    fields = {key: body[key] for key in TASK_ECHOED if key in body}
    fields["tasklists"] = [t for t in body.get("tasklists") or [] if isinstance(t, dict)]
    fields["reminders"] = [
        {"id": world.new_number_id(), "relative_fire_minute": r.get("relative_fire_minute", 0)} for r in reminders
    ]
    now_ms = world.now_ms()
    task = Task(
        guid=f"{world.new_id('', 8)}-{world.new_id('', 4)}-{world.new_id('', 4)}-{world.new_id('', 12)}",
        task_id=f"t{world.new_number_id(6)}",
        app_id=call.app_id,
        summary=summary,
        fields=fields,
        members=members,
        created_ms=now_ms,
        updated_ms=now_ms,
        completed_ms=int(completed_at),
        client_token=token,
    )
    world.tasks[task.guid] = task
    if token:
        world.remember("task", call.app_id, token, task.guid)
    return Reply({"task": render_task(world, task, id_type)})


def visible_task(world: FeishuWorld, call: Call, guid: str) -> Task:
    task = world.tasks.get(guid)
    if task is None:
        raise FeishuError(1470404, "task not found or deleted", status=404)
    if task.app_id != call.app_id:
        raise FeishuError(1470403, "no permission to the task", status=403)
    return task


def get_task(world: FeishuWorld, call: Call) -> Reply:
    task = visible_task(world, call, call.path["task_guid"])
    return Reply({"task": render_task(world, task, id_type_of(call))})


def tasklist_tasks(world: FeishuWorld, call: Call) -> Reply:
    id_type, guid = id_type_of(call), call.path["tasklist_guid"]
    size = page_size(call, 50, 1, 100, 1470400)
    in_list = [
        t
        for t in world.tasks.values()
        if t.app_id == call.app_id and any(tl.get("tasklist_guid") == guid for tl in t.fields["tasklists"])
    ]
    if not in_list:
        raise FeishuError(1470404, "tasklist not found", status=404)
    completed = call.query.get("completed")
    low, high = int_param(call, "created_from", 0), int_param(call, "created_to")
    chosen = [
        t
        for t in sorted(in_list, key=lambda t: t.created_ms)
        if (completed is None or (completed == "true") == bool(t.completed_ms))
        and t.created_ms >= (low or 0)
        and (high is None or t.created_ms <= high)
    ]
    items = []
    for task in chosen:
        full = render_task(world, task, id_type)
        summary_keys = ("guid", "summary", "completed_at", "start", "due", "members", "subtask_count")
        items.append({key: full[key] for key in summary_keys if key in full})
    scope = f"{guid}|{completed}|{low}|{high}"
    return Reply(offset_page(call, items, scope, size, 1470400, empty_token=""), "items", ("guid", "completed_at"))


# -- Approval v4 --------------------------------------------------------------------------------------


def create_approval(world: FeishuWorld, call: Call) -> Reply:
    body = call.body
    code = require_str(body, "approval_code", 1390001)
    if code not in world.approval_definitions:
        raise FeishuError(1390002, "approval code not found")
    form = require_str(body, "form", 1390001)
    try:
        if not isinstance(json.loads(form), list):
            raise ValueError(form)
    except ValueError:
        raise FeishuError(1390001, "param is invalid: form must be a JSON array string") from None
    if body.get("user_id"):
        initiator = world.find_user(str(body["user_id"]), "user_id")
    else:
        initiator = world.find_user(str(body.get("open_id", "")), "open_id")
    if initiator is None:
        raise FeishuError(1390001, "param is invalid: user_id or open_id of the initiator")
    uuid = body.get("uuid")
    if uuid and world.recall("approval", call.app_id, str(uuid), None) is not None:
        raise FeishuError(60012, "uuid conflict: an instance with this uuid already exists")
    now_ms = world.now_ms()
    approvers = []
    for key, id_type in (("node_approver_user_id_list", "user_id"), ("node_approver_open_id_list", "open_id")):
        for node in body.get(key) or []:
            if not isinstance(node, dict):
                raise FeishuError(1390001, f"param is invalid: {key}")
            for open_id in resolve_users(world, list(node.get("value") or []), id_type, 1390001):
                node_id = str(node.get("key", ""))
                approvers.append(
                    {
                        "id": world.new_number_id(),
                        "open_id": open_id,
                        "status": "PENDING",
                        "node_id": node_id,
                        "node_name": node_id,
                        "custom_node_id": node_id,
                        "type": "AND",
                        "start_time": now_ms,
                        "end_time": 0,
                    }
                )
    parts = [world.new_id("", n).upper() for n in (8, 4, 4, 4, 12)]
    approval = Approval(
        instance_code="-".join(parts),
        approval_code=code,
        app_id=call.app_id,
        initiator=initiator.open_id,
        form=form,
        start_ms=now_ms,
        approvers=approvers,
        uuid=str(uuid) if uuid else None,
        serial_number=str(len(world.approvals) + 202400001),
        timeline=[{"type": "START", "create_time": now_ms, "open_id": initiator.open_id}],
    )
    world.approvals[approval.instance_code] = approval
    if uuid:
        world.remember("approval", call.app_id, str(uuid), approval.instance_code)
    return Reply({"instance_code": approval.instance_code})


def get_approval(world: FeishuWorld, call: Call) -> Reply:
    key = call.path["instance_id"]
    code = key if key in world.approvals else world.recall("approval", call.app_id, key, None)
    if code is None:
        raise FeishuError(1390003, "instance code not found")
    approval = world.approvals[code]

    def who(open_id: str) -> dict[str, str]:
        return {"user_id": user_ref(world, open_id, "user_id"), "open_id": open_id}

    return Reply(
        {
            "approval_code": approval.approval_code,
            "approval_name": world.approval_definitions[approval.approval_code],
            "instance_code": approval.instance_code,
            "start_time": str(approval.start_ms),
            "end_time": str(approval.end_ms),
            **who(approval.initiator),
            "serial_number": approval.serial_number,
            "department_id": "",
            "status": approval.status,
            "uuid": approval.uuid or "",
            "form": approval.form,
            "reverted": False,
            "task_list": [
                {
                    **task,
                    **who(task["open_id"]),
                    "start_time": str(task["start_time"]),
                    "end_time": str(task["end_time"]),
                }
                for task in approval.approvers
            ],
            "comment_list": [
                {**c, **who(c["open_id"]), "create_time": str(c["create_time"]), "files": []} for c in approval.comments
            ],
            "timeline": [
                {**t, **who(t["open_id"]), "create_time": str(t["create_time"]), "ext": "{}"} for t in approval.timeline
            ],
        }
    )


def list_approvals(world: FeishuWorld, call: Call) -> Reply:
    code = call.query.get("approval_code")
    start, end = int_param(call, "start_time"), int_param(call, "end_time")
    if not code or start is None or end is None:
        raise FeishuError(1390001, "param is invalid: approval_code, start_time and end_time are required")
    if not 0 <= end - start <= TEN_HOURS_MS:
        raise FeishuError(1390001, "param is invalid: the time window is at most 10 hours")
    size = page_size(call, 100, 1, 100, 1390001)
    codes = [
        a.instance_code
        for a in sorted(world.approvals.values(), key=lambda a: (a.start_ms, a.instance_code))
        if a.approval_code == code and start <= a.start_ms <= end
    ]
    page = offset_page(call, codes, f"{code}|{start}|{end}", size, 1390001, empty_token="")
    data = {"instance_code_list": page["items"], "has_more": page["has_more"], "page_token": page["page_token"]}
    return Reply(data, "instance_code_list")


def subscribe_approval(world: FeishuWorld, call: Call) -> Reply:
    code = call.path["approval_code"]
    if code not in world.approval_definitions:
        raise FeishuError(1390002, "approval code not found")
    if code in world.approval_subscriptions:
        raise FeishuError(1390007, "subscription existed")
    world.approval_subscriptions.add(code)
    return Reply({})


# -- Calendar v4 --------------------------------------------------------------------------------------


def calendar_of(world: FeishuWorld, call: Call) -> str:
    calendar_id = call.path["calendar_id"]
    if calendar_id not in world.calendars:
        raise FeishuError(191000, "calendar not found", status=404)
    return calendar_id


def event_of(world: FeishuWorld, call: Call) -> CalendarEvent:
    try:
        return world.calendar_event(calendar_of(world, call), call.path["event_id"])
    except KeyError:
        raise FeishuError(190002, "invalid parameters in request: event not found") from None


def render_event(world: FeishuWorld, event: CalendarEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "organizer_calendar_id": event.calendar_id,
        "summary": "",
        "description": "",
        "visibility": "default",
        "attendee_ability": "none",
        "free_busy_status": "busy",
        "color": 0,
        "reminders": [],
        "recurrence": "",
        "schemas": [],
        "attachments": [],
        **{k: v for k, v in event.fields.items() if k != "need_notification"},
        "status": event.status,
        "is_exception": False,
        "recurring_event_id": "",
        "create_time": str(event.created_s),
        "event_organizer": {"user_id": "", "display_name": world.calendars[event.calendar_id]},
        "app_link": f"https://applink.feishu.cn/client/calendar/event/detail?calendarId={event.calendar_id}"
        f"&key={event.event_id}",
    }


def event_fields(body: Mapping[str, Any], partial: bool) -> dict[str, Any]:
    fields = {key: body[key] for key in EVENT_FIELDS if key in body}
    for key in ("start_time", "end_time"):
        value = fields.get(key)
        if value is None and partial:
            continue
        if not isinstance(value, dict) or not (str(value.get("timestamp", "")).isdigit() or value.get("date")):
            raise FeishuError(190002, f"invalid parameters in request: {key}")
    vchat = fields.get("vchat")
    if isinstance(vchat, dict):
        kept = VCHAT_FIELDS.get(str(vchat.get("vc_type")), ("vc_type",))
        fields["vchat"] = {k: v for k, v in vchat.items() if k in kept}
    return fields


def create_event(world: FeishuWorld, call: Call) -> Reply:
    calendar_id = calendar_of(world, call)
    key = call.query.get("idempotency_key")
    if key:
        earlier = world.recall("calendar", call.app_id, f"{calendar_id}|{key}", None)
        if earlier is not None:
            return Reply({"event": render_event(world, world.calendar_events[earlier])})
    event = world.store_calendar_event(calendar_id, event_fields(call.body, partial=False))
    if key:
        world.remember("calendar", call.app_id, f"{calendar_id}|{key}", event.event_id)
    return Reply({"event": render_event(world, event)})


def patch_event(world: FeishuWorld, call: Call) -> Reply:
    event = event_of(world, call)
    event.fields.update(event_fields(call.body, partial=True))
    world.touch_event(event, "update")
    return Reply({"event": render_event(world, event)})


EVENT_REQUIRED = ("event_id", "start_time", "end_time", "status")


def list_events(world: FeishuWorld, call: Call) -> Reply:
    calendar_id = calendar_of(world, call)
    q = call.query
    size = page_size(call, 500, 50, 1000, 190002)
    on_calendar = [e for e in world.calendar_events.values() if e.calendar_id == calendar_id]
    if "start_time" in q or "end_time" in q:
        if any(k in q for k in ("page_token", "sync_token", "anchor_time")):
            raise FeishuError(190002, "invalid parameters in request: a time window takes no page/sync token")
        start, end = int_param(call, "start_time"), int_param(call, "end_time")
        if start is None or end is None:
            raise FeishuError(190002, "invalid parameters in request: start_time and end_time go together")
        hits = sorted(
            (e for e in on_calendar if e.status != "cancelled" and overlaps(e, start, end)),
            key=lambda e: (int(e.fields["start_time"].get("timestamp") or 0), e.event_id),
        )
        items = [render_event(world, e) for e in hits[:size]]
        return Reply({"has_more": False, "items": items}, "items", EVENT_REQUIRED)
    if "sync_token" in q and ("page_token" in q or "anchor_time" in q):
        raise FeishuError(190009, "sync token cannot be used with other request restrictions")
    if "page_token" in q:
        state = calendar_token(q["page_token"], calendar_id)
    elif "sync_token" in q:
        since = calendar_token(q["sync_token"], calendar_id)["since"]
        state = {"since": since, "anchor": None, "seq": world.change_seq, "offset": 0}
    else:
        state = {"since": None, "anchor": int_param(call, "anchor_time"), "seq": world.change_seq, "offset": 0}
    chosen = changed_events(on_calendar, state)
    offset = state["offset"]
    page = [render_event(world, e) for e in chosen[offset : offset + size]]
    data: dict[str, Any] = {"items": page, "has_more": offset + size < len(chosen)}
    if data["has_more"]:
        data["page_token"] = encode_token({**state, "scope": calendar_id, "offset": offset + size})
    else:
        data["sync_token"] = encode_token({"scope": calendar_id, "since": state["seq"]})
    return Reply(data, "items", EVENT_REQUIRED)


def calendar_token(raw: str, calendar_id: str) -> dict[str, Any]:
    state = decode_token(raw, calendar_id, 190008)
    numbers, optional = (("seq", "offset"), ("since", "anchor")) if "offset" in state else ((), ("since",))
    valid = all(isinstance(state.get(k), int) for k in numbers) and all(
        state.get(k) is None or isinstance(state.get(k), int) for k in optional
    )
    if not valid or ("offset" not in state and state.get("since") is None):
        raise FeishuError(190008, "page_token or sync_token expired")
    return state


def changed_events(on_calendar: list[CalendarEvent], state: Mapping[str, Any]) -> list[CalendarEvent]:
    """The events one paged run lists, stable while it pages: a full listing holds what existed at
    its start (`seq`), by creation; an incremental one what changed in (`since`, `seq`]."""
    since, anchor, seq = state["since"], state["anchor"], state["seq"]
    if since is not None:
        return sorted((e for e in on_calendar if since < e.seq <= seq), key=lambda e: (e.seq, e.event_id))
    chosen = [
        e
        for e in on_calendar
        if e.first_seq <= seq
        and not (e.status == "cancelled" and e.seq <= seq)
        and (anchor is None or int(e.fields["end_time"].get("timestamp") or 0) >= anchor)
    ]
    return sorted(chosen, key=lambda e: (e.first_seq, e.event_id))


def overlaps(event: CalendarEvent, start: int, end: int) -> bool:
    begin = int(event.fields["start_time"].get("timestamp") or 0)
    finish = int(event.fields["end_time"].get("timestamp") or 0)
    return begin < end and finish > start


def render_attendee(world: FeishuWorld, attendee: Attendee, id_type: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": attendee.type,
        "attendee_id": attendee.attendee_id,
        "rsvp_status": attendee.rsvp_status,
        "is_optional": attendee.is_optional,
        "is_organizer": False,
        "is_external": attendee.type == "third_party",
        "display_name": attendee.display_name,
        "chat_members": [],
        "operate_id": "",
    }
    if attendee.open_id:
        item["user_id"] = user_ref(world, attendee.open_id, id_type)
    if attendee.email:
        item["third_party_email"] = attendee.email
    return item


def create_attendees(world: FeishuWorld, call: Call) -> Reply:
    event, id_type = event_of(world, call), id_type_of(call)
    specs = call.body.get("attendees")
    if not isinstance(specs, list) or not specs:
        raise FeishuError(190002, "invalid parameters in request: attendees")
    added = []
    for spec in specs:
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind == "user":
            (open_id,) = resolve_users(world, [spec.get("user_id")], id_type, 190002)
            attendee_id = world.add_attendee(event.calendar_id, event.event_id, user=open_id)
        elif kind == "third_party" and spec.get("third_party_email"):
            attendee_id = world.add_attendee(event.calendar_id, event.event_id, email=spec["third_party_email"])
        else:
            raise FeishuError(190002, "invalid parameters in request: attendee type")
        attendee = next(a for a in event.attendees if a.attendee_id == attendee_id)
        attendee.is_optional = bool(spec.get("is_optional", False))
        added.append(render_attendee(world, attendee, id_type))
    return Reply({"attendees": added})


def list_attendees(world: FeishuWorld, call: Call) -> Reply:
    event, id_type = event_of(world, call), id_type_of(call)
    size = max(10, page_size(call, 20, 1, 100, 190002))
    items = [render_attendee(world, a, id_type) for a in event.attendees]
    return Reply(offset_page(call, items, event.event_id, size, 190002), "items", ("attendee_id", "rsvp_status"))


# -- Hire v1 ------------------------------------------------------------------------------------------


def render_interview(world: FeishuWorld, record: dict[str, Any], id_type: str) -> dict[str, Any]:
    item = copy.deepcopy(record)
    for entry in item["interview_record_list"]:
        entry["user_id"] = user_ref(world, entry["user_id"], id_type)
        entry["interviewer"]["id"] = user_ref(world, entry["interviewer"]["id"], id_type)
    return item


INTERVIEW_REQUIRED = ("id", "begin_time", "end_time", "application_id")


def list_interviews(world: FeishuWorld, call: Call) -> Reply:
    id_type, q = id_type_of(call), call.query
    if not any(q.get(k) for k in ("application_id", "interview_id", "start_time", "end_time")):
        raise FeishuError(1002002, "参数错误: application_id, interview_id, start_time or end_time is required")
    size = page_size(call, 10, 1, 100, 1002002)
    start, end = int_param(call, "start_time"), int_param(call, "end_time")
    chosen = sorted(
        (
            i.record
            for i in world.interviews.values()
            if q.get("application_id") in (None, "", i.record["application_id"])
            and q.get("interview_id") in (None, "", i.interview_id)
            and (start is None or i.record["begin_time"] >= start)
            and (end is None or i.record["begin_time"] <= end)
        ),
        key=lambda r: (r["begin_time"], r["id"]),
    )
    items = [render_interview(world, r, id_type) for r in chosen]
    scope = "|".join(str(q.get(k, "")) for k in ("application_id", "interview_id", "start_time", "end_time"))
    return Reply(offset_page(call, items, scope, size, 1002002), "items", INTERVIEW_REQUIRED)


def interviews_by_talent(world: FeishuWorld, call: Call) -> Reply:
    talent_id = call.query.get("talent_id")
    if not talent_id:
        raise FeishuError(1002002, "参数错误: talent_id is required")
    id_type = id_type_of(call)
    by_application: dict[str, list[dict[str, Any]]] = {}
    for interview in sorted(world.interviews.values(), key=lambda i: (i.record["begin_time"], i.interview_id)):
        if interview.talent_id == talent_id:
            by_application.setdefault(interview.record["application_id"], []).append(
                render_interview(world, interview.record, id_type)
            )
    items = [{"application_id": a, "interview_list": lst} for a, lst in by_application.items()]
    return Reply({"items": items}, "items", ("application_id", "interview_list"))


def interview_tasks(world: FeishuWorld, call: Call) -> Reply:
    id_type = id_type_of(call)
    raw_user = call.query.get("user_id")
    if not raw_user:
        raise FeishuError(1002002, "参数错误: user_id is required")
    user = world.find_user(raw_user, id_type)
    size = page_size(call, 10, 1, 20, 1002002)
    wanted = int_param(call, "activity_status")
    items = []
    for interview in sorted(world.interviews.values(), key=lambda i: (i.record["begin_time"], i.interview_id)):
        mine = [r for r in interview.record["interview_record_list"] if user and r["user_id"] == user.open_id]
        if not mine:
            continue
        status = 3 if mine[0]["commit_status"] == 1 else 1 if interview.record["begin_time"] > world.now_ms() else 2
        if wanted is None or wanted == status:
            items.append(
                {
                    "id": interview.interview_id,
                    "job_id": interview.job_id,
                    "talent_id": interview.talent_id,
                    "application_id": interview.record["application_id"],
                    "activity_status": status,
                }
            )
    scope = f"{raw_user}|{wanted}"
    return Reply(offset_page(call, items, scope, size, 1002002), "items", ("id", "activity_status"))


APPLICATION_NOT_FOUND = 1002201
TALENT_NOT_FOUND = 1002102
"""Hire's "Application not exist" / "Talent not exist" (Hire error table; HTTP status unconfirmed)."""


def get_application(world: FeishuWorld, call: Call) -> Reply:
    """`data.application` of an application some interview names (reference §8.3)."""
    id_type_of(call)
    application_id = call.path["application_id"]
    interview = next(
        (i for i in sorted(world.interviews.values(), key=lambda i: i.record["biz_create_time"])
         if i.record["application_id"] == application_id),
        None,
    )  # fmt: skip
    if interview is None:
        raise FeishuError(APPLICATION_NOT_FOUND, "Application not exist")
    created = str(interview.record["biz_create_time"])
    application = {
        "id": application_id,
        "job_id": interview.job_id,
        "talent_id": interview.talent_id,
        "stage": {"id": interview.record["stage_id"], "zh_name": "面试", "en_name": "Interview", "type": 4},
        "active_status": 1,
        "delivery_type": 1,
        "create_time": created,
        "modify_time": str(interview.record["biz_modify_time"]),
    }
    return Reply({"application": application})


def get_talent(world: FeishuWorld, call: Call) -> Reply:
    """`data` {talent_id, basic_info {name, mobile_number, mobile_code, email, ...}} of an added talent
    (field names: the official SDK's GetTalentResponseBody / CompositeTalentBasicInfo)."""
    id_type_of(call)
    talent = world.talents.get(call.path["talent_id"])
    if talent is None:
        raise FeishuError(TALENT_NOT_FOUND, "Talent not exist")
    basic = {"name": talent.name, "mobile_code": talent.mobile_code}
    if talent.mobile_number:
        basic["mobile_number"] = talent.mobile_number
    if talent.email:
        basic["email"] = talent.email
    data = {"talent_id": talent.talent_id, "basic_info": basic, "education_list": [], "career_list": [],
            "is_onboarded": False, "is_in_agency_period": False}  # fmt: skip
    return Reply(data, required=("talent_id", "basic_info"), single=True)


# -- Attendance v1 ------------------------------------------------------------------------------------


def employee_ids(world: FeishuWorld, call: Call) -> dict[str, str]:
    """Map each of the body's `user_ids` that exists (per `employee_type`) to its open_id."""
    employee_type = call.query.get("employee_type")
    if employee_type not in ("employee_id", "employee_no"):
        raise field_error("employee_type", "employee_type must be employee_id or employee_no")
    ids = call.body.get("user_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 50:
        raise FeishuError(1220001, "参数错误: user_ids holds 1 to 50 ids")
    lookup = "user_id" if employee_type == "employee_id" else "employee_no"
    return {str(i): user.open_id for i in ids if (user := world.find_user(str(i), lookup))}


def query_user_flows(world: FeishuWorld, call: Call) -> Reply:
    found = employee_ids(world, call)
    low, high = call.body.get("check_time_from"), call.body.get("check_time_to")
    if not (str(low).isdigit() and str(high).isdigit()):
        raise FeishuError(1220001, "参数错误: check_time_from and check_time_to are required")
    by_open_id = {open_id: employee for employee, open_id in found.items()}
    results = [
        {
            **{k: v for k, v in flow.items() if k != "open_id"},
            "user_id": by_open_id[flow["open_id"]],
            "creator_id": by_open_id[flow["open_id"]],
            "ssid": "",
            "bssid": "",
            "device_id": "",
            "external_id": "",
            "idempotent_id": "",
        }
        for flow in sorted(world.attendance_flows, key=lambda f: (int(f["check_time"]), f["record_id"]))
        if flow["open_id"] in by_open_id and int(str(low)) <= int(flow["check_time"]) < int(str(high))
    ]
    return Reply({"user_flow_results": results}, "user_flow_results", ("user_id", "check_time", "record_id"))


def query_user_tasks(world: FeishuWorld, call: Call) -> Reply:
    found = employee_ids(world, call)
    low, high = call.body.get("check_date_from"), call.body.get("check_date_to")
    if not (isinstance(low, int) and isinstance(high, int)):
        raise FeishuError(1220001, "参数错误: check_date_from and check_date_to are yyyyMMdd integers")
    invalid = [str(i) for i in call.body["user_ids"] if str(i) not in found]
    if invalid and call.query.get("ignore_invalid_users") != "true":
        raise FeishuError(1220004, "用户不存在或没有权限")
    by_open_id = {open_id: employee for employee, open_id in found.items()}
    results = [
        {
            "result_id": row["result_id"],
            "user_id": by_open_id[row["open_id"]],
            "employee_name": world.users[row["open_id"]].name,
            "day": row["day"],
            "group_id": "",
            "shift_id": "",
            "records": copy.deepcopy(row["records"]),
        }
        for row in sorted(world.attendance_results, key=lambda r: (r["day"], r["result_id"]))
        if row["open_id"] in by_open_id and low <= row["day"] <= high
    ]
    data = {"user_task_results": results, "invalid_user_ids": invalid, "unauthorized_user_ids": []}
    return Reply(data, "user_task_results", ("user_id", "day", "records"))


# -- VC v1 (meeting reports) --------------------------------------------------------------------------
# Official pages open.larksuite.com/document/uAjLw4CM/ukTMukTMukTM/reference/vc-v1/meeting_list/get and
# …/vc-v1/participant_list/get (100/min, scope vc:room:readonly, TAT or UAT, error codes 121xxx/126xxx);
# field names from larksuite/oapi-sdk-python `lark_oapi/api/vc/v1/model/participant.py`.

VC_ZONE = datetime.timezone(datetime.timedelta(hours=8))


def vc_time(epoch_s: int) -> str:
    """The reports' display format, e.g. `2022.12.23 11:16:59 (GMT+08:00)`."""
    return datetime.datetime.fromtimestamp(epoch_s, VC_ZONE).strftime("%Y.%m.%d %H:%M:%S (GMT+08:00)")


def vc_duration(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def vc_seconds(call: Call, name: str) -> int:
    raw = call.query.get(name, "")
    if not raw.isdigit():
        raise FeishuError(121003, f"param error: {name} is required (unix seconds)")
    return int(raw)


def vc_meeting_no(raw: str | None, required: bool) -> str | None:
    if raw is None or raw == "":
        if required:
            raise FeishuError(121003, "param error: meeting_no is required")
        return None
    if raw.startswith("-"):
        raise FeishuError(126003, "meeting number invalid (cannot smaller than 0)")
    if not (raw.isdigit() and len(raw) == 9):
        raise FeishuError(126004, "meeting number length not correct (supposed to be 9)")
    return raw


def vc_page_size(call: Call) -> int:
    return page_size(call, 20, 20, 100, 121003)


def vc_status_matches(world: FeishuWorld, meeting: Meeting, call: Call) -> bool:
    """`meeting_status`: 1 in progress, 2 ended (the default), 3 not yet started."""
    wanted = int_param(call, "meeting_status", 2)
    ended = meeting.end_s is not None and meeting.end_s <= world.now()
    started = meeting.start_s <= world.now()
    return {1: started and not ended, 2: ended, 3: not started}.get(wanted or 2, False)


def attended(meeting: Meeting, open_id: str) -> bool:
    return any(p.open_id == open_id for p in meeting.participants)


def list_meetings(world: FeishuWorld, call: Call) -> Reply:
    start, end = vc_seconds(call, "start_time"), vc_seconds(call, "end_time")
    if start > world.now():
        raise FeishuError(126005, "start time error (cannot larger than now or smaller than 0)")
    if end < start or end - start > 365 * 86400:
        raise FeishuError(126006, "end time cannot exceed start time for one year or smaller than start time")
    filters = [k for k in ("meeting_no", "user_id", "room_id") if call.query.get(k)]
    if len(filters) > 1:
        raise FeishuError(126008, "userID and roomID and meeting number should be set only one")
    number, id_type = vc_meeting_no(call.query.get("meeting_no"), False), id_type_of(call)
    by_user = world.find_user(call.query["user_id"], id_type) if call.query.get("user_id") else None
    size = vc_page_size(call)
    chosen = [
        m
        for m in sorted(world.meetings, key=lambda m: (m.start_s, m.meeting_no))
        if start <= m.start_s <= end
        and vc_status_matches(world, m, call)
        and number in (None, m.meeting_no)
        and (not call.query.get("user_id") or (by_user is not None and attended(m, by_user.open_id)))
        and not call.query.get("room_id")
    ]
    items = []
    for meeting in chosen:
        organizer = world.users.get(meeting.organizer or "")
        finish = meeting.end_s if meeting.end_s is not None else int(world.now())
        items.append(
            {
                "meeting_id": meeting.meeting_no,
                "meeting_topic": meeting.topic,
                "organizer": organizer.name if organizer else "",
                "department": "",
                "user_id": organizer.id_as(id_type) if organizer else "",
                "employee_id": (organizer.employee_no or "") if organizer else "",
                "email": (organizer.email or "") if organizer else "",
                "mobile": (mask(organizer.mobile) or "") if organizer else "",
                "meeting_start_time": vc_time(meeting.start_s),
                "meeting_end_time": vc_time(finish),
                "meeting_duration": vc_duration(finish - meeting.start_s),
                "number_of_participants": str(len({(p.open_id, p.name) for p in meeting.participants})),
                "audio": True,
                "video": True,
                "sharing": False,
                "recording": False,
                "telephone": False,
            }
        )
    page = offset_page(call, items, "|".join((str(start), str(end), *filters)), size, 121003)
    data = {"meeting_list": page["items"], "has_more": page["has_more"]}
    if "page_token" in page:
        data["page_token"] = page["page_token"]
    return Reply(data, "meeting_list", ("meeting_id", "meeting_start_time", "meeting_end_time"))


def list_participants(world: FeishuWorld, call: Call) -> Reply:
    start, end = vc_seconds(call, "meeting_start_time"), vc_seconds(call, "meeting_end_time")
    number = vc_meeting_no(call.query.get("meeting_no"), True)
    if start > world.now():
        raise FeishuError(126005, "start time error (cannot larger than now or smaller than 0)")
    if end < start or end - start > 86400:
        raise FeishuError(126006, "end time cannot exceed start time for one day or smaller than start time")
    if call.query.get("user_id") and call.query.get("room_id"):
        raise FeishuError(126007, "userID and roomID cannot be set concurrently")
    id_type, size = id_type_of(call), vc_page_size(call)
    meeting = next(
        (
            m
            for m in world.meetings
            if m.meeting_no == number and m.start_s // 60 == start // 60 and vc_status_matches(world, m, call)
        ),
        None,
    )
    if meeting is None:
        raise FeishuError(126009, "cannot find meeting according to the params you provide")
    wanted = world.find_user(call.query["user_id"], id_type) if call.query.get("user_id") else None
    items = []
    for p in sorted(meeting.participants, key=lambda p: (p.join_s, p.name)):
        if call.query.get("user_id") and (wanted is None or p.open_id != wanted.open_id):
            continue
        user = world.users.get(p.open_id or "")
        items.append(
            {
                "participant_name": p.name,
                "department": "",
                "user_id": user.id_as(id_type) if user else "",
                "employee_id": (user.employee_no or "") if user else "",
                "phone": (mask(user.mobile) or "") if user else "",
                "email": (user.email or "") if user else "",
                "device": "windows",
                "app_version": "7.20.0",
                "public_ip": "",
                "internal_ip": "",
                "use_rtc_proxy": False,
                "location": "",
                "network_type": "wifi",
                "protocol": "udp",
                "microphone": "",
                "speaker": "",
                "camera": "",
                "audio": True,
                "video": True,
                "sharing": False,
                "join_time": vc_time(p.join_s),
                "leave_time": vc_time(p.leave_s),
                "time_in_meeting": vc_duration(p.leave_s - p.join_s),
                "leave_reason": p.leave_reason,
            }
        )
    page = offset_page(call, items, f"{number}|{start // 60}", size, 121003)
    data = {"participants": page["items"], "has_more": page["has_more"]}
    if "page_token" in page:
        data["page_token"] = page["page_token"]
    return Reply(data, "participants", ("participant_name", "join_time", "leave_time"))


# -- the API table --------------------------------------------------------------------------------------

IM_SEND = ("im:message", "im:message:send_as_bot", "im:message:send")
IM_READ = ("im:message", "im:message:readonly", "im:message:basic")
CAL_READ = ("calendar:calendar", "calendar:calendar:readonly", "calendar:calendar.event:read")
HIRE_READ = ("hire:interview:readonly", "hire:interview")
HIRE_APPLICATION_READ = ("hire:application:readonly", "hire:application")
HIRE_TALENT_READ = ("hire:talent:readonly", "hire:talent")
ATTENDANCE = ("attendance:task:readonly",)
TASK_5XX = (500, 1470500)
CAL_5XX = (500, 190003)
HIRE_5XX = (500, 1002001)
VC_5XX = (500, 121001)
VC_READ = ("vc:room:readonly", "vc:rooms.room.detailinfo:read")
IM = "/open-apis/im/v1/messages"
CAL = "/open-apis/calendar/v4/calendars/{calendar_id}/events"

APIS = (
    Api("auth.tenant_access_token", "POST", "/open-apis/auth/v3/tenant_access_token/internal",
        tenant_access_token, authenticated=False),
    Api("im.message.create", "POST", IM, send_message, IM_SEND),
    Api("im.message.read_users", "GET", IM + "/{message_id}/read_users", read_users, IM_READ),
    Api("im.message.urgent_app", "PATCH", IM + "/{message_id}/urgent_app", urgent("app")),
    Api("im.message.urgent_sms", "PATCH", IM + "/{message_id}/urgent_sms", urgent("sms")),
    Api("im.message.urgent_phone", "PATCH", IM + "/{message_id}/urgent_phone", urgent("phone")),
    Api("task.create", "POST", "/open-apis/task/v2/tasks", create_task, ("task:task:write",), TASK_5XX,
        claim_field="client_token"),
    Api("task.get", "GET", "/open-apis/task/v2/tasks/{task_guid}", get_task, (), TASK_5XX),
    Api("task.tasklist.tasks", "GET", "/open-apis/task/v2/tasklists/{tasklist_guid}/tasks", tasklist_tasks,
        (), TASK_5XX),
    Api("approval.instance.create", "POST", "/open-apis/approval/v4/instances", create_approval,
        ("approval:approval", "approval:instance")),
    Api("approval.instance.list", "GET", "/open-apis/approval/v4/instances", list_approvals),
    Api("approval.instance.get", "GET", "/open-apis/approval/v4/instances/{instance_id}", get_approval),
    Api("approval.approval.subscribe", "POST", "/open-apis/approval/v4/approvals/{approval_code}/subscribe",
        subscribe_approval, ("approval:approval", "approval:definition")),
    Api("calendar.event.create", "POST", CAL, create_event,
        ("calendar:calendar", "calendar:calendar.event:create"), CAL_5XX),
    Api("calendar.event.list", "GET", CAL, list_events, CAL_READ, CAL_5XX),
    Api("calendar.event.patch", "PATCH", CAL + "/{event_id}", patch_event,
        ("calendar:calendar", "calendar:calendar.event:update"), CAL_5XX),
    Api("calendar.event.attendee.create", "POST", CAL + "/{event_id}/attendees", create_attendees, (), CAL_5XX),
    Api("calendar.event.attendee.list", "GET", CAL + "/{event_id}/attendees", list_attendees, (), CAL_5XX),
    Api("hire.interview.list", "GET", "/open-apis/hire/v1/interviews", list_interviews, HIRE_READ, HIRE_5XX),
    Api("hire.interview.get_by_talent", "GET", "/open-apis/hire/v1/interviews/get_by_talent",
        interviews_by_talent, HIRE_READ, HIRE_5XX),
    Api("hire.application.get", "GET", "/open-apis/hire/v1/applications/{application_id}", get_application,
        HIRE_APPLICATION_READ, HIRE_5XX),
    Api("hire.talent.get", "GET", "/open-apis/hire/v2/talents/{talent_id}", get_talent, HIRE_TALENT_READ,
        HIRE_5XX),
    Api("hire.interview_task.list", "GET", "/open-apis/hire/v1/interview_tasks", interview_tasks,
        ("hire:interview:readonly",), HIRE_5XX),
    Api("attendance.user_flow.query", "POST", "/open-apis/attendance/v1/user_flows/query", query_user_flows,
        ATTENDANCE),
    Api("attendance.user_task.query", "POST", "/open-apis/attendance/v1/user_tasks/query", query_user_tasks,
        ATTENDANCE),
    Api("vc.meeting_list.get", "GET", "/open-apis/vc/v1/meeting_list", list_meetings, VC_READ, VC_5XX),
    Api("vc.participant_list.get", "GET", "/open-apis/vc/v1/participant_list", list_participants, VC_READ,
        VC_5XX),
)  # fmt: skip


# -- gateway --------------------------------------------------------------------------------------------


class Gateway:
    """What the platform does before and after a handler: faults, token, scopes, rate, envelope."""

    def __init__(self, world: FeishuWorld) -> None:
        self.world = world
        self._log_ids = itertools.count(1)

    def endpoint(self, api: Api) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return await self.serve(api, request)

        return serve

    async def serve(self, api: Api, request: Request) -> Response:
        world = self.world
        log_id = f"{world.now_ms()}{next(self._log_ids):08d}"
        stall = world.faults.roll("timeout")
        try:
            call = await self._admit(api, request)
            claim = call.body.get(api.claim_field) if api.claim_field else None
            with world.client_token_claim(call.app_id, claim if isinstance(claim, str) else None):
                with world.lock:
                    reply = api.handler(world, call)
                    response = self._success(reply, log_id)
                await self._stall(stall)
            return response
        except FeishuError as error:
            response = self._failure(error, log_id)
        except _ServerError:
            response = self._server_error(api, log_id)
        await self._stall(stall)
        return response

    async def _admit(self, api: Api, request: Request) -> Call:
        world = self.world
        if world.faults.roll("server_error"):
            raise _ServerError
        body = await _json_body(request)
        if not api.authenticated:
            return Call("", dict(request.query_params), body, dict(request.path_params))
        app_id = world.authenticate(request.headers.get("authorization"))
        world.count_call(app_id, api.name)
        if world.faults.roll("expire_token"):
            raise FeishuError(99991663, UNAUTHORISED_MSG)
        granted = world.scopes
        if granted is not None and api.scopes and not granted.intersection(api.scopes):
            raise FeishuError(
                99991672,
                f"Access denied. One of the following scopes is required: [{', '.join(api.scopes)}].",
                detail={"permission_violations": [{"type": "action_scope_required", "subject": s} for s in api.scopes]},
            )
        if world.faults.roll("rate_limit"):
            tiers = world.settings.rate_tiers.get(api.name)
            limit = tiers[-1].limit if tiers else 50
            raise rate_limit_error(limit, 1, world.settings.rate_limit_http_status)
        world.check_rate(app_id, api.name)
        return Call(app_id, dict(request.query_params), body, dict(request.path_params))

    def _success(self, reply: Reply, log_id: str) -> Response:
        data = self._with_listing_faults(reply)
        content = {"code": 0, "msg": "ok", **data} if reply.top_level else {"code": 0, "msg": "success", "data": data}
        return JSONResponse(content, headers={"X-Tt-Logid": log_id})

    def _failure(self, error: FeishuError, log_id: str) -> Response:
        content = {"code": error.code, "msg": error.msg, "error": {"log_id": log_id, **error.detail}}
        return JSONResponse(content, status_code=error.status, headers={"X-Tt-Logid": log_id, **error.headers})

    def _server_error(self, api: Api, log_id: str) -> Response:
        if api.server_error is None:
            return PlainTextResponse("Service Unavailable", status_code=503, headers={"X-Tt-Logid": log_id})
        status, code = api.server_error
        content = {"code": code, "msg": "internal server error", "error": {"log_id": log_id}}
        return JSONResponse(content, status_code=status, headers={"X-Tt-Logid": log_id})

    async def _stall(self, stall: bool) -> None:
        if stall:
            await self.world.clock.stall(self.world.faults.faults.timeout_seconds)

    def _with_listing_faults(self, reply: Reply) -> dict[str, Any]:
        world, items = self.world, reply.data.get(reply.listing or "")
        if reply.single:
            if world.faults.roll("malformed"):
                broken: dict[str, Any] = corrupt(reply.data, reply.required, world.rng.choice(CORRUPTIONS),
                                                 world.rng.random())  # fmt: skip
                return broken
            return reply.data
        if not isinstance(items, list) or not items:
            return reply.data
        items = list(items)
        if world.faults.roll("malformed"):
            index = world.rng.randrange(len(items))
            items[index] = corrupt(items[index], reply.required, world.rng.choice(CORRUPTIONS), world.rng.random())
        if world.faults.roll("duplicate"):
            index = world.rng.randrange(len(items))
            items.insert(index + 1, copy.deepcopy(items[index]))
        return {**reply.data, reply.listing or "": items}


class _ServerError(Exception):
    """An injected 5xx."""


CORRUPTIONS = ("missing", "garbled", "wrong_type")


def corrupt(record: Any, required: tuple[str, ...], how: str, pick: float) -> Any:
    """A copy of `record` with one required field missing, garbled or of the wrong type."""
    if not isinstance(record, dict):
        return 12345 if how == "wrong_type" else "\ufffdgarbled"
    broken = copy.deepcopy(record)
    present = [name for name in required if name in broken] or list(broken)
    name = present[int(pick * len(present))]
    if how == "missing":
        del broken[name]
    elif how == "garbled":
        broken[name] = "\ufffdgarbled" if not isinstance(broken[name], int | float) else -1
    else:
        value = broken[name]
        broken[name] = [value] if not isinstance(value, dict | list) else str(value)
    return broken


async def _json_body(request: Request) -> dict[str, Any]:
    body = await json_object(request)
    if body is None:
        raise field_error("body", "the request body must be a JSON object")
    return body


# -- the app --------------------------------------------------------------------------------------------


def create_app(settings: EmulatorSettings | None = None, world: FeishuWorld | None = None) -> FastAPI:
    """The emulator app; `app.state.world` is the `FeishuWorld` it serves.

    A given `world` keeps its own settings; otherwise one is made from `settings` (or the defaults).
    """
    world = world or FeishuWorld(settings)
    gateway = Gateway(world)
    app = FastAPI(title="Feishu Open Platform emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.world = world
    add_vendor_middleware(app, world)

    for api in APIS:
        app.add_api_route(api.path, gateway.endpoint(api), methods=[api.method], name=api.name)

    @app.exception_handler(StarletteHTTPException)
    async def not_routed(request: Request, exc: StarletteHTTPException) -> Response:
        code = 99991301 if exc.status_code == 405 else 99991201
        return JSONResponse({"code": code, "msg": exc.detail}, status_code=exc.status_code)

    app.include_router(longconn_router(world.gateway))
    app.include_router(control_router(world, sorted(DRIVE_ACTIONS),
                                      bad_input=(KeyError, ValueError, TypeError, StopIteration)))
    return app
