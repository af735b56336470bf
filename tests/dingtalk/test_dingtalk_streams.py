"""Recruiting, calendar, tasks/approvals and attendance streams against the emulator (real HTTP)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector
from lifeline_hub.connectors.dingtalk.testing import Emulated, emulated, handoff
from lifeline_hub.core.connector import Checkpoint, Malformed, StreamItem
from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.http import InvalidRequest
from lifeline_hub.core.models import (
    Action,
    Attendance,
    DeliveryEvent,
    Interview,
    InterviewStatus,
    Notification,
    RescheduleRequest,
    utcnow,
)

HOUR = 3600.0


@pytest.fixture
def dt() -> Iterator[Emulated]:
    with emulated(users=5) as running:
        yield running


def read(connector: DingTalkConnector, stream: str, cursor: dict[str, Any] | None = None
         ) -> tuple[list[StreamItem], Checkpoint]:
    started = utcnow()
    out = list(connector.read(stream, cursor or {}))
    last = out[-1]
    assert isinstance(last, Checkpoint) and last.watermark is not None and last.watermark >= started
    return out[:-1], last


def of(kind: type[Any], items: list[StreamItem]) -> list[Any]:
    return [i for i in items if isinstance(i, kind)]


def action(kind: str, key: str, payload: dict[str, Any], interview: str = "acme.ats/iv-1") -> Action:
    return Action(idempotency_key=key, tenant="acme", connector="acme.dt", kind=kind, interview_id=interview,
                  due_at=utcnow(), payload=payload)


def test_ats_interviews_follow_changed_flows(dt: Emulated) -> None:
    now = time.time()
    first = dt.world.add_interview("cand-1", now + HOUR, now + 2 * HOUR, ["u2", "u3"], job_id="job-1")
    dt.world.add_interview("cand-2", now + 3 * HOUR, now + 4 * HOUR, ["u3"])
    connector = dt.connector(ats_op_user_id="u1")
    time.sleep(0.01)  # the emulator rounds modification times to the nearest ms
    items, checkpoint = read(connector, "interviews")
    interviews = {i.remote_id: i for i in of(Interview, items)}
    assert len(interviews) == 2
    one = interviews[f"ats:{first}"]
    assert one.candidate_id == "cand-1" and one.interviewer_ids == ("u2", "u3") and one.kind.value == "video"
    assert one.start_at.timestamp() == pytest.approx(now + HOUR, abs=0.01)
    assert one.status is InterviewStatus.scheduled and one.thread.ical_uid == f"{first}@ats.dingtalk.com"
    dt.world.cancel_interview(first)
    time.sleep(0.01)
    items, _ = read(connector, "interviews", dict(checkpoint.cursor))  # flows changed lately are read again
    assert {i.remote_id: i.status for i in of(Interview, items)}[f"ats:{first}"] is InterviewStatus.cancelled


def test_ats_stream_needs_its_operator(dt: Emulated) -> None:
    with pytest.raises(InvalidRequest, match="ats_op_user_id"):
        list(dt.connector().read("interviews", {}))


def test_calendar_interviews_check_ins_and_declines(dt: Emulated) -> None:
    now = time.time()
    connector = dt.connector(calendar_owners=["union1"], lookback_days=2, horizon_days=5)
    made = connector.perform(action("create_calendar_event", "ll-cal-1", {
        "organizer": "union1", "attendees": ["union2", "union3"], "summary": "Video interview: Zhang",
        "start_at": datetime.fromtimestamp(now - 600).astimezone().isoformat(),
        "end_at": datetime.fromtimestamp(now + HOUR).astimezone().isoformat(), "ical_uid": "iv-1@lifeline"}))
    plain = dt.world.add_calendar_event("union1", "二面 面试", now + 2 * HOUR, now + 3 * HOUR, ["union4"])
    dt.world.add_calendar_event("union1", "Team lunch", now, now + HOUR, ["union2"])
    dt.world.check_in(made.remote_id, "union2")
    dt.world.set_attendee_response(made.remote_id, "union3", "declined")
    items, _ = read(connector, "calendar")
    assert [i.remote_id for i in of(Interview, items)] == [f"event:{plain}"]  # Lifeline's own event is evidence only
    attendance = {i.remote_id: i for i in of(Attendance, items)}
    assert set(attendance) == {f"checkin:{made.remote_id}:union2", f"declined:{made.remote_id}:union3"}
    check_in = attendance[f"checkin:{made.remote_id}:union2"]
    assert check_in.interview_id == "acme.ats/iv-1" and check_in.role.value == "interviewer"
    assert attendance[f"declined:{made.remote_id}:union3"].leave_reason == "declined"
    dt.world.set_attendee_response(plain, "union4", "declined")
    connector.http.api.call("DELETE", "/v1.0/calendar/users/{unionId}/calendars/primary/events/{eventId}",
                            path={"unionId": "union1", "eventId": plain})
    items, _ = read(connector, "calendar")
    cancelled = next(i for i in of(Interview, items) if i.remote_id == f"event:{plain}")
    assert cancelled.status is InterviewStatus.cancelled and cancelled.status_raw == "cancelled"
    assert f"declined:{plain}:union4" in {i.remote_id for i in of(Attendance, items)}
    assert all(i.interview_id == "acme.dt/event:" + plain for i in of(Attendance, items) if plain in i.remote_id)


def test_tasks_stream_follows_todos_and_approvals(dt: Emulated) -> None:
    connector = dt.connector(operator_union_id="union1", approval_process_codes=["PROC-RESCHEDULE"])
    todo = connector.perform(action("create_task", "ll-task-1", {
        "assignees": ["union2"], "title": "Call the candidate", "description": "Read the invite, did not join.",
        "links": [{"label": "Evidence", "url": "https://lifeline.test/e/1"}]}))
    approval = connector.perform(action("create_approval", "ll-appr-1", {
        "originator": "u1", "approvers": ["u2"], "process_code": "PROC-RESCHEDULE", "title": "Reschedule",
        "fields": {"Reason": "candidate sick"}}))
    foreign = connector.http.api.call("POST", "/v1.0/workflow/processInstances", json={
        "processCode": "PROC-RESCHEDULE", "originatorUserId": "u3",
        "formComponentValues": [{"name": "Reason", "value": "not ours"}]})["instanceId"]
    items, checkpoint = read(connector, "tasks")
    note = of(Notification, items)[0]
    assert (note.remote_id, note.status.value, note.status_raw) == (f"todo:{todo.remote_id}", "delivered", "open")
    assert note.idempotency_key == "ll-task-1" and note.interview_id == "acme.ats/iv-1" and note.recipient == "union2"
    request = of(RescheduleRequest, items)[0]
    assert (request.remote_id, request.status.value) == (f"approval:{approval.remote_id}", "submitted")
    assert request.interview_id is None  # remediation ties it to the interview through the action's remote id
    assert checkpoint.cursor["approvals"][foreign][0] == "FOREIGN"

    items, checkpoint = read(connector, "tasks", dict(checkpoint.cursor))
    assert of(Notification, items) == [] and len(of(RescheduleRequest, items)) == 1  # open approvals re-read
    dt.world.set_todo_done(todo.remote_id, by="union2")
    dt.world.decide_approval(approval.remote_id, "refuse", remark="no slot")
    items, checkpoint = read(connector, "tasks", dict(checkpoint.cursor))
    done = of(DeliveryEvent, items)[0]
    assert (done.type.value, done.code, done.notification_id) == ("read", "done", f"acme.dt/todo:{todo.remote_id}")
    assert of(Notification, items)[0].status.value == "read"
    assert [r.status.value for r in of(RescheduleRequest, items)] == ["refused"]
    items, _ = read(connector, "tasks", dict(checkpoint.cursor))
    assert items == []  # nothing open, nothing changed


def test_handed_in_objects_are_read_even_when_settled_before_the_first_pass(dt: Emulated) -> None:
    connector = dt.connector(operator_union_id="union1")  # no approval_process_codes: nothing to discover
    todo = connector.perform(action("create_task", "ll-task-9", {
        "assignees": ["union2"], "title": "t", "description": "d", "due_at": "2020-01-01T00:00:00Z",
        "links": [{"label": "e", "url": "https://lifeline.test"}]}))
    approval = connector.perform(action("create_approval", "ll-appr-9", {
        "originator": "u1", "process_code": "PROC-OTHER", "title": "t"}))
    dt.world.set_todo_done(todo.remote_id)  # done long past its due time: in no todo listing any more
    dt.world.decide_approval(approval.remote_id, "agree")
    items, checkpoint = read(connector, "tasks", handoff({}, "tasks", todo, approval))
    assert [e.code for e in of(DeliveryEvent, items)] == ["done"]
    assert [r.status.value for r in of(RescheduleRequest, items)] == ["approved"]
    assert "new_todos" not in checkpoint.cursor and checkpoint.cursor["todos"] == {todo.remote_id: "done"}


def test_approval_states_map_to_request_states(dt: Emulated) -> None:
    connector = dt.connector(approval_process_codes=["P"])
    ids = [connector.perform(action("create_approval", f"ll-a{i}", {
        "originator": "u1", "approvers": ["u2"], "process_code": "P", "title": "t"})).remote_id for i in range(3)]
    dt.world.decide_approval(ids[0], "agree")
    dt.world.terminate_approval(ids[1])
    items, _ = read(connector, "tasks")
    assert {r.remote_id: r.status.value for r in of(RescheduleRequest, items)} == {
        f"approval:{ids[0]}": "approved", f"approval:{ids[1]}": "superseded", f"approval:{ids[2]}": "submitted"}


def test_attendance_gives_interviewer_absence_signals(dt: Emulated) -> None:
    now = time.time()
    today = datetime.now(dt.world.tz).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    leave = dt.world.add_leave("u2", today + 8 * HOUR, today + 19 * HOUR)
    dt.world.add_attendance("u3", today + 9 * HOUR, "OnDuty", "Absenteeism")
    dt.world.add_attendance("u3", today + 18 * HOUR, "OffDuty", "Normal", user_check_time=now)
    dt.world.add_attendance("u4", today - 10 * 86400 + 9 * HOUR, "OnDuty", "NotSigned")  # outside the window
    connector = dt.connector(attendance_user_ids=["u2", "u3", "u4"])
    items, _ = read(connector, "attendance")
    signals = {(a.participant_id, a.leave_reason, a.status_raw) for a in of(Attendance, items)}
    assert signals == {("u2", "approved_leave", "OnDuty/Normal/APPROVE"),
                       ("u2", "approved_leave", "OffDuty/Normal/APPROVE"), ("u3", "absent", "OnDuty/Absenteeism/USER")}
    assert all(a.role.value == "interviewer" and a.interview_id is None for a in of(Attendance, items))
    assert leave


def test_malformed_records_are_quarantined_and_healed_next_pass(dt: Emulated) -> None:
    now = time.time()
    for i in range(4):
        dt.world.add_interview("cand-1", now + i * HOUR, now + i * HOUR + 1800, ["u2"])
    connector = dt.connector(ats_op_user_id="u1")
    time.sleep(0.01)
    dt.world.configure_faults(Faults(malformed=1.0, seed=11))
    items, checkpoint = read(connector, "interviews")
    bad = of(Malformed, items)  # one flow id (the candidate has other flows) and one interview
    assert [b.reason.split(":")[0] for b in bad] == ["flows/search list", "cancelled"]
    assert len(of(Interview, items)) == 3
    dt.world.configure_faults(Faults())
    items, _ = read(connector, "interviews", dict(checkpoint.cursor))
    assert len(of(Interview, items)) == 4 and of(Malformed, items) == []
