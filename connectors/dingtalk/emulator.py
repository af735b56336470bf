"""DingTalk emulator: both hosts' APIs on one FastAPI app, as documented in reference/dingtalk-api.md.

Old host (`oapi.dingtalk.com`): `?access_token=`, HTTP 200 with `errcode`/`errmsg` (+`request_id` on
`topapi/*`, gateway errors as `errcode 88` + `sub_code`). New host (`api.dingtalk.com/v1.0`): header
`x-acs-dingtalk-access-token`, errors as HTTP status + `{requestid, code, message}`. Every call passes
the gateway: token check, per-app per-API QPS meter, then injected faults. State lives in a
`DingTalkWorld`; `/_emulator/*` lets another process inspect and drive it.
"""

from __future__ import annotations

import base64
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lifeline_hub.connectors.dingtalk.emulator_state import (
    Approval,
    DingTalkApp,
    DingTalkWorld,
    EmulatorSettings,
    Json,
    Push,
    User,
    millis,
    quota_key,
    utc_minute,
)
from lifeline_hub.connectors.dingtalk.emulator_stream import stream_router
from lifeline_hub.core.emulator import add_vendor_middleware, control_router

__all__ = ["ApiError", "DingTalkWorld", "EmulatorSettings", "OapiError", "create_app"]

Host = Literal["oapi", "topapi", "api"]
Handler = Callable[["Call"], Json | None]


class OapiError(Exception):
    """An old-host error: HTTP 200 `{errcode, errmsg}` (88 errors carry `sub_code`/`sub_msg`)."""

    def __init__(self, errcode: int, errmsg: str, sub_code: str = "", sub_msg: str = "") -> None:
        super().__init__(errmsg)
        self.errcode, self.errmsg, self.sub_code, self.sub_msg = errcode, errmsg, sub_code, sub_msg

    @classmethod
    def gateway(cls, sub_code: str, sub_msg: str) -> OapiError:
        return cls(88, f"ding talk error[subcode={sub_code},submsg={sub_msg}]", sub_code, sub_msg)


class ApiError(Exception):
    """A new-host error: HTTP `status` with `{requestid, code, message}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class GatewayError(Exception):
    """A non-JSON gateway answer (502 page, 504 "Call timeout"), optionally after stalling."""

    def __init__(self, status: int, text: str, stall: float = 0.0) -> None:
        super().__init__(text)
        self.status, self.text, self.stall = status, text, stall


def request_id(host: Host) -> str:
    ident = uuid.uuid4()
    return str(ident).upper() if host == "api" else base64.b32encode(ident.bytes).decode().lower()[:13]


def param_error(host: Host, message: str, missing: bool = False, code: str = "invalidParameter") -> Exception:
    """The parameter error of a host (old: 40035 missing / 400002 invalid; new: 400 + `code`)."""
    if host == "api":
        return ApiError(400, code, message)
    return OapiError(40035 if missing else 400002, f"缺少参数 {message}" if missing else f"无效的参数 {message}")


class Fields:
    """Typed reads of a request's fields that raise the host's parameter error."""

    def __init__(self, data: Mapping[str, Any], host: Host, code: str = "invalidParameter") -> None:
        self.data: Json = dict(data)
        self.host, self.code = host, code

    def fail(self, message: str, missing: bool = False) -> Exception:
        return param_error(self.host, message, missing, self.code)

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if required and value in (None, "", [], {}):
            raise self.fail(name if self.host != "api" else f"{name} is empty", missing=True)
        return value

    def text(self, name: str, required: bool = True, limit: int = 0, label: str = "") -> str:
        value = self._get(name, required)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.fail(f"{name} must be a string")
        if limit and len(value) > limit:
            raise self.fail(f"{label or name} is oversize")
        return value

    def integer(self, name: str, required: bool = True, default: int = 0) -> int:
        value = self._get(name, required)
        if value is None or value == "":
            return default
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
            raise self.fail(f"{name} must be a number")
        return int(value)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name, default)
        if isinstance(value, str) and value in ("true", "false"):
            return value == "true"
        if not isinstance(value, bool):
            raise self.fail(f"{name} must be a boolean")
        return value

    def ids(self, name: str, required: bool = False, limit: int = 0, label: str = "") -> list[str]:
        """A list of ids: a JSON array or, on the old host, a comma-separated string."""
        value = self._get(name, required)
        if value is None:
            return []
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str | int) and not isinstance(i, bool) for i in items):
            raise self.fail(f"{name} must be a list of ids")
        out = [str(i).strip() for i in items if str(i).strip()]
        if limit and len(out) > limit:
            raise self.fail(f"{label or name} is oversize")
        return out

    def mapping(self, name: str, required: bool = False) -> Json:
        value = self._get(name, required)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"{name} must be an object")
        return value

    def records(self, name: str, required: bool = False, limit: int = 0, keys: tuple[str, ...] = ()) -> list[Json]:
        value = self._get(name, required)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
            raise self.fail(f"{name} must be a list of objects")
        if limit and len(value) > limit:
            raise self.fail(f"{name} is oversize")
        for item in value:
            for key in keys:
                if item.get(key) in (None, ""):
                    raise self.fail(f"{name}.{key}", missing=True)
        return value


@dataclass
class Call:
    """One authenticated request as a handler sees it."""

    world: DingTalkWorld
    app: DingTalkApp
    host: Host
    body: Fields
    query: Fields
    path: Mapping[str, str]
    headers: Mapping[str, str]

    def fail(self, message: str) -> Exception:
        return self.body.fail(message)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    host: Host
    handler: Handler
    credentials: bool = False  # token endpoints: authenticated by appkey/appsecret
    param_code: str = "invalidParameter"

    @property
    def api(self) -> str:
        return f"{self.method} {self.path}"


# ---------------------------------------------------------------- paging


def page(items: list[Any], token: str, size: int, fail: Callable[[str], Exception]) -> tuple[list[Any], str]:
    """Opaque `nextToken` paging: the page and the next token ("" when done)."""
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o")) if token else 0
    except ValueError as exc:
        raise fail("nextToken is invalid") from exc
    nxt = offset + size
    return items[offset:nxt], (base64.urlsafe_b64encode(f"o{nxt}".encode()).decode() if nxt < len(items) else "")


def next_token(token: str, key: str = "nextToken") -> Json:
    """The next page's token, absent on the last page (DingTalk leaves out what has no value)."""
    return {key: token} if token else {}


def bounded(value: int, default: int, most: int) -> int:
    return min(value, most) if value > 0 else default


# ---------------------------------------------------------------- tokens


def gettoken(call: Call) -> Json:
    return {"access_token": call.world.issue_token(call.app.appkey), "expires_in": call.world.settings.token_ttl}


def access_token(call: Call) -> Json:
    return {"accessToken": call.world.issue_token(call.app.appkey), "expireIn": call.world.settings.token_ttl}


# ---------------------------------------------------------------- work notifications (§4a-4d)

MSG_FIELDS = {
    "text": ("content",), "image": ("media_id",), "voice": ("media_id", "duration"), "file": ("media_id",),
    "link": ("messageUrl", "title", "text"), "markdown": ("title", "text"), "oa": ("message_url", "body"),
    "action_card": ("title", "markdown"),
}
RESULT_LISTS = {"invalid": "invalid_user_id_list", "forbidden": "forbidden_user_id_list",
                "failed": "failed_user_id_list", "read": "read_user_id_list", "unread": "unread_user_id_list"}


def agent(call: Call) -> int:
    agent_id = call.body.integer("agent_id")
    if agent_id != call.app.agent_id:
        raise call.fail("agent_id")
    return agent_id


def check_msg(call: Call, msg: Json) -> None:
    kind = msg.get("msgtype")
    if kind not in MSG_FIELDS:
        raise call.fail("msg.msgtype")
    part = Fields(msg, call.host).mapping(str(kind), required=True)
    for key in MSG_FIELDS[str(kind)]:
        if part.get(key) in (None, ""):
            raise call.body.fail(f"msg.{kind}.{key}", missing=True)
    if kind == "action_card" and not (part.get("single_title") and part.get("single_url")):
        Fields(part, call.host).records("btn_json_list", required=True, keys=("title", "action_url"))


def asyncsend(call: Call) -> Json:
    agent(call)
    msg = call.body.mapping("msg", required=True)
    check_msg(call, msg)
    userids = call.body.ids("userid_list", limit=5000)
    depts = call.body.ids("dept_id_list", limit=500)
    if not all(d.isdigit() for d in depts):
        raise call.fail("dept_id_list")
    to_all = call.body.flag("to_all_user")
    if not (userids or depts or to_all):
        raise OapiError(1430000, "接受者为空")
    notice = call.world.send_notice(call.app, msg, userids, [int(d) for d in depts], to_all)
    return {"task_id": notice.task_id}


def getsendprogress(call: Call) -> Json:
    agent(call)
    known = call.world.notices.get(call.body.integer("task_id"))
    done = known is not None and known.appkey == call.app.appkey
    return {"progress": {"progress_in_percent": 100 if done else 0, "status": 2 if done else 0}}


def getsendresult(call: Call) -> Json:
    agent(call)
    world = call.world
    notice = world.notices.get(call.body.integer("task_id"))
    retention = world.settings.receipt_retention_seconds
    if notice is None or notice.appkey != call.app.appkey or world.now() - notice.sent_at > retention:
        return {"send_result": {}}
    if len(notice.status) > 100:
        raise GatewayError(504, "Call timeout", stall=world.faults.faults.timeout_seconds)
    result: Json = {key: world.listing([u for u, s in notice.status.items() if s == status])
                    for status, key in RESULT_LISTS.items()}  # empty lists too, as the SDK model's doc example
    result["invalid_dept_id_list"] = list(notice.invalid_depts)
    result["forbidden_list"] = world.listing(notice.forbidden, ("userid", "code"))
    return {"send_result": result}


def recall(call: Call) -> Json:
    agent(call)
    notice = call.world.notices.get(call.body.integer("msg_task_id"))
    if notice is None or notice.appkey != call.app.appkey:
        raise call.fail("msg_task_id")
    notice.recalled = True
    return {}


# ---------------------------------------------------------------- robot 1:1 and DING (§4e-4f)


def robot_push(call: Call, fields: Fields, key: str, kind: Literal["robot", "ding"]) -> Push:
    if fields.text("robotCode") != call.app.robot:
        raise call.fail("robotCode is invalid")
    push = call.world.pushes.get(key)
    if push is None or push.kind != kind or push.appkey != call.app.appkey:
        raise call.fail(f"{'processQueryKey' if kind == 'robot' else 'openDingId'} is invalid")
    return push


def robot_send(call: Call) -> Json:
    if call.body.text("robotCode") != call.app.robot:
        raise call.fail("robotCode is invalid")
    userids = call.body.ids("userIds", required=True, limit=20)
    msg_key = call.body.text("msgKey")
    try:
        params = json.loads(call.body.text("msgParam"))
    except ValueError as exc:
        raise call.fail("msgParam must be a JSON string") from exc
    users = call.world.users
    invalid = [u for u in userids if u not in users]
    flow = [u for u in userids if u in users and users[u].delivery == "forbidden"]
    filtered = [u for u in userids if u in users and users[u].delivery == "failed"]
    sent = [u for u in dict.fromkeys(userids) if u not in invalid + flow + filtered]
    push = call.world.add_push(call.app, "robot", {"msgKey": msg_key, "msgParam": params}, sent)
    return {"processQueryKey": push.key, "invalidStaffIdList": invalid, "flowControlledStaffIdList": flow,
            "filteredStaffIdList": filtered}


def robot_read_status(call: Call) -> Json:
    push = robot_push(call, call.query, call.query.text("processQueryKey"), "robot")
    world = call.world
    if world.now() - push.sent_at > world.settings.receipt_retention_seconds:
        return {"sendStatus": "SUCCESS", "messageReadInfoList": []}
    infos = []
    for userid in push.recipients:
        user = world.users.get(userid)
        read_at = push.read_at.get(userid)
        infos.append({"name": user.name if user else "", "userId": userid,
                      "readStatus": "UNREAD" if read_at is None else "READ",
                      "readTimestamp": 0 if read_at is None else millis(read_at)})
    return {"sendStatus": "RECALLED" if push.recalled else "SUCCESS",
            "messageReadInfoList": world.listing(infos, ("userId", "readStatus"))}


def robot_recall(call: Call) -> Json:
    done, failed = [], {}
    for key in call.body.ids("processQueryKeys", required=True):
        push = call.world.pushes.get(key)
        if push is None or push.kind != "robot" or push.appkey != call.app.appkey:
            failed[key] = "processQueryKey not exist"
        else:
            push.recalled = True
            done.append(key)
    return {"successResult": done, "failedResult": failed}


def ding_send(call: Call) -> Json:
    if call.body.text("robotCode") != call.app.robot:
        raise ApiError(400, "invalid.chatbotId", "robotCode is invalid")
    remind = call.body.integer("remindType")
    if remind not in (1, 2, 3):
        raise call.fail("remindType is invalid")
    receivers = call.body.ids("receiverUserIdList")
    if not receivers:
        raise ApiError(400, "miss.staffId", "receiverUserIdList is empty")
    if len(receivers) > (200 if remind == 1 else 20):
        raise ApiError(400, "ding.receivercount.limit", "too many receivers")
    content = call.body.text("content")
    invalid = [u for u in receivers if u not in call.world.users]
    sent = [u for u in dict.fromkeys(receivers) if u not in invalid]
    push = call.world.add_push(call.app, "ding", {"remindType": remind, "content": content}, sent)
    return {"openDingId": push.key, **({"failedList": {"invalidStaffIdList": invalid}} if invalid else {})}


def ding_read_status(call: Call) -> Json:
    push = robot_push(call, call.body, call.body.text("openDingId"), "ding")
    infos = [{"userId": u, "readStatus": "READ" if u in push.read_at else "UNREAD"} for u in push.recipients]
    return {"success": True, "result": {"robotDingReadInfoList": call.world.listing(infos, ("userId", "readStatus"))}}


def ding_recall(call: Call) -> Json:
    push = robot_push(call, call.body, call.body.text("openDingId"), "ding")
    push.recalled = True
    return {"openDingId": push.key}


# ---------------------------------------------------------------- todo (§5)

TODO_PAGE = 20
# The keys of each todo answer: the official SDK's todo_1_0 `CreateTodoTaskResponseBody`,
# `GetTodoTaskResponseBody` (no `contentFieldList`, no `notifyConfigs`) and `GetTodoTaskBySourceIdResponseBody`.
TODO_COMMON = ("id", "subject", "description", "startTime", "dueTime", "finishTime", "done", "executorIds",
               "participantIds", "detailUrl", "source", "sourceId", "createdTime", "modifiedTime", "creatorId",
               "modifierId", "bizTag", "isOnlyShowExecutor", "priority")
TODO_CREATED = (*TODO_COMMON, "contentFieldList", "notifyConfigs")
TODO_BY_SOURCE = (*TODO_COMMON, "tenantId", "tenantType")
TODO_GOT = (*TODO_BY_SOURCE, "cardTypeId")


def todo_create(call: Call) -> Json:
    world, body, owner = call.world, call.body, call.path["unionId"]
    if world.user_by_union(owner) is None:
        raise body.fail("unionId is invalid")
    subject = body.text("subject", limit=1024)
    description = body.text("description", required=False, limit=4096)
    executors = body.ids("executorIds", limit=100, label="executors")
    participants = body.ids("participantIds", limit=100, label="participants")
    detail = body.mapping("detailUrl", required=True)
    due = body.integer("dueTime", required=False)
    if due < 0:
        raise body.fail("dueTime is invalid")
    source_id = body.text("sourceId", required=False)
    if source_id and (owner, source_id) in world.todo_sources:
        raise body.fail("task exist")
    now = millis(world.now())
    task_id = world.ident("todo", 32)
    todo: Json = {
        "id": task_id, "subject": subject, "description": description, "startTime": now, "dueTime": due,
        "finishTime": 0, "done": False, "executorIds": executors, "participantIds": participants,
        "detailUrl": detail, "source": call.app.appkey, "sourceId": source_id, "createdTime": now,
        "modifiedTime": now, "creatorId": body.text("creatorId", required=False) or owner, "modifierId": owner,
        "bizTag": call.app.appkey, "contentFieldList": body.records("contentFieldList"),
        "isOnlyShowExecutor": body.flag("isOnlyShowExecutor"), "priority": body.integer("priority", False, 20),
        "notifyConfigs": body.mapping("notifyConfigs"), "cardTypeId": "", "tenantId": world.settings.corp_id,
        "tenantType": "org",
    }
    world.todos[task_id] = todo
    world.todo_meta[task_id] = (owner, call.app.appkey)
    if source_id:
        world.todo_sources[(owner, source_id)] = task_id
    return {**{k: todo[k] for k in TODO_CREATED}, "requestId": request_id("api")}


def visible_todo(call: Call, task_id: str | None, code: str) -> Json:
    todo = call.world.todos.get(task_id or "")
    user = call.path["unionId"]
    if todo is None or user not in (call.world.todo_meta[todo["id"]][0], todo["creatorId"],
                                    *todo["executorIds"], *todo["participantIds"]):
        raise ApiError(400, code, "task not exist")
    return todo


def todo_get(call: Call) -> Json:
    todo = visible_todo(call, call.path["taskId"], "todo.taskGet.paramError")
    return {k: todo[k] for k in TODO_GOT}


def todo_by_source(call: Call) -> Json:
    task_id = call.world.todo_sources.get((call.path["unionId"], call.path["sourceId"]))
    todo = visible_todo(call, task_id, "todo.taskGet.paramError")
    return {k: todo[k] for k in TODO_BY_SOURCE}


def todo_update(call: Call) -> Json:
    todo = visible_todo(call, call.path["taskId"], "todo.taskUpdate.paramError")
    if todo["bizTag"] != call.app.appkey:
        raise ApiError(400, "todo.taskUpdate.paramError", "task not belong to bizTag")
    body, changes = call.body, dict[str, Any]()
    if "subject" in body.data:
        changes["subject"] = body.text("subject", limit=1024)
    if "description" in body.data:
        changes["description"] = body.text("description", required=False, limit=4096)
    if "dueTime" in body.data:
        changes["dueTime"] = body.integer("dueTime", required=False)
    for key in ("executorIds", "participantIds"):
        if key in body.data:
            changes[key] = body.ids(key, limit=100)
    now = millis(call.world.now())
    done_changed = "done" in body.data and body.flag("done") != todo["done"]
    if done_changed:
        changes.update(done=body.flag("done"), finishTime=now if body.flag("done") else 0)
    todo.update(changes, modifiedTime=now, modifierId=call.query.text("operatorId", required=False)
                or call.path["unionId"])
    if done_changed:
        call.world.emit_todo_change(todo["id"])
    return {"result": True}


def todo_card(world: DingTalkWorld, todo: Json, org: bool) -> Json:
    """A todo in a listing: `tasks/list` (`QueryTodoTasksResponseBodyTodoCards`) or `org/tasks/query`
    (`QueryOrgTodoTasksResponseBodyTodoCards`)."""
    card = {
        "taskId": todo["id"], "subject": todo["subject"], "dueTime": todo["dueTime"], "isDone": todo["done"],
        "priority": todo["priority"], "sourceId": todo["sourceId"], "bizTag": todo["bizTag"],
        "detailUrl": todo["detailUrl"], "createdTime": todo["createdTime"], "modifiedTime": todo["modifiedTime"],
        "creatorId": todo["creatorId"],
    }
    if org:
        return {**card, "todoType": "TODO"}
    return {**card, "orgInfo": {"corpId": world.settings.corp_id, "name": "Lifeline Emulated Org"},
            "originalSource": {"sourceTitle": todo["source"]}}


def todo_list(call: Call) -> Json:
    return todo_cards(call, org=False)


def org_todo_list(call: Call) -> Json:
    return todo_cards(call, org=True)


def todo_cards(call: Call, org: bool) -> Json:
    world, body, user = call.world, call.body, call.path["unionId"]
    roles = {r for group in body.data.get("roleTypes") or [] for r in (group if isinstance(group, list) else [group])}
    low, high = body.integer("fromDueTime", False), body.integer("toDueTime", False)
    cards = []
    for todo in world.todos.values():
        mine = {"creator": todo["creatorId"] == user or world.todo_meta[todo["id"]][0] == user,
                "executor": user in todo["executorIds"], "participant": user in todo["participantIds"]}
        if not any(mine[r] for r in (roles & mine.keys() or mine.keys())):
            continue
        if "isDone" in body.data and todo["done"] != body.flag("isDone"):
            continue
        due = todo["dueTime"]
        if (low and (not due or due < low)) or (high and (not due or due > high)):
            continue
        cards.append(todo_card(world, todo, org))
    chunk, nxt = page(cards, body.text("nextToken", required=False), TODO_PAGE, body.fail)
    reply: Json = {"todoCards": world.listing(chunk, ("taskId", "isDone")), **next_token(nxt)}
    return reply if org else {**reply, "totalCount": len(cards)}


# ---------------------------------------------------------------- calendar (§7)


def parse_event_time(call: Call, value: Json, name: str) -> float:
    """`{dateTime, timeZone}` (a naive dateTime is read in `timeZone`) or all-day `{date}`."""
    try:
        stamp = datetime.fromisoformat(str(value["dateTime"] if "dateTime" in value else value["date"]))
        zone = ZoneInfo(str(value["timeZone"])) if value.get("timeZone") else call.world.tz
    except (KeyError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise call.fail(f"{name} is invalid") from exc
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=zone)).timestamp()


def calendar_user(call: Call) -> str:
    if call.path["calendarId"] != "primary":
        raise call.fail("calendarId only supports primary")
    return call.path["unionId"]


def visible_event(call: Call) -> Json:
    user = calendar_user(call)
    event = call.world.calendar.get(call.path["eventId"])
    if event is None or user not in call.world.event_people(event):
        raise ApiError(404, "eventNotFound", "event not found")
    return event


def render_event(event: Json, viewer: str, written: bool = False) -> Json:
    """An event as `viewer` sees it; a create or update answer (`written`) has no `status` (the SDK's
    `CreateEventResponseBody`, `PatchEventResponseBody`)."""
    out = {k: v for k, v in event.items() if not (written and k == "status")}
    out["organizer"] = {**event["organizer"], "self": event["organizer"]["id"] == viewer}
    out["attendees"] = [{**a, "self": a["id"] == viewer} for a in event["attendees"]]
    return out


def check_event_body(call: Call, partial: bool) -> None:
    body = call.body
    if not partial or "summary" in body.data:
        body.text("summary", limit=2048)
    body.text("description", required=False, limit=5000)
    times = [parse_event_time(call, body.mapping(k, required=not partial), k) for k in ("start", "end")
             if not partial or k in body.data]
    if len(times) == 2 and times[1] < times[0]:
        raise call.fail("end is before start")
    body.records("attendees", keys=("id",))
    body.records("reminders")


def event_create(call: Call) -> Json:
    world, user = call.world, calendar_user(call)
    token = call.headers.get("x-client-token", "")
    seen = world.client_tokens.get((call.app.appkey, user, token))
    if token and seen and world.now() - seen[1] < 86400 and seen[0] in world.calendar:
        return render_event(world.calendar[seen[0]], user, written=True)
    check_event_body(call, partial=False)
    event = world.new_event(user, call.body.data)
    if token:
        world.client_tokens[(call.app.appkey, user, token)] = (event["id"], world.now())
    return render_event(event, user, written=True)


def event_update(call: Call) -> Json:
    event = visible_event(call)
    check_event_body(call, partial=True)
    call.world.patch_event(event, call.body.data)
    return render_event(event, call.path["unionId"], written=True)


def event_get(call: Call) -> Json:
    return render_event(visible_event(call), call.path["unionId"])


def event_delete(call: Call) -> None:
    visible_event(call).update(status="cancelled", updateTime=utc_minute(call.world.now()))


def event_list(call: Call) -> Json:
    world, query, user = call.world, call.query, calendar_user(call)
    low, high = (query.text(k, required=False) for k in ("timeMin", "timeMax"))
    show_deleted = query.flag("showDeleted")
    events = []
    for event in world.calendar.values():
        start, end = (parse_event_time(call, event[k], k) for k in ("start", "end"))
        if user not in world.event_people(event) or (event["status"] == "cancelled" and not show_deleted):
            continue
        if (low and end <= parse_event_time(call, {"dateTime": low}, "timeMin")) or (
                high and start >= parse_event_time(call, {"dateTime": high}, "timeMax")):
            continue
        events.append((start, render_event(event, user)))
    ordered = [e for _, e in sorted(events, key=lambda pair: pair[0])]
    size = bounded(query.integer("maxResults", False), 100, 100)
    chunk, nxt = page(ordered, query.text("nextToken", required=False), size, query.fail)
    return {"events": world.listing(chunk, ("id", "start", "end")), **next_token(nxt)}


def event_attendees(call: Call) -> Json:
    event = render_event(visible_event(call), call.path["unionId"])
    size = bounded(call.query.integer("maxResults", False), 100, 500)
    chunk, nxt = page(event["attendees"], call.query.text("nextToken", required=False), size, call.query.fail)
    return {"attendees": call.world.listing(chunk, ("id", "responseStatus")), **next_token(nxt)}


def event_signin(call: Call) -> Json:
    event, world = visible_event(call), call.world
    kind = call.query.text("type")
    stamps = world.checkins.get(event["id"], {})
    people = world.event_people(event)
    if kind == "check_in":
        users = [{"userId": u, "displayName": world.display_name(u), "checkInTime": millis(t)}
                 for u, t in stamps.items()]
    elif kind == "not_yet_check_in":
        users = [{"userId": u, "displayName": world.display_name(u)} for u in people if u not in stamps]
    else:
        raise call.query.fail("type is invalid")
    size = bounded(call.query.integer("maxResults", False), 100, 500)
    chunk, nxt = page(users, call.query.text("nextToken", required=False), size, call.query.fail)
    return {"users": world.listing(chunk, ("userId",)), **next_token(nxt)}


def event_checkin(call: Call) -> Json:
    event = visible_event(call)
    return {"checkInTime": call.world.check_in(event["id"], call.path["unionId"])}


# ---------------------------------------------------------------- approvals (§8)


def approval_v1(world: DingTalkWorld, a: Approval) -> Json:
    def when(t: float | None) -> str:
        return utc_minute(t) if t is not None else ""

    return {
        "title": a.title, "createTime": utc_minute(a.created), "finishTime": when(a.finished),
        "originatorUserId": a.originator, "originatorDeptId": str(a.dept_id), "originatorDeptName": "",
        "status": a.status, "result": a.result, "businessId": a.business_id, "bizAction": "NONE", "bizData": "",
        "approverUserIds": list(a.approvers), "ccUserIds": list(a.cc), "attachedProcessInstanceIds": [],
        "mainProcessInstanceId": "",
        "formComponentValues": [{"id": f.get("id", f"TextField-{i}"), "name": f["name"], "value": f["value"],
                                 "componentType": f.get("componentType", "TextField"),
                                 "bizAlias": f.get("bizAlias", ""), "extValue": f.get("extValue", "")}
                                for i, f in enumerate(a.form)],
        "operationRecords": [{**r, "date": utc_minute(r["date"]), "showName": r["type"], "activityId": "",
                              "images": [], "ccUserIds": [], "attachments": []} for r in a.records],
        "tasks": [{**t, "createTime": utc_minute(t["createTime"]), "finishTime": when(t["finishTime"])}
                  for t in a.tasks],
    }


def approval_oapi(world: DingTalkWorld, a: Approval) -> Json:
    def when(t: float | None) -> str:
        return world.local(t).strftime("%Y-%m-%d %H:%M:%S") if t is not None else ""

    return {
        "title": a.title, "create_time": when(a.created), "finish_time": when(a.finished),
        "originator_userid": a.originator, "originator_dept_id": str(a.dept_id), "originator_dept_name": "",
        "status": a.status, "result": a.result, "business_id": a.business_id, "biz_action": "NONE",
        "approver_userids": list(a.approvers), "cc_userids": list(a.cc), "attached_process_instance_ids": [],
        "main_process_instance_id": "",
        "form_component_values": [{"name": f["name"], "value": f["value"], "id": f.get("id", f"TextField-{i}"),
                                   "component_type": f.get("component_type", "TextField"),
                                   "ext_value": f.get("ext_value", "")} for i, f in enumerate(a.form)],
        "operation_records": [{"userid": r["userId"], "date": when(r["date"]), "operation_type": r["type"],
                               "operation_result": r["result"], "remark": r["remark"], "attachments": []}
                              for r in a.records],
        "tasks": [{"userid": t["userId"], "task_status": t["status"], "task_result": t["result"],
                   "create_time": when(t["createTime"]), "finish_time": when(t["finishTime"]),
                   "taskid": str(t["taskId"]), "activity_id": t["activityId"], "url": t["pcUrl"]} for t in a.tasks],
    }


def originator(call: Call, userid: str) -> str:
    if userid not in call.world.users:
        raise call.fail("originatorUserId is invalid" if call.host == "api" else "originator_user_id")
    return userid


def approval_create(call: Call) -> Json:
    body = call.body
    process_code = body.text("processCode")
    user = originator(call, body.text("originatorUserId"))
    form = body.records("formComponentValues", required=True, keys=("name", "value"))
    groups = body.records("approvers", keys=("userIds",))
    approvers = [u for group in groups for u in Fields(group, "api").ids("userIds")]
    instance = call.world.create_approval(call.app, process_code, user, body.integer("deptId", False, -1), form,
                                          approvers, body.ids("ccList"))
    return {"instanceId": instance.instance_id}


def approval_instance(call: Call, instance_id: str) -> Approval:
    instance = call.world.approvals.get(instance_id)
    if instance is None:
        raise call.fail("processInstanceId is invalid" if call.host == "api" else "process_instance_id")
    return instance


def approval_get(call: Call) -> Json:
    instance = approval_instance(call, call.query.text("processInstanceId"))
    return {"result": approval_v1(call.world, instance), "success": True}


def approval_ids(call: Call) -> Json:
    body = call.body
    code, start = body.text("processCode"), body.integer("startTime")
    end = body.integer("endTime", False) or millis(call.world.now())
    users, statuses = set(body.ids("userIds")), set(body.ids("statuses"))
    ids = [a.instance_id for a in call.world.approvals.values()
           if a.process_code == code and start <= millis(a.created) <= end
           and (not users or a.originator in users) and (not statuses or a.status in statuses)]
    offset, size = body.integer("nextToken", False), bounded(body.integer("maxResults", False), 20, 20)
    result: Json = {"list": call.world.listing(ids[offset : offset + size])}
    if offset + size < len(ids):
        result["nextToken"] = offset + size
    return {"result": result, "success": True}


def approval_terminate(call: Call) -> Json:
    instance = approval_instance(call, call.body.text("processInstanceId"))
    if instance.status != "RUNNING":
        raise call.fail("processInstance is not running")
    call.world.terminate_approval(instance.instance_id, call.body.text("remark", required=False))
    return {"result": True, "success": True}


def old_approval_create(call: Call) -> Json:
    body = call.body
    process_code = body.text("process_code")
    user = originator(call, body.text("originator_user_id"))
    dept_id = body.integer("dept_id")
    form = body.records("form_component_values", required=True, limit=150, keys=("name", "value"))
    approvers = body.ids("approvers", limit=20)
    for group in body.records("approvers_v2", keys=("user_ids",)):
        approvers += Fields(group, "topapi").ids("user_ids")
    instance = call.world.create_approval(call.app, process_code, user, dept_id, form, approvers,
                                          body.ids("cc_list", limit=20))
    return {"process_instance_id": instance.instance_id}


def old_approval_get(call: Call) -> Json:
    instance = approval_instance(call, call.body.text("process_instance_id"))
    return {"process_instance": approval_oapi(call.world, instance)}


# ---------------------------------------------------------------- recruiting (§9)

INTERVIEW_FIELDS = ("interviewId", "jobId", "creatorUserId", "startTimeMillis", "endTimeMillis", "cancelled",
                    "interviewers")


def ats_interviews(call: Call) -> Json:
    call.query.text("bizCode")
    candidate = call.body.text("candidateId")
    low, high = call.body.integer("startTimeBeginMillis"), call.body.integer("startTimeEndMillis")
    found = sorted((i for i in call.world.interviews_by_id.values()
                    if i["candidateId"] == candidate and low <= i["startTimeMillis"] <= high),
                   key=lambda i: i["startTimeMillis"])
    records = [{k: i[k] for k in INTERVIEW_FIELDS} for i in found]
    size = bounded(call.query.integer("size", False), 20, 100)
    chunk, nxt = page(records, call.query.text("nextToken", required=False), size, call.query.fail)
    reply: Json = {"hasMore": bool(nxt), "totalCount": len(records),
                   "list": call.world.listing(chunk, ("interviewId", "startTimeMillis", "endTimeMillis", "cancelled"))}
    return {**reply, "nextToken": nxt} if nxt else reply


def ats_sign_in(call: Call) -> None:
    call.query.text("bizCode")
    interview = call.world.interviews_by_id.get(call.path["interviewId"])
    if interview is None:
        raise call.fail("interviewId is invalid")
    interview["signInTimeMillis"] = call.body.integer("signInTimeMillis")


def ats_flows_search(call: Call) -> Json:
    """Application flows modified in [minModifyTimeMills, maxModifyTimeMills], oldest change first."""
    call.query.text("opUserId")
    world, body = call.world, call.body
    low, high = body.integer("minModifyTimeMills"), body.integer("maxModifyTimeMills")
    ids = [f for f, at in sorted(world.flow_modified.items(), key=lambda pair: pair[1]) if low <= at <= high]
    size = bounded(body.integer("size", False), 20, 100)
    chunk, nxt = page(ids, body.text("cursor", required=False), size, body.fail)
    return {"hasMore": bool(nxt), **next_token(nxt, "nextCursor"), "totalCount": len(ids), "list": world.listing(chunk)}


def ats_flow_info(call: Call) -> Json:
    flow = call.world.flows.get(call.path["flowId"])
    if flow is None:
        raise call.fail("flowId is invalid")
    return dict(flow)


# ---------------------------------------------------------------- attendance (§6)


def local_time(call: Call, name: str) -> datetime:
    """An attendance `yyyy-MM-dd HH:mm:ss` field, in the org's time zone."""
    try:
        return datetime.strptime(call.body.text(name), "%Y-%m-%d %H:%M:%S").replace(tzinfo=call.world.tz)
    except ValueError as exc:
        raise call.fail(f"{name} must be yyyy-MM-dd HH:mm:ss") from exc


def work_dates(call: Call, low: str, high: str) -> tuple[int, int]:
    """A from/to pair in epoch ms, at most 7 days apart."""
    start, end = local_time(call, low), local_time(call, high)
    if end < start or (end - start).total_seconds() > 7 * 86400:
        raise call.fail(f"{low}/{high} must be ordered and at most 7 days apart")
    return millis(start.timestamp()), millis(end.timestamp())


def attendance_list(call: Call) -> Json:
    low, high = work_dates(call, "workDateFrom", "workDateTo")
    users = set(call.body.ids("userIdList", required=True, limit=50))
    offset = call.body.integer("offset")
    limit = call.body.integer("limit")
    if not 0 < limit <= 50 or offset < 0:
        raise call.fail("offset/limit")
    rows = [r for r in call.world.attendance_rows if r["userId"] in users and low <= r["workDate"] <= high]
    chunk = rows[offset : offset + limit]
    required = ("userId", "checkType", "timeResult", "baseCheckTime", "userCheckTime")
    return {"hasMore": offset + limit < len(rows), "recordresult": call.world.listing(chunk, required)}


def attendance_records(call: Call) -> Json:
    low, high = work_dates(call, "checkDateFrom", "checkDateTo")
    users = set(call.body.ids("userIds", required=True, limit=50))
    world = call.world
    rows = [{**r, "planCheckTime": r["baseCheckTime"], "isLegal": "Y", "userAddress": "", "deviceId": "",
             "gmtCreate": r["userCheckTime"], "gmtModified": r["userCheckTime"]}
            for r in world.attendance_rows
            if r["id"] in world.punches and r["userId"] in users and low <= r["userCheckTime"] <= high]
    return {"recordresult": world.listing(rows, ("userId", "userCheckTime", "checkType"))}


def attendance_day(call: Call) -> Json:
    world = call.world
    userid = call.body.text("userid")
    low = millis(local_time(call, "work_date").replace(hour=0, minute=0, second=0).timestamp())
    rows = [r for r in world.attendance_rows if r["userId"] == userid and r["workDate"] == low]
    results = [{"record_id": r["recordId"], "check_type": r["checkType"], "time_result": r["timeResult"],
                "location_result": r["locationResult"], "plan_check_time": r["baseCheckTime"],
                "user_check_time": r["userCheckTime"], "source_type": r["sourceType"], "class_id": 1,
                "plan_id": r["planId"], "group_id": r["groupId"], "procInst_id": r.get("procInstId", "")}
               for r in rows]
    punches = [{"record_id": r["recordId"], "user_check_time": r["userCheckTime"], "source_type": r["sourceType"],
                "valid_matched": True} for r in rows if r["id"] in world.punches]
    leaves = [{k: v for k, v in lv.items() if k != "userid"} for lv in world.leaves
              if lv["userid"] == userid and lv["begin_time"] < low + 86_400_000 and lv["end_time"] > low]
    return {"result": {"userid": userid, "corpId": world.settings.corp_id, "work_date": low,
                       "attendance_result_list": results, "check_record_list": punches, "approve_list": leaves,
                       "class_setting_info": {"rest_time_vo_list": []}}, "success": True}


# ---------------------------------------------------------------- identity (§11)


def found_user(call: Call, userid: str | None) -> User:
    user = call.world.users.get(userid or "")
    if user is None:
        raise OapiError(60121, "找不到该用户")
    return user


def user_get(call: Call) -> Json:
    user = found_user(call, call.body.text("userid"))
    return {"result": {"userid": user.userid, "unionid": user.union_id, "name": user.name, "mobile": user.mobile,
                       "dept_id_list": user.dept_ids, "active": True, "admin": False, "boss": False}}


def user_by_union(call: Call) -> Json:
    found = call.world.user_by_union(call.body.text("unionid"))
    return {"result": {"userid": found_user(call, found.userid if found else None).userid, "contact_type": 0}}


def user_by_mobile(call: Call) -> Json:
    mobile = call.body.text("mobile")
    found = next((u.userid for u in call.world.users.values() if u.mobile == mobile), None)
    return {"result": {"userid": found_user(call, found).userid, "exclusive_account_userid_list": []}}


# ---------------------------------------------------------------- the route table

CAL = "/v1.0/calendar/users/{unionId}/calendars/{calendarId}/events"
TODO = "/v1.0/todo/users/{unionId}"
MSG = "/topapi/message/corpconversation"
ROUTES = (
    Route("GET", "/gettoken", "oapi", gettoken, credentials=True),
    Route("POST", "/v1.0/oauth2/accessToken", "api", access_token, credentials=True),
    Route("POST", f"{MSG}/asyncsend_v2", "topapi", asyncsend),
    Route("POST", f"{MSG}/getsendprogress", "topapi", getsendprogress),
    Route("POST", f"{MSG}/getsendresult", "topapi", getsendresult),
    Route("POST", f"{MSG}/recall", "topapi", recall),
    Route("POST", "/v1.0/robot/oToMessages/batchSend", "api", robot_send),
    Route("GET", "/v1.0/robot/oToMessages/readStatus", "api", robot_read_status),
    Route("POST", "/v1.0/robot/otoMessages/batchRecall", "api", robot_recall),
    Route("POST", "/v1.0/robot/ding/send", "api", ding_send, param_code="invalidParameter.param.invalid"),
    Route("POST", "/v1.0/robot/ding/readStatuses/query", "api", ding_read_status),
    Route("POST", "/v1.0/robot/ding/recall", "api", ding_recall),
    Route("POST", f"{TODO}/tasks", "api", todo_create, param_code="todo.taskCreate.paramError"),
    Route("GET", f"{TODO}/tasks/{{taskId}}", "api", todo_get),
    Route("GET", f"{TODO}/tasks/sources/{{sourceId}}", "api", todo_by_source),
    Route("PUT", f"{TODO}/tasks/{{taskId}}", "api", todo_update, param_code="todo.taskUpdate.paramError"),
    Route("POST", f"{TODO}/tasks/list", "api", todo_list),
    Route("POST", f"{TODO}/org/tasks/query", "api", org_todo_list),
    Route("POST", CAL, "api", event_create),
    Route("GET", CAL, "api", event_list),
    Route("GET", f"{CAL}/{{eventId}}", "api", event_get),
    Route("PUT", f"{CAL}/{{eventId}}", "api", event_update),
    Route("DELETE", f"{CAL}/{{eventId}}", "api", event_delete),
    Route("GET", f"{CAL}/{{eventId}}/attendees", "api", event_attendees),
    Route("GET", f"{CAL}/{{eventId}}/signin", "api", event_signin),
    Route("POST", f"{CAL}/{{eventId}}/checkIn", "api", event_checkin),
    Route("POST", "/v1.0/workflow/processInstances", "api", approval_create),
    Route("GET", "/v1.0/workflow/processInstances", "api", approval_get),
    Route("POST", "/v1.0/workflow/processes/instanceIds/query", "api", approval_ids),
    Route("POST", "/v1.0/workflow/processInstances/terminate", "api", approval_terminate),
    Route("POST", "/topapi/processinstance/create", "topapi", old_approval_create),
    Route("POST", "/topapi/processinstance/get", "topapi", old_approval_get),
    Route("POST", "/v1.0/ats/interviews/query", "api", ats_interviews),
    Route("PUT", "/v1.0/ats/interviews/{interviewId}/signInInfos", "api", ats_sign_in),
    Route("POST", "/v1.0/ats/flows/search", "api", ats_flows_search),
    Route("GET", "/v1.0/ats/flows/{flowId}/info", "api", ats_flow_info),
    Route("POST", "/attendance/list", "oapi", attendance_list),
    Route("POST", "/attendance/listRecord", "oapi", attendance_records),
    Route("POST", "/topapi/attendance/getupdatedata", "topapi", attendance_day),
    Route("POST", "/topapi/v2/user/get", "topapi", user_get),
    Route("POST", "/topapi/user/getbyunionid", "topapi", user_by_union),
    Route("POST", "/topapi/v2/user/getbymobile", "topapi", user_by_mobile),
)


# ---------------------------------------------------------------- the gateway


async def read_body(request: Request, host: Host) -> Json:
    """A JSON object body; the old host also takes form bodies (nested values as JSON strings)."""
    raw = await request.body()
    if not raw:
        return {}
    if host != "api" and "form" in request.headers.get("content-type", ""):
        try:
            return {k: json.loads(v) if v[:1] in ("{", "[") else v for k, v in parse_qsl(raw.decode())}
        except ValueError as exc:
            raise param_error(host, "form value is not JSON") from exc
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise param_error(host, "body is not JSON") from exc
    if not isinstance(data, dict):
        raise param_error(host, "body is not a JSON object")
    return data


def auth_error(host: Host, state: Literal["missing", "invalid", "expired"]) -> Exception:
    """Token errors: topapi 88 + sub_code 40000/40014/42001; other old routes 40014/42001; new host
    400 MissingParameter / 400 InvalidAuthentication, and 401 InvalidAuthentication when expired."""
    if host == "api":
        if state == "missing":
            return ApiError(400, "AuthenticationFailed.MissingParameter", "缺少参数 x-acs-dingtalk-access-token")
        if state == "expired":
            return ApiError(401, "InvalidAuthentication", "access_token已过期")
        return ApiError(400, "InvalidAuthentication", "不合法的access_token")
    code, text = {"missing": ("40000", "access_token is blank"), "invalid": ("40014", "不合法的access_token"),
                  "expired": ("42001", "access_token超时")}[state]
    if host == "topapi":
        return OapiError.gateway(code, text)
    return OapiError(42001 if state == "expired" else 40014, text)


def credentials(world: DingTalkWorld, route: Route, request: Request, body: Json) -> DingTalkApp:
    """Token endpoints: the app named by appkey/appsecret (query on the old host, JSON body on the new)."""
    if route.host == "api":
        key, secret = str(body.get("appKey") or ""), str(body.get("appSecret") or "")
    else:
        key, secret = request.query_params.get("appkey", ""), request.query_params.get("appsecret", "")
        if not key or not secret:
            raise OapiError(40035, "缺少参数 corpid or appkey")
    app = world.apps.get(key)
    if app is None or not hmac.compare_digest(app.appsecret.encode(), secret.encode()):
        if route.host == "api":
            raise ApiError(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        raise OapiError(40096, "不合法的appKey或appSecret")
    return app


def bearer(world: DingTalkWorld, route: Route, request: Request) -> tuple[DingTalkApp, str]:
    """The app behind the request's token (header on the new host, `?access_token=` on the old)."""
    if route.host == "api":
        value = request.headers.get("x-acs-dingtalk-access-token", "")
    else:
        value = request.query_params.get("access_token", "")
    if not value:
        raise auth_error(route.host, "missing")
    app, state = world.token_state(value)
    if app is None or state != "ok":
        raise auth_error(route.host, "expired" if state == "expired" else "invalid")
    return app, value


def qps_error(route: Route, per_app: bool) -> Exception:
    if route.host == "api":
        code = "QpsLimitForAppkeyAndApi" if per_app else "QpsLimitForApi"
        return ApiError(403, f"Forbidden.AccessDenied.{code}", f"调用频率超过限制, apiPath({route.path})")
    if per_app:
        return OapiError(90018, f"当前应用调用该接口的频率超过了限制, apiPath({route.path}), 请1秒后重试")
    return OapiError(90002, f"该接口的所有请求都被暂时禁用了, apiPath({route.path}), 处罚将在1秒后结束")


def permission_error(route: Route) -> Exception:
    """No permission for the API (reference §2): old host `errcode 88` + `sub_code "60011"` (S12); new host HTTP
    403 with a `Forbidden.AccessDenied.*` code."""
    if route.host == "api":
        return ApiError(403, "Forbidden.AccessDenied.AccessTokenPermissionDenied", "没有调用该接口的权限")
    return OapiError.gateway("60011", "没有调用该接口的权限")


def inject(world: DingTalkWorld, route: Route, token: str) -> None:
    """Rate-limit, 5xx and expired-token faults, drawn in a fixed order from the seeded plan."""
    plan = world.faults
    if plan.roll("rate_limit"):
        raise qps_error(route, per_app=False)
    if plan.roll("server_error"):
        if route.host == "api":
            raise ApiError(500, "system.error", "系统错误")
        if plan.injected["server_error"] % 2:
            raise OapiError(-1, "系统繁忙")
        raise GatewayError(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
    if token and plan.roll("expire_token"):
        with world.lock:
            world.tokens[token].expires_at = world.now()
        raise auth_error(route.host, "expired")


def render_error(route: Route, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return JSONResponse({"requestid": request_id("api"), "code": exc.code, "message": exc.message}, exc.status)
    if isinstance(exc, GatewayError):
        return PlainTextResponse(exc.text, exc.status, media_type="text/html" if "<html" in exc.text else None)
    assert isinstance(exc, OapiError)
    body: Json = {"errcode": exc.errcode, "errmsg": exc.errmsg}
    if exc.sub_code:
        body.update(sub_code=exc.sub_code, sub_msg=exc.sub_msg)
    if route.host == "topapi":
        body["request_id"] = request_id("topapi")
    return JSONResponse(body)


def render(route: Route, result: Json | None) -> Response:
    if route.host == "api":
        return Response(status_code=200) if result is None else JSONResponse(result)
    body: Json = {"errcode": 0, "errmsg": "ok", **(result or {})}
    if route.host == "topapi":
        body["request_id"] = request_id("topapi")
    return JSONResponse(body)


def endpoint(world: DingTalkWorld, route: Route) -> Callable[[Request], Any]:
    async def serve(request: Request) -> Response:
        stall = 0.0
        try:
            if route.credentials:
                body = await read_body(request, route.host)
                app, token = credentials(world, route, request, body), ""
            else:
                app, token = bearer(world, route, request)
                if not world.permitted(route.api):
                    raise permission_error(route)
            if not world.quota.hit(quota_key(app.appkey, route.api)):
                raise qps_error(route, per_app=True)
            inject(world, route, token)
            if not route.credentials:
                body = await read_body(request, route.host)
            call = Call(world, app, route.host, Fields(body, route.host, route.param_code),
                        Fields(dict(request.query_params), route.host, route.param_code),
                        request.path_params, request.headers)
            with world.lock:
                response = render(route, route.handler(call))
        except (OapiError, ApiError, GatewayError) as exc:
            stall = exc.stall if isinstance(exc, GatewayError) else 0.0
            response = render_error(route, exc)
        if world.faults.roll("timeout"):
            stall = max(stall, world.faults.faults.timeout_seconds)
        await world.clock.stall(stall)
        return response

    serve.__name__ = f"{route.method.lower()}_{route.handler.__name__}"
    return serve


def not_found(request: Request, exc: Exception) -> Response:
    """Unknown routes answer as each host does (old: errcode 22 / 404 in a 200; new: HTTP 404)."""
    path = request.url.path
    if path.startswith("/_emulator"):
        detail = exc.detail if isinstance(exc, StarletteHTTPException) else "not found"
        return JSONResponse({"detail": detail}, getattr(exc, "status_code", 404))
    if path.startswith("/v1.0/"):
        return JSONResponse({"requestid": request_id("api"), "code": "InvalidAction.NotFound",
                             "message": "Specified api is not found, please check your url and method."}, 404)
    if path.startswith("/topapi/"):
        return JSONResponse({"errcode": 22, "errmsg": "Invalid method", "request_id": request_id("topapi")})
    return JSONResponse({"errcode": 404, "errmsg": "请求的URI地址不存在"})


# ---------------------------------------------------------------- control endpoints


def control(world: DingTalkWorld) -> APIRouter:
    """`/_emulator/*`: inspect and drive the world (never faulted or metered)."""
    inspect: dict[str, Callable[[], Any]] = {
        "users": lambda: [u.public() for u in world.users.values()], "messages": world.messages,
        "robot_messages": lambda: world.push_messages("robot"), "dings": lambda: world.push_messages("ding"),
        "todos": world.todo_list, "approvals": world.approval_list, "events": world.events,
        "interviews": world.interviews, "flows": lambda: list(world.flows.values()), "attendance": world.attendance,
        "callbacks": world.callbacks,
    }
    actions = (
        "add_user", "set_delivery", "mark_read", "set_receipt", "mark_push_read", "set_todo_done",
        "decide_approval", "terminate_approval", "add_calendar_event", "set_attendee_response", "check_in",
        "add_interview", "cancel_interview", "add_attendance", "add_leave", "advance", "expire_tokens", "deny_apis",
        "set_callback_url", "send_check_url", "deliver_pending_callbacks",
    )
    return control_router(world, actions, inspect, bad_input=(KeyError, ValueError, StopIteration))


def create_app(settings: EmulatorSettings | None = None, world: DingTalkWorld | None = None) -> FastAPI:
    """The emulator app; `app.state.world` is its state. A given `world` brings its own settings."""
    world = world or DingTalkWorld(settings)
    app = FastAPI(title="DingTalk emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.world = world
    add_vendor_middleware(app, world)
    for route in ROUTES:
        app.add_api_route(route.path, endpoint(world, route), methods=[route.method], include_in_schema=False)
    app.include_router(stream_router(world.gateway))
    app.include_router(control(world))
    app.add_exception_handler(StarletteHTTPException, not_found)
    return app
