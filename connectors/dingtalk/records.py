"""DingTalk objects to canonical records; data not in the documented shape becomes `Malformed`.

Shared by the polling streams and the callbacks, so a record reads the same whichever path saw it.
Markers Lifeline writes into what it creates (so the streams can tie them back to interviews):
- calendar events: a last description line `lifeline:uid=<ical uid>&seq=<n>&interview=<id>`;
- approval forms: the field `approval_marker_field` = `<idempotency key>|<interview id>` (the
  interview id is for people reading the form; lookups use the key);
- todos: a last description line `lifeline:interview=<id>` (the todo get answers carry no content fields);
  the todo's `sourceId` is the idempotency key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode

from lifeline_hub.core.connector import Connector, Malformed, describe_error
from lifeline_hub.core.models import (
    AppointmentThread,
    Attendance,
    Channel,
    DeliveryEvent,
    DeliveryType,
    Interview,
    InterviewKind,
    InterviewStatus,
    Notification,
    NotificationPurpose,
    Record,
    RequestStatus,
    RescheduleRequest,
    Role,
    canonical_id,
    from_epoch_millis,
    parse_instant,
    zone_info,
)

R = TypeVar("R", bound=Record)
_MARKER = re.compile(r"^lifeline:(\S+)$", re.MULTILINE)


class Bad(ValueError):
    """Vendor data not in the documented shape; the message names the field, never its value."""


# ---------------------------------------------------------------- typed reads


def field(raw: Any, key: str) -> Any:
    if not isinstance(raw, Mapping):
        raise Bad("record: expected an object")
    if raw.get(key) is None:
        raise Bad(f"{key}: missing")
    return raw[key]


def text(raw: Any, key: str) -> str:
    value = field(raw, key)
    if not isinstance(value, str) or not value:
        raise Bad(f"{key}: expected a non-empty string")
    return value


def ident(raw: Any, key: str) -> str | None:
    """An id for quarantine, when the record still has a usable one."""
    value = raw.get(key) if isinstance(raw, Mapping) else None
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def flag(raw: Any, key: str) -> bool:
    value = field(raw, key)
    if not isinstance(value, bool):
        raise Bad(f"{key}: expected a boolean")
    return value


def epoch_ms(raw: Any, key: str) -> datetime:
    value = field(raw, key)
    if isinstance(value, bool) or not (isinstance(value, int | float) or (isinstance(value, str) and value.isdigit())):
        raise Bad(f"{key}: expected epoch milliseconds")
    return from_epoch_millis(value)


def instant(raw: Any, key: str, zone: str) -> datetime:
    """A time string: ISO 8601 (`yyyy-MM-ddTHH:mmZ` from v1.0 APIs) or `yyyy-MM-dd HH:mm:ss` local time."""
    value = text(raw, key)
    try:
        return parse_instant(value, zone)
    except ValueError:
        raise Bad(f"{key}: expected a date-time") from None


def records(raw: Any, key: str) -> list[Any]:
    value = raw.get(key) if isinstance(raw, Mapping) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise Bad(f"{key}: expected a list")
    return value


def make(conn: Connector, model: type[R], raw: Any, remote_id: str | None,
         build: Callable[[], dict[str, Any]]) -> R | Malformed:
    """`model` from the fields `build` reads out of `raw`; any shape problem quarantines `raw`."""
    try:
        fields = build()
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, OSError) as exc:  # the last two: times
        return Malformed(reason=str(exc) if isinstance(exc, Bad) else describe_error(exc), payload=raw,
                         remote_id=remote_id)
    return conn.parse(model, raw, **fields)


# ---------------------------------------------------------------- recruiting (ATS)


def ats_interview(conn: Connector, raw: Any, candidate_id: str, kind: InterviewKind) -> Interview | Malformed:
    """One item of `interviews/query` (a candidate's interview)."""
    remote = ident(raw, "interviewId")

    def build() -> dict[str, Any]:
        interview_id = text(raw, "interviewId")
        cancelled = flag(raw, "cancelled")
        return {
            "remote_id": f"ats:{interview_id}", "kind": kind, "timezone": conn.instance.timezone,
            "start_at": epoch_ms(raw, "startTimeMillis"), "end_at": epoch_ms(raw, "endTimeMillis"),
            "status": InterviewStatus.cancelled if cancelled else InterviewStatus.scheduled,
            "status_raw": "cancelled" if cancelled else "active", "candidate_id": candidate_id,
            "thread": AppointmentThread(thread_id=f"ats:{interview_id}", ical_uid=f"{interview_id}@ats.dingtalk.com"),
            "interviewer_ids": tuple(text(i, "userId") for i in records(raw, "interviewers")),
        }

    return make(conn, Interview, raw, f"ats:{remote}" if remote else None, build)


# ---------------------------------------------------------------- calendar


def event_marker(ical_uid: str, sequence: int, interview_id: str | None) -> str:
    """The description line that ties a Lifeline-made calendar event to its interview."""
    values = {"uid": ical_uid, "seq": str(sequence), **({"interview": interview_id} if interview_id else {})}
    return f"lifeline:{urlencode(values)}"


def todo_marker(interview_id: str) -> str:
    """The description line that ties a Lifeline-made todo to its interview."""
    return f"lifeline:{urlencode({'interview': interview_id})}"


def parse_event_marker(description: Any) -> dict[str, str] | None:
    """The values of the last marker line of a description (calendar events and todos), None without one."""
    found = _MARKER.findall(description) if isinstance(description, str) else []
    if not found:
        return None
    return {k: v[0] for k, v in parse_qs(found[-1]).items()}


def event_window(raw: Any, zone: str) -> tuple[datetime, datetime, str]:
    """Start, end and zone of an event: `{dateTime, timeZone}` or all-day `{date}` (end date exclusive)."""
    out: list[datetime] = []
    for key in ("start", "end"):
        part = field(raw, key)
        if not isinstance(part, Mapping):
            raise Bad(f"{key}: expected an object")
        zone = str(part.get("timeZone") or zone)
        if part.get("dateTime"):
            out.append(instant(part, "dateTime", zone))
        else:
            try:
                day = date.fromisoformat(text(part, "date"))
            except ValueError:
                raise Bad(f"{key}.date: expected yyyy-MM-dd") from None
            out.append(datetime.combine(day, time(), zone_info(zone)))
    return out[0], out[1], zone


def is_interview(raw: Any, keywords: list[str]) -> bool:
    if isinstance(raw, Mapping) and parse_event_marker(raw.get("description")):
        return True
    summary = str(raw.get("summary") or "").lower() if isinstance(raw, Mapping) else ""
    return any(word.lower() in summary for word in keywords)


def event_interview(conn: Connector, raw: Any) -> Interview | Malformed:
    """An interview that exists only as a calendar event (not made by Lifeline)."""
    remote = ident(raw, "id")

    def build() -> dict[str, Any]:
        event_id = text(raw, "id")
        start, end, zone = event_window(raw, conn.instance.timezone)
        meeting = raw.get("onlineMeetingInfo")
        url = meeting.get("url") if isinstance(meeting, Mapping) else None
        people = [text(raw["organizer"], "id")] if isinstance(raw.get("organizer"), Mapping) else []
        people += [text(a, "id") for a in records(raw, "attendees")]
        status = str(raw.get("status") or "confirmed")
        updated = instant(raw, "updateTime", "UTC") if raw.get("updateTime") else None
        return {
            "remote_id": f"event:{event_id}", "start_at": start, "end_at": end, "timezone": zone,
            "kind": InterviewKind.video if url else InterviewKind.onsite, "join_url": url,
            "platform": "dingtalk" if url else None, "status_raw": status,
            "status": InterviewStatus.cancelled if status == "cancelled" else InterviewStatus.scheduled,
            "thread": AppointmentThread(thread_id=f"event:{event_id}", ical_uid=event_id),
            "interviewer_ids": tuple(dict.fromkeys(people)), "source_updated_at": updated,
        }

    return make(conn, Interview, raw, f"event:{remote}" if remote else None, build)


def check_in(conn: Connector, raw: Any, event_id: str, interview_id: str) -> Attendance | Malformed:
    """A calendar check-in (`signin?type=check_in`): an org member (interviewer side) was there."""
    return make(conn, Attendance, raw, None, lambda: {
        "remote_id": f"checkin:{event_id}:{text(raw, 'userId')}", "interview_id": interview_id,
        "occurred_at": epoch_ms(raw, "checkInTime"), "role": Role.interviewer,
        "participant_id": text(raw, "userId"), "status_raw": "check_in",
    })


def declined(conn: Connector, raw: Any, event_id: str, interview_id: str, start: datetime) -> Attendance | Malformed:
    """An attendee who declined the event: an interviewer-absence cause signal (never attendance)."""
    return make(conn, Attendance, raw, None, lambda: {
        "remote_id": f"declined:{event_id}:{text(raw, 'id')}", "interview_id": interview_id,
        "occurred_at": start, "role": Role.interviewer, "participant_id": text(raw, "id"),
        "leave_reason": "declined", "status_raw": "declined",
    })


# ---------------------------------------------------------------- approvals and todos

_APPROVAL_STATUS = {"TERMINATED": RequestStatus.superseded, "CANCELED": RequestStatus.superseded}
_EVENT_STATUS = {"start": RequestStatus.submitted, "terminate": RequestStatus.superseded}


def approval_marker(result: Any, marker_field: str) -> str | None:
    """The idempotency key in an instance's marker field (`<key>|<interview id>`); None for foreign ones."""
    for item in records(result, "formComponentValues"):
        if isinstance(item, Mapping) and item.get("name") == marker_field and isinstance(item.get("value"), str):
            return str(item["value"]).partition("|")[0]
    return None


def approval_request(conn: Connector, instance_id: str, result: Any, marker_field: str
                     ) -> RescheduleRequest | Malformed | None:
    """A Lifeline approval instance (`processInstances` get `result`) as a request with its state.

    Remediation ties it to its interview through the approval action's remote id, so the record
    carries no interview id: a callback (which sees no form) gives exactly the same record.
    """
    if approval_marker(result, marker_field) is None:
        return None

    def build() -> dict[str, Any]:
        status, outcome = text(result, "status"), str(result.get("result") or "").lower()
        if status == "COMPLETED" and outcome in ("agree", "refuse"):
            state = RequestStatus.approved if outcome == "agree" else RequestStatus.refused
        else:
            state = _APPROVAL_STATUS.get(status, RequestStatus.submitted)
        return {"remote_id": f"approval:{instance_id}", "status": state, "requested_by": Role.candidate,
                "occurred_at": instant(result, "createTime", "UTC")}

    return make(conn, RescheduleRequest, result, f"approval:{instance_id}", build)


def approval_event_request(conn: Connector, event: Mapping[str, Any]) -> RescheduleRequest | Malformed | None:
    """A `bpms_instance_change` event as the same record `approval_request` gives (None: no final state)."""
    kind, outcome = event.get("type"), event.get("result")
    state = {"agree": RequestStatus.approved, "refuse": RequestStatus.refused}.get(str(outcome)) \
        if kind == "finish" else _EVENT_STATUS.get(str(kind))
    if state is None:
        return None

    def build() -> dict[str, Any]:
        created = epoch_ms(event, "createTime").replace(second=0, microsecond=0)  # the v1.0 get has minutes
        return {"remote_id": f"approval:{text(event, 'processInstanceId')}", "status": state,
                "requested_by": Role.candidate, "occurred_at": created}

    return make(conn, RescheduleRequest, event, f"approval:{ident(event, 'processInstanceId')}", build)


def todo_records(conn: Connector, todo: Any) -> list[Record | Malformed]:
    """A Lifeline todo (get-by-id shape) as an HR-task notification; done adds a `read` (code done) event."""
    remote = ident(todo, "id")
    marker = parse_event_marker(todo.get("description")) if isinstance(todo, Mapping) else None
    interview_id = (marker or {}).get("interview") or None

    def build() -> dict[str, Any]:
        executors = [str(e) for e in records(todo, "executorIds")]
        done = flag(todo, "done")
        return {
            "remote_id": f"todo:{text(todo, 'id')}", "interview_id": interview_id,
            "occurred_at": epoch_ms(todo, "createdTime"), "purpose": NotificationPurpose.hr_task,
            "channel": Channel.dingtalk, "recipient": ",".join(executors) or text(todo, "creatorId"),
            "status": "read" if done else "delivered", "status_raw": "done" if done else "open",
            "idempotency_key": todo.get("sourceId") or None,
        }

    note = make(conn, Notification, todo, f"todo:{remote}" if remote else None, build)
    out: list[Record | Malformed] = [note]
    if isinstance(note, Notification) and note.status_raw == "done":
        out.append(todo_done(conn, todo, text(todo, "id"), "finishTime" if todo.get("finishTime") else "modifiedTime"))
    return out


def todo_done(conn: Connector, raw: Any, task_id: str, time_key: str) -> DeliveryEvent | Malformed:
    """HR completed todo `task_id`: a `read` event with code `done` on its notification (no interview id:
    it is HR's action, never a candidate's read)."""
    note = f"todo:{task_id}"
    return make(conn, DeliveryEvent, raw, f"{note}:done", lambda: {
        "remote_id": f"{note}:done", "notification_id": canonical_id(conn.instance.name, note),
        "type": DeliveryType.read, "channel": Channel.dingtalk, "code": "done", "status_raw": "done",
        "occurred_at": epoch_ms(raw, time_key),
    })


# ---------------------------------------------------------------- attendance

_ABSENT = {"Absenteeism": "absent", "NotSigned": "not_signed"}


def attendance_signal(conn: Connector, row: Any) -> Attendance | Malformed | None:
    """A clock-in result row that explains an interviewer's absence (approved leave, absent, not signed).

    Normal rows are not interview evidence and give None.
    """
    remote = ident(row, "recordId") or ident(row, "id")

    def build() -> dict[str, Any]:
        source, result = text(row, "sourceType"), text(row, "timeResult")
        reason = "approved_leave" if source == "APPROVE" or row.get("procInstId") else _ABSENT.get(result)
        if reason is None:
            return {}
        return {
            "remote_id": f"attendance:{remote or text(row, 'recordId')}", "role": Role.interviewer,
            "participant_id": text(row, "userId"), "occurred_at": epoch_ms(row, "baseCheckTime"),
            "leave_reason": reason, "status_raw": f"{text(row, 'checkType')}/{result}/{source}",
        }

    try:
        fields = build()
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return Malformed(str(exc) if isinstance(exc, Bad) else describe_error(exc), row, remote)
    return conn.parse(Attendance, row, **fields) if fields else None

