"""Polling streams other than receipts: recruiting interviews, calendar, tasks/approvals, attendance.

Each pass starts at `started` and, once every read it needs succeeded, checkpoints with watermark
`started`: everything that happened before it is in the store (a failed pass advances nothing).
Windows are re-read each pass (cheap, and a record quarantined once is read again when it heals).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lifeline_hub.connectors.dingtalk import records as rec
from lifeline_hub.core.connector import Checkpoint, Malformed, StreamItem
from lifeline_hub.core.http import InvalidRequest, NotFound, cursor_pages, items, offset_pages
from lifeline_hub.core.models import to_epoch_millis, utcnow, zone_info

if TYPE_CHECKING:
    from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector

OVERLAP = timedelta(minutes=10)  # re-read a little before the last pass: clocks and late writes
FLOWS = "/v1.0/ats/flows/search"
FLOW_INFO = "/v1.0/ats/flows/{flowId}/info"
INTERVIEWS = "/v1.0/ats/interviews/query"
EVENTS = "/v1.0/calendar/users/{unionId}/calendars/primary/events"
SIGNIN = EVENTS + "/{eventId}/signin"
TODO_LIST = "/v1.0/todo/users/{unionId}/tasks/list"
TODO_GET = "/v1.0/todo/users/{unionId}/tasks/{taskId}"
INSTANCE_IDS = "/v1.0/workflow/processes/instanceIds/query"
INSTANCE = "/v1.0/workflow/processInstances"
ATTENDANCE = "/attendance/list"
NEW_TODOS, NEW_APPROVALS = "new_todos", "new_approvals"  # cursor keys dispatch appends created ids to
OPEN_APPROVAL = frozenset({"NEW", "RUNNING"})
RETRY = "RETRY"  # an instance whose record was malformed: read again until it leaves the window


def _ms(at: datetime) -> int:
    return to_epoch_millis(at)


def _since(cursor: Mapping[str, Any], key: str, default: datetime) -> datetime:
    value = cursor.get(key)
    return datetime.fromisoformat(value) - OVERLAP if isinstance(value, str) else default


def _missing(setting: str, stream: str) -> InvalidRequest:
    return InvalidRequest(f"set `{setting}` in the instance settings to read the {stream} stream", vendor="dingtalk")


# ---------------------------------------------------------------- recruiting interviews (§9)


def read_interviews(conn: DingTalkConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    """Interviews of candidates whose application flows changed since the last pass.

    Cursor `{"flows_since": iso}`. Flows (`flows/search` by modify time) name the candidates;
    `interviews/query` then reads each candidate's interviews in [now - lookback, now + horizon].
    """
    opts = conn.options
    op_user = opts.ats_op_user_id
    if not op_user:
        raise _missing("ats_op_user_id", "interviews")
    started = utcnow()
    since = _since(cursor, "flows_since", started - timedelta(days=opts.lookback_days))
    api = conn.http.api

    def flows(page: str | None) -> tuple[list[Any], str | None]:
        body = api.call("POST", FLOWS, params={"opUserId": op_user}, idempotent=True, json={
            "minModifyTimeMills": _ms(since), "maxModifyTimeMills": _ms(started), "size": 100,
            **({"cursor": page} if page else {})})
        return rec.records(body, "list"), body.get("nextCursor") if body.get("hasMore") else None

    candidates: dict[str, None] = {}
    flow_ids: dict[str, None] = {}
    for flow_id in items(cursor_pages(flows, vendor="dingtalk")):
        if isinstance(flow_id, str) and flow_id:
            flow_ids[flow_id] = None
        else:
            yield Malformed("flows/search list: entry is not a flowId", flow_id)
    for flow_id in flow_ids:
        try:
            info = api.call("GET", FLOW_INFO, path={"flowId": flow_id})
            candidates[rec.text(info, "candidateId")] = None
        except (rec.Bad, InvalidRequest, NotFound) as exc:
            yield Malformed(f"flow info: {exc}", {"flowId": flow_id}, flow_id)
    low, high = started - timedelta(days=opts.lookback_days), started + timedelta(days=opts.horizon_days)
    for candidate in candidates:
        def page(token: str | None, candidate: str = candidate) -> tuple[list[Any], str | None]:
            body = api.call("POST", INTERVIEWS, idempotent=True, json={
                "candidateId": candidate, "startTimeBeginMillis": _ms(low), "startTimeEndMillis": _ms(high)},
                params={"bizCode": opts.ats_biz_code, "size": 100, **({"nextToken": token} if token else {})})
            return rec.records(body, "list"), body.get("nextToken") if body.get("hasMore") else None

        for raw in items(cursor_pages(page, vendor="dingtalk")):
            yield rec.ats_interview(conn, raw, candidate, opts.ats_interview_kind)
    yield Checkpoint({"flows_since": started.isoformat()}, watermark=started)


# ---------------------------------------------------------------- calendar (§7)


def read_calendar(conn: DingTalkConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    """Interview events on the configured calendars in [now - lookback, now + horizon].

    Events Lifeline made (description marker) give evidence for their interview; other interview
    events (summary keyword) become `Interview` records of their own. Evidence: check-ins and
    declined invitations, both interviewer-side `Attendance` (calendar attendees are org members).
    """
    opts = conn.options
    if not opts.calendar_owners:
        raise _missing("calendar_owners", "calendar")
    started = utcnow()
    low, high = started - timedelta(days=opts.lookback_days), started + timedelta(days=opts.horizon_days)
    seen: set[str] = set()
    for owner in opts.calendar_owners:
        for raw in _events(conn, owner, low, high):
            try:
                event_id, _summary = rec.text(raw, "id"), rec.text(raw, "summary")
            except rec.Bad as exc:
                yield Malformed(f"calendar event: {exc}", raw, rec.ident(raw, "id"))
                continue
            if event_id not in seen and rec.is_interview(raw, opts.interview_keywords):
                seen.add(event_id)
                yield from _event_evidence(conn, owner, raw, started)
    yield Checkpoint({}, watermark=started)


def _events(conn: DingTalkConnector, owner: str, low: datetime, high: datetime) -> Iterator[Any]:
    def page(token: str | None) -> tuple[list[Any], str | None]:
        body = conn.http.api.call("GET", EVENTS, path={"unionId": owner}, params={
            "timeMin": low.isoformat(), "timeMax": high.isoformat(), "maxResults": 100, "showDeleted": "true",
            **({"nextToken": token} if token else {})})
        return rec.records(body, "events"), body.get("nextToken") or None

    yield from items(cursor_pages(page, vendor="dingtalk"))


def _event_evidence(conn: DingTalkConnector, owner: str, raw: Any, now: datetime) -> Iterator[StreamItem]:
    marker = rec.parse_event_marker(raw.get("description") if isinstance(raw, Mapping) else None)
    try:
        event_id = rec.text(raw, "id")
        start, _end, _zone = rec.event_window(raw, conn.instance.timezone)
    except rec.Bad as exc:
        yield Malformed(f"calendar event: {exc}", raw, rec.ident(raw, "id"))
        return
    interview_id = (marker or {}).get("interview")
    if interview_id is None:
        interview = rec.event_interview(conn, raw)
        yield interview
        if isinstance(interview, Malformed):
            return
        interview_id = interview.id
    for attendee in rec.records(raw, "attendees"):
        if isinstance(attendee, Mapping) and attendee.get("responseStatus") == "declined":
            yield rec.declined(conn, attendee, event_id, interview_id, start)
    if raw.get("status") == "cancelled" or start > now + timedelta(hours=1):
        return  # nobody checks in to a cancelled or far-off event

    def page(token: str | None) -> tuple[list[Any], str | None]:
        body = conn.http.api.call("GET", SIGNIN, path={"unionId": owner, "eventId": event_id}, params={
            "type": "check_in", "maxResults": 500, **({"nextToken": token} if token else {})})
        return rec.records(body, "users"), body.get("nextToken") or None

    for user in items(cursor_pages(page, vendor="dingtalk")):
        yield rec.check_in(conn, user, event_id, interview_id)


# ---------------------------------------------------------------- tasks and approvals (§5, §8)


def read_tasks(conn: DingTalkConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    """State of the todos and approval instances Lifeline created, yielded when it changes.

    Todos: those `create_task` handed in (cursor key `new_todos`), then the operator's todos with a
    `sourceId` (open ones, and done ones due within the lookback; Lifeline always sets a due time).
    Approvals: those `create_approval` handed in (`new_approvals`), instances of `approval_process_codes`
    started since the last pass, and the still-open ones, kept when they carry the marker field.
    Cursor `{"todos": {taskId: open|done}, "approvals": {instanceId: [status, created ms]},
    "approvals_since": iso}`.
    """
    opts = conn.options
    started = utcnow()
    todos: dict[str, str] = dict(cursor.get("todos") or {})
    approvals: dict[str, list[Any]] = {k: list(v) for k, v in (cursor.get("approvals") or {}).items()}
    handed = [str(i) for i in cursor.get(NEW_TODOS) or []]
    new_approvals = [str(i) for i in cursor.get(NEW_APPROVALS) or []]
    if not (opts.operator_union_id or opts.approval_process_codes or approvals or new_approvals):
        raise _missing("operator_union_id` or `approval_process_codes", "tasks")
    if opts.operator_union_id:
        todos = yield from _todos(conn, opts.operator_union_id, todos, handed, started)
    elif handed:
        raise _missing("operator_union_id", "tasks")
    since = _since(cursor, "approvals_since", started - timedelta(days=opts.lookback_days))
    approvals = yield from _approvals(conn, approvals, new_approvals, since, started)
    yield Checkpoint({"todos": todos, "approvals": approvals, "approvals_since": started.isoformat()},
                     watermark=started)


def _todos(conn: DingTalkConnector, owner: str, known: dict[str, str], handed: list[str],
           now: datetime) -> Generator[StreamItem, None, dict[str, str]]:
    api, low = conn.http.api, _ms(now - timedelta(days=conn.options.lookback_days))

    def cards(done: bool) -> Iterator[Any]:
        def page(token: str | None) -> tuple[list[Any], str | None]:
            body = api.call("POST", TODO_LIST, path={"unionId": owner}, idempotent=True, json={
                "isDone": done, "roleTypes": [["creator"]], **({"fromDueTime": low} if done else {}),
                **({"nextToken": token} if token else {})})
            return rec.records(body, "todoCards"), body.get("nextToken") or None

        yield from items(cursor_pages(page, vendor="dingtalk"))

    listed: list[tuple[str, str | None]] = [(task_id, None) for task_id in handed if task_id not in known]
    for card in [*cards(False), *cards(True)]:
        try:
            task_id, done = rec.text(card, "taskId"), rec.flag(card, "isDone")
        except rec.Bad as exc:
            yield Malformed(f"todo card: {exc}", card, rec.ident(card, "taskId"))
            continue
        if isinstance(card, Mapping) and card.get("sourceId"):  # else not made by Lifeline
            listed.append((task_id, "done" if done else "open"))
    current: dict[str, str] = {}
    for task_id, state in listed:
        if state is not None and current.get(task_id, known.get(task_id)) == state:
            current[task_id] = state  # unchanged
            continue
        try:
            todo = api.call("GET", TODO_GET, path={"unionId": owner, "taskId": task_id})
        except NotFound:
            continue  # deleted since it was listed
        found = rec.todo_records(conn, todo)
        yield from found
        if not any(isinstance(r, Malformed) for r in found):  # else read it again next pass
            current[task_id] = "done" if todo.get("done") is True else "open"
    return current


def _approvals(conn: DingTalkConnector, known: dict[str, list[Any]], handed: list[str], since: datetime,
               now: datetime) -> Generator[StreamItem, None, dict[str, list[Any]]]:
    api, opts = conn.http.api, conn.options
    new: dict[str, None] = dict.fromkeys(i for i in handed if i not in known)
    for code in opts.approval_process_codes:
        for found in instance_ids(conn, code, since, now):
            if isinstance(found, Malformed):
                yield found
            elif found not in known:
                new[found] = None
    again = [k for k, (status, _) in known.items() if status in OPEN_APPROVAL or status == RETRY]
    for instance_id in [*new, *again]:
        try:
            body = api.call("GET", INSTANCE, params={"processInstanceId": instance_id})
        except NotFound:
            known.pop(instance_id, None)
            continue
        result = body.get("result") if isinstance(body, Mapping) else None
        record = rec.approval_request(conn, instance_id, result, opts.approval_marker_field)
        if record is None:
            known[instance_id] = ["FOREIGN", _ms(now)]
            continue
        yield record
        if isinstance(record, Malformed):
            known[instance_id] = [RETRY, known.get(instance_id, [RETRY, _ms(now)])[1]]
        else:
            known[instance_id] = [str(rec.text(result, "status")), _ms(record.occurred_at)]
    horizon = _ms(since - timedelta(days=1))
    return {k: v for k, v in known.items() if v[0] in OPEN_APPROVAL or int(v[1]) >= horizon}


def instance_ids(conn: DingTalkConnector, process_code: str, low: datetime, high: datetime,
                 users: list[str] | None = None) -> Iterator[str | Malformed]:
    """Ids of `process_code` instances started in [low, high] (optionally by `users`), oldest first."""
    def page(offset: int) -> tuple[list[Any], bool, int | None]:
        body = conn.http.api.call("POST", INSTANCE_IDS, idempotent=True, json={
            "processCode": process_code, "startTime": _ms(low), "endTime": _ms(high), "maxResults": 20,
            "nextToken": offset, **({"userIds": users} if users else {})})
        result = body.get("result") if isinstance(body, Mapping) else None
        token = result.get("nextToken") if isinstance(result, Mapping) else None
        return rec.records(result, "list"), token is not None, int(token) if token is not None else None

    for value in items(offset_pages(page, vendor="dingtalk")):
        yield value if isinstance(value, str) and value else Malformed(
            "instanceIds/query list: entry is not an instance id", value)


# ---------------------------------------------------------------- attendance (§6)


def read_attendance(conn: DingTalkConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    """Interviewers' absence signals (approved leave, absent, not signed) from today and `attendance_days` before.

    Normal clock-ins are not interview evidence and are skipped. Cursor: none needed (the window is re-read).
    """
    opts = conn.options
    if not opts.attendance_user_ids:
        raise _missing("attendance_user_ids", "attendance")
    started = utcnow()
    today = started.astimezone(zone_info(conn.instance.timezone)).date()
    first = today - timedelta(days=opts.attendance_days)
    window = {"workDateFrom": f"{first} 00:00:00", "workDateTo": f"{today} 00:00:00"}
    users = opts.attendance_user_ids
    for chunk in (users[i : i + 50] for i in range(0, len(users), 50)):
        def page(offset: int, chunk: list[str] = chunk) -> tuple[list[Any], bool, int | None]:
            body = conn.http.oapi.call("POST", ATTENDANCE, idempotent=True, json={
                **window, "userIdList": chunk, "offset": offset, "limit": 50})
            return rec.records(body, "recordresult"), bool(body.get("hasMore")), offset + 50

        for row in items(offset_pages(page, vendor="dingtalk")):
            signal = rec.attendance_signal(conn, row)
            if signal is not None:
                yield signal
    yield Checkpoint({}, watermark=started)


