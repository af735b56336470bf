"""Action sinks: messages (work notice, robot 1:1, DING), todos, approvals and calendar events.

Idempotency per object (reference §12):
- todo: `sourceId` = idempotency key; a repeat ("task exist", also after a lost response) recovers
  the existing todo by sourceId; `close_task` sets it done (a repeat sets it again).
- calendar: `x-client-token` = idempotency key on create (DingTalk keeps it a day); a reschedule
  updates the event created before (`remote_event_id`), in place.
- approval: no vendor key. The key rides in the form's marker field; before creating a row an earlier
  worker may have sent (`action.maybe_sent`), and after an ambiguous failure, the originator's
  instances started since the row was first handed over (`action.handed_at`) are searched for it.
- messages: no vendor key. Content is deterministic, so a repeat the same day is filtered by
  DingTalk as duplicate content (forbidden code 143106) instead of reaching the person twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from lifeline_hub.connectors.dingtalk.receipts import Kind
from lifeline_hub.connectors.dingtalk.records import approval_marker, event_marker, todo_marker
from lifeline_hub.connectors.dingtalk.streams import INSTANCE, NEW_APPROVALS, NEW_TODOS, instance_ids
from lifeline_hub.core.actions import CalendarEvent, CloseTask, CreateApproval, CreateTask, Link, SendMessage
from lifeline_hub.core.connector import ActionResult, describe_error
from lifeline_hub.core.http import Conflict, InvalidRequest, NotFound, TransientError
from lifeline_hub.core.markup import escape_markdown, with_links
from lifeline_hub.core.models import (
    Action,
    Channel,
    DeliveryStatus,
    Notification,
    NotificationPurpose,
    to_epoch_millis,
    utcnow,
    zone_info,
)

if TYPE_CHECKING:
    from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector

P = TypeVar("P", bound=BaseModel)
ASYNCSEND = "/topapi/message/corpconversation/asyncsend_v2"
ROBOT_SEND = "/v1.0/robot/oToMessages/batchSend"
DING_SEND = "/v1.0/robot/ding/send"
TODO_CREATE = "/v1.0/todo/users/{unionId}/tasks"
TODO_BY_SOURCE = "/v1.0/todo/users/{unionId}/tasks/sources/{sourceId}"
TODO_UPDATE = "/v1.0/todo/users/{unionId}/tasks/{taskId}"
EVENTS = "/v1.0/calendar/users/{unionId}/calendars/primary/events"
EVENT = EVENTS + "/{eventId}"
SKEW = timedelta(minutes=5)
"""Allowance between Lifeline's clock and DingTalk's when an approval is looked up by its start time."""
TODO_DESCRIPTION = 4096  # characters DingTalk keeps of a todo's description
WORK_BATCH, ROBOT_BATCH = 100, 20  # send results only exist for tasks of <= 100 recipients; robot takes <= 20
ROBOT_FAILURES = ("invalidStaffIdList", "flowControlledStaffIdList", "filteredStaffIdList")


def payload(model: type[P], action: Action) -> P:
    try:
        return model.model_validate(action.payload)
    except ValidationError as exc:
        raise InvalidRequest(f"{action.kind} payload: {describe_error(exc)}", vendor="dingtalk") from None


def _batches(values: Sequence[str], size: int) -> list[list[str]]:
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


# ---------------------------------------------------------------- messages


def _body(message: SendMessage) -> str:
    """Title and text as markdown: the payload's plain text escaped (`title` fields and buttons are plain)."""
    return f"### {escape_markdown(message.title)}\n\n{escape_markdown(message.text)}"


def _markdown(message: SendMessage) -> str:
    links = "".join(f"\n\n[{escape_markdown(link.label)}]({link.url})" for link in message.links)
    return _body(message) + links


def _work_msg(message: SendMessage) -> dict[str, Any]:
    if not message.links:
        return {"msgtype": "markdown", "markdown": {"title": message.title, "text": _markdown(message)}}
    buttons = [{"title": link.label, "action_url": link.url} for link in message.links]
    return {"msgtype": "action_card", "action_card": {
        "title": message.title, "markdown": _body(message),
        "btn_orientation": "1" if len(buttons) <= 2 else "0", "btn_json_list": buttons}}


def send_message(conn: DingTalkConnector, action: Action) -> ActionResult:
    """One send per batch. Every recipient's `Notification` (with the payload's audience: the candidate,
    or staff) is returned as a record (dispatch stores it) and handed to the `receipts` stream's cursor
    key `sent` (it polls them)."""
    message = payload(SendMessage, action)
    if message.purpose not in NotificationPurpose.__members__:
        raise InvalidRequest(f"send_message payload: unknown purpose {message.purpose!r}", vendor="dingtalk")
    recipients = list(dict.fromkeys(message.recipients))
    if message.urgent:
        remind = conn.options.ding_remind_type
        sends = [_ding(conn, message, batch, remind) for batch in _batches(recipients, 200 if remind == 1 else 20)]
    elif conn.options.message_channel == "robot":
        sends = [_robot(conn, message, batch) for batch in _batches(recipients, ROBOT_BATCH)]
    else:
        sends = [_work(conn, message, batch) for batch in _batches(recipients, WORK_BATCH)]
    sent_at = utcnow()
    notes = [Notification(
        source=conn.instance.name, remote_id=f"{key}:{user}", interview_id=message.interview_id or action.interview_id,
        occurred_at=sent_at, purpose=message.purpose, channel=Channel.dingtalk, recipient=user,
        audience=message.recipient_audience,
        status=DeliveryStatus.failed if failure else DeliveryStatus.sent, status_raw=failure,
        idempotency_key=action.idempotency_key,
    ) for key, outcome in sends for user, failure in outcome.items()]
    dumped = [n.model_dump(mode="json") for n in notes]
    return ActionResult(",".join(key for key, _ in sends), records=tuple(notes),
                        handoff={"receipts": {"sent": dumped}})


def _work(conn: DingTalkConnector, message: SendMessage, users: list[str]) -> tuple[str, dict[str, str | None]]:
    body = conn.http.oapi.call("POST", ASYNCSEND, json={
        "agent_id": conn.options.agent_id, "userid_list": ",".join(users), "msg": _work_msg(message)})
    return _key("work", body["task_id"]), dict.fromkeys(users)


def _robot(conn: DingTalkConnector, message: SendMessage, users: list[str]) -> tuple[str, dict[str, str | None]]:
    body = conn.http.api.call("POST", ROBOT_SEND, json={
        "robotCode": conn.robot_code, "userIds": users, "msgKey": "sampleMarkdown",
        "msgParam": json.dumps({"title": message.title, "text": _markdown(message)}, ensure_ascii=False)})
    outcome: dict[str, str | None] = dict.fromkeys(users)
    for name in ROBOT_FAILURES:
        for user in body.get(name) or []:
            if user in outcome:
                outcome[user] = name
    return _key("robot", body["processQueryKey"]), outcome


def _ding(conn: DingTalkConnector, message: SendMessage, users: list[str],
          remind: int) -> tuple[str, dict[str, str | None]]:
    body = conn.http.api.call("POST", DING_SEND, json={
        "robotCode": conn.robot_code, "remindType": remind, "receiverUserIdList": users,
        "content": with_links(f"{message.title}\n{message.text}", message.links)})  # plain text
    outcome: dict[str, str | None] = dict.fromkeys(users)
    failed = body.get("failedList")
    for reason, ids in (failed.items() if isinstance(failed, dict) else ()):
        for user in ids if isinstance(ids, list) else ():
            if user in outcome:
                outcome[user] = str(reason)
    return _key("ding", body["openDingId"]), outcome


def _key(kind: Kind, send_id: Any) -> str:
    return f"{kind}:{send_id}"


# ---------------------------------------------------------------- todos


def create_task(conn: DingTalkConnector, action: Action) -> ActionResult:
    """A work todo owned by `operator_union_id`, executed by the assignees (unionIds). Subject and
    description are plain text; the first link opens from the todo (`detailUrl`), all are listed."""
    task = payload(CreateTask, action)
    owner = conn.options.operator_union_id
    if not owner:
        raise InvalidRequest("set `operator_union_id` (the todo owner's unionId) to create todos", vendor="dingtalk")
    link: Link | None = task.links[0] if task.links else None
    url = link.url if link else conn.options.todo_detail_url
    if not url:  # DingTalk only creates work todos since 2024-02-01, and those need a detail link
        raise InvalidRequest(f"{conn.instance.name}: this todo carries no link; set `todo_detail_url` (e.g. the ATS) "
                             "for such todos", vendor="dingtalk")
    due = task.due_at or utcnow() + timedelta(hours=conn.options.todo_due_hours)
    interview = task.interview_id or action.interview_id
    body: dict[str, Any] = {
        "subject": task.title[:1024], "description": _todo_description(task, interview),
        "sourceId": action.idempotency_key,
        "creatorId": owner, "executorIds": list(task.assignees), "dueTime": to_epoch_millis(due), "priority": 30,
        "detailUrl": {"appUrl": url, "pcUrl": url},
    }
    detail: dict[str, Any] = {"sourceId": action.idempotency_key}
    try:
        todo_id = str(conn.http.api.call("POST", TODO_CREATE, path={"unionId": owner}, params={"operatorId": owner},
                                         json=body, idempotent=True)["id"])  # a repeat is refused ("task exist")
    except Conflict:
        todo_id, detail["recovered"] = _todo_by_source(conn, owner, action.idempotency_key), True
    return ActionResult(todo_id, detail, handoff={"tasks": {NEW_TODOS: [todo_id]}})


def close_task(conn: DingTalkConnector, action: Action) -> ActionResult:
    """The case closed: the todo `create_task` made is done (update with `done: true`, dingtalk-api.md §5b; a
    repeat sets it again). Lifeline closes todos, it does not delete them: a `removed` close is refused."""
    close = payload(CloseTask, action)
    owner = conn.options.operator_union_id
    if not owner:
        raise InvalidRequest("set `operator_union_id` (the todo owner's unionId) to close todos", vendor="dingtalk")
    if close.state != "done":
        raise InvalidRequest(f"close_task: DingTalk todos are closed as done, not {close.state}", vendor="dingtalk")
    conn.http.api.call("PUT", TODO_UPDATE, path={"unionId": owner, "taskId": close.task_id},
                       params={"operatorId": owner}, json={"done": True}, idempotent=True)
    return ActionResult(close.task_id, {"done": True})


def _todo_description(task: CreateTask, interview: str | None) -> str:
    """The text and links, then the interview marker line (kept whole within DingTalk's 4,096 characters): the
    todo get answers return the description, not the content fields, so the marker is how a read-back finds
    its interview."""
    text = with_links(task.description, task.links)
    if not interview:
        return text[:TODO_DESCRIPTION]
    marker = todo_marker(interview)
    return f"{text[:max(TODO_DESCRIPTION - len(marker) - 2, 0)]}\n\n{marker}" if text else marker


def _todo_by_source(conn: DingTalkConnector, owner: str, source_id: str, attempts: int = 3) -> str:
    """The todo created before with `source_id` (after "task exist", or a lock held by a concurrent create)."""
    path = {"unionId": owner, "sourceId": source_id}
    for _ in range(attempts - 1):
        try:
            return str(conn.http.api.call("GET", TODO_BY_SOURCE, path=path)["id"])
        except NotFound:
            time.sleep(1.0)  # a concurrent create holds the sourceId lock: let it finish
    return str(conn.http.api.call("GET", TODO_BY_SOURCE, path=path)["id"])


# ---------------------------------------------------------------- approvals


def create_approval(conn: DingTalkConnector, action: Action) -> ActionResult:
    """An approval instance carrying `<key>|<interview>` in the marker field, created at most once."""
    request = payload(CreateApproval, action)
    marker_field = conn.options.approval_marker_field
    interview = request.interview_id or action.interview_id or ""
    found = find_approval(conn, request, action) if action.maybe_sent else None
    if found:
        return _approval_result(found, recovered=True)
    body = {
        "processCode": request.process_code, "originatorUserId": request.originator,
        "deptId": conn.options.approval_dept_id, "microappAgentId": conn.options.agent_id,
        "formComponentValues": [*({"name": k, "value": v} for k, v in request.fields.items() if k != marker_field),
                                {"name": marker_field, "value": f"{action.idempotency_key}|{interview}"}],
        **({"approvers": [{"actionType": "NONE", "userIds": [u]} for u in request.approvers]}
           if request.approvers else {}),
    }
    try:
        created = conn.http.api.call("POST", INSTANCE, json=body, idempotent=False)
    except TransientError:
        found = find_approval(conn, request, action)  # did the lost call create it?
        if found:
            return _approval_result(found, recovered=True)
        raise
    return _approval_result(str(created["instanceId"]), recovered=False)


def _approval_result(instance_id: str, recovered: bool) -> ActionResult:
    """The instance, handed to the `tasks` stream so its state is read even outside `approval_process_codes`."""
    return ActionResult(instance_id, {"recovered": True} if recovered else {},
                        handoff={"tasks": {NEW_APPROVALS: [instance_id]}})


def find_approval(conn: DingTalkConnector, request: CreateApproval, action: Action) -> str | None:
    """The originator's instance of this process with the row's key in its marker, started since the row was
    first handed over (or in the lookback window when that is not known)."""
    now = utcnow()
    since = (action.handed_at - SKEW if action.handed_at is not None
             else now - timedelta(days=conn.options.lookback_days))
    listed = list(instance_ids(conn, request.process_code, since, now + SKEW, [request.originator]))
    ids = [i for i in listed if isinstance(i, str)]
    if len(ids) < len(listed):  # an unreadable entry might be ours: no conclusion, so no second create
        raise TransientError("approval look-up met an unreadable instance id; not creating it again before a "
                             "clean look-up", vendor="dingtalk")
    for instance_id in reversed(ids):  # newest first
        body = conn.http.api.call("GET", INSTANCE, params={"processInstanceId": instance_id})
        result = body.get("result") if isinstance(body, dict) else None
        if not (isinstance(result, dict) and isinstance(result.get("formComponentValues"), list)):
            raise TransientError(f"approval look-up: instance {instance_id} came back without its form; not "
                                 "creating it again before a clean look-up", vendor="dingtalk")  # might be ours
        if approval_marker(result, conn.options.approval_marker_field) == action.idempotency_key:
            return instance_id
    return None


# ---------------------------------------------------------------- calendar


def _event_body(event: CalendarEvent, interview: str | None) -> dict[str, Any]:
    marker = event_marker(event.ical_uid, event.sequence, interview)
    description = f"{event.description}\n\n{marker}" if event.description else marker

    def when(at: datetime) -> dict[str, str]:
        return {"dateTime": at.astimezone(zone_info(event.timezone)).isoformat(), "timeZone": event.timezone}

    return {"summary": event.summary, "description": description, "start": when(event.start_at),
            "end": when(event.end_at), "attendees": [{"id": a, "isOptional": False} for a in event.attendees],
            "reminders": [{"method": "dingtalk", "minutes": 15}]}


def create_calendar_event(conn: DingTalkConnector, action: Action) -> ActionResult:
    event = payload(CalendarEvent, action)
    if event.status == "cancelled":
        raise InvalidRequest("a cancelled event is not created", vendor="dingtalk")
    created = conn.http.api.call("POST", EVENTS, path={"unionId": event.organizer},
                                 json=_event_body(event, action.interview_id),
                                 headers={"x-client-token": action.idempotency_key}, idempotent=True)
    return ActionResult(str(created["id"]), {"ical_uid": event.ical_uid, "sequence": event.sequence})


def update_calendar_event(conn: DingTalkConnector, action: Action) -> ActionResult:
    """Reschedule (or cancel) the event created before, in place: same event id, new times and sequence."""
    event = payload(CalendarEvent, action)
    if not event.remote_event_id:
        raise InvalidRequest("update_calendar_event needs remote_event_id (the event created before)",
                             vendor="dingtalk")
    path = {"unionId": event.organizer, "eventId": event.remote_event_id}
    if event.status == "cancelled":
        conn.http.api.call("DELETE", EVENT, path=path)
    else:
        conn.http.api.call("PUT", EVENT, path=path, json=_event_body(event, action.interview_id))
    return ActionResult(event.remote_event_id, {"ical_uid": event.ical_uid, "sequence": event.sequence})


PERFORMERS: dict[str, Callable[[DingTalkConnector, Action], ActionResult]] = {
    "send_message": send_message,
    "create_task": create_task,
    "close_task": close_task,
    "create_approval": create_approval,
    "create_calendar_event": create_calendar_event,
    "update_calendar_event": update_calendar_event,
}
