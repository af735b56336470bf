"""Polled streams against the emulator: Hire interviews, RSVPs, VC attendance, task and approval state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from feishu_kit import T0, Rig, action, rig

from lifeline_hub.core import Checkpoint, Malformed
from lifeline_hub.core.models import (
    Attendance,
    Confirmation,
    ConfirmationAction,
    DeliveryEvent,
    Interview,
    InterviewKind,
    InterviewStatus,
    RequestStatus,
    RescheduleRequest,
    Role,
)

HOUR_MS = 3_600_000
NOW_MS = int(T0 * 1000)


def records(items: list[Any], kind: type[Any]) -> list[Any]:
    return [i for i in items if isinstance(i, kind)]


def checkpoint(items: list[Any]) -> Checkpoint:
    assert isinstance(items[-1], Checkpoint)
    return items[-1]


# -- interviews -----------------------------------------------------------------------------------------


def test_interviews_in_the_window_with_kinds_ids_and_status() -> None:
    with rig(interview_horizon_days=10) as r:
        w = r.world
        alice = w.add_user("Alice")
        video = w.add_hire_interview("7001", "9001", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS, [alice["open_id"]])
        phone = w.add_hire_interview("7002", "9002", NOW_MS - HOUR_MS, NOW_MS, interview_type=2)
        w.add_hire_interview("7003", "9003", NOW_MS + 11 * 86400_000, NOW_MS + 11 * 86400_000 + HOUR_MS)
        w.add_hire_interview("7004", "9004", NOW_MS - 4 * 86400_000, NOW_MS - 4 * 86400_000 + HOUR_MS)
        items = r.read("interviews")
        got = {i.remote_id: i for i in records(items, Interview)}
        assert set(got) == {video, phone}
        first = got[video]
        assert first.kind is InterviewKind.video and first.platform == "feishu"
        assert first.start_at == datetime.fromtimestamp(T0 + 3600, UTC) and first.application_id == "7001"
        assert first.interviewer_ids == (f"open_id:{alice['open_id']}",)
        assert first.status is InterviewStatus.scheduled and first.status_raw == "interview_round_summary=2"
        assert first.thread.thread_id == f"acme.feishu/{video}" and first.thread.sequence == 0
        assert got[phone].kind is InterviewKind.phone and got[phone].platform is None
        mark = checkpoint(items)
        assert set(mark.cursor["seen"]) == {video, phone}
        assert mark.watermark is not None and abs(mark.watermark.timestamp() - T0) < 5


def test_id_type_is_carried_into_records() -> None:
    with rig(id_type="union_id") as r:
        alice = r.world.add_user("Alice")
        r.world.add_hire_interview("7001", "9001", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS, [alice["open_id"]])
        (interview,) = records(r.read("interviews"), Interview)
        assert interview.interviewer_ids == (f"union_id:{alice['union_id']}",)


def test_feedback_completes_and_reschedules_bump_the_sequence() -> None:
    with rig() as r:
        w = r.world
        alice = w.add_user("Alice")
        iid = w.add_hire_interview("7001", "9001", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS, [alice["open_id"]])
        cursor = checkpoint(r.read("interviews")).cursor
        w.update_hire_interview(iid, begin_time=NOW_MS + 5 * HOUR_MS, end_time=NOW_MS + 6 * HOUR_MS)
        items = r.read("interviews", dict(cursor))
        (moved,) = records(items, Interview)
        assert moved.thread.sequence == 1 and moved.start_at == datetime.fromtimestamp(T0 + 5 * 3600, UTC)
        w.record_feedback(iid, alice["open_id"], conclusion=1)
        (done,) = records(r.read("interviews", dict(checkpoint(items).cursor)), Interview)
        assert done.status is InterviewStatus.completed and done.thread.sequence == 1


def test_an_interview_moved_out_of_the_window_is_followed_and_a_deleted_one_cancelled() -> None:
    with rig(interview_horizon_days=5) as r:
        w = r.world
        far, gone = (w.add_hire_interview(a, "9", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS) for a in ("71", "72"))
        cursor = checkpoint(r.read("interviews")).cursor
        w.update_hire_interview(far, begin_time=NOW_MS + 20 * 86400_000, end_time=NOW_MS + 20 * 86400_000 + HOUR_MS)
        del w.interviews[gone]
        before = r.calls("hire.interview.list")
        items = r.read("interviews", dict(cursor))
        assert r.calls("hire.interview.list") - before == 3  # the window, then each missing one by application
        got = {i.remote_id: i for i in records(items, Interview)}
        assert got[far].thread.sequence == 1 and got[far].status is InterviewStatus.scheduled
        assert got[gone].status is InterviewStatus.cancelled and got[gone].status_raw == "deleted"
        cursor = checkpoint(items).cursor
        assert set(cursor["seen"]) == {far}  # followed until it is back in the window
        r.clock.advance(16 * 86400)
        (back,) = records(r.read("interviews", dict(cursor)), Interview)
        assert back.remote_id == far and back.thread.sequence == 1


def test_a_bad_interview_is_malformed_with_its_reason() -> None:
    with rig() as r:
        iid = r.world.add_hire_interview("7001", "9001", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS)
        r.world.update_hire_interview(iid, interview_type=42)
        items = r.read("interviews")
        (bad,) = [i for i in items if isinstance(i, Malformed)]
        assert bad.remote_id == iid and bad.reason == "KeyError: 42"
        assert checkpoint(items).watermark is None  # the snapshot lacks that interview: no completeness claim
        r.world.update_hire_interview(iid, interview_type=3, end_time=NOW_MS)
        (bad,) = [i for i in r.read("interviews") if isinstance(i, Malformed)]
        assert "ends before it starts" in bad.reason


# -- RSVPs ----------------------------------------------------------------------------------------------


def calendar_event(r: Rig, interview_id: str | None = "acme.hire/42", sequence: int = 0, **payload: Any) -> str:
    organizer = r.world.add_user("HR")
    body = {
        "organizer": organizer["open_id"],
        "summary": "Interview",
        "start_at": datetime.fromtimestamp(T0 + 3600, UTC).isoformat(),
        "end_at": datetime.fromtimestamp(T0 + 7200, UTC).isoformat(),
        "ical_uid": "iv-42@lifeline",
        "sequence": sequence,
        **payload,
    }
    return r.connector.perform(action("create_calendar_event", body, interview_id=interview_id)).remote_id


def test_rsvps_of_external_attendees_on_lifeline_events() -> None:
    with rig() as r:
        w, cal = r.world, r.connector.config.calendar_id
        assert cal is not None
        event_id = calendar_event(r)
        other = w.add_calendar_event(cal, "Team lunch", int(T0), int(T0) + 3600)
        guest = w.add_attendee(cal, event_id, email="candidate@example.com")
        w.add_attendee(cal, other, email="friend@example.com", rsvp="accept")
        colleague = w.add_user("Colleague")
        w.add_attendee(cal, event_id, user=colleague["open_id"], rsvp="decline")
        items = r.read("rsvps")
        assert records(items, Confirmation) == []
        w.set_rsvp(cal, event_id, guest, "accept")
        r.clock.advance(60)
        items = r.read("rsvps", dict(checkpoint(items).cursor))
        (yes,) = records(items, Confirmation)
        assert yes.remote_id == f"{event_id}/{guest}" and yes.action is ConfirmationAction.confirm
        assert yes.interview_id == "acme.hire/42" and yes.sequence_seen == 0
        w.set_rsvp(cal, event_id, guest, "decline")
        r.clock.advance(60)
        (no,) = records(r.read("rsvps", dict(checkpoint(items).cursor)), Confirmation)
        assert no.remote_id == yes.remote_id and no.action is ConfirmationAction.decline
        assert no.occurred_at > yes.occurred_at


# -- VC attendance ----------------------------------------------------------------------------------------


def test_attendance_from_the_meeting_report_until_it_is_final() -> None:
    with rig(meeting_attendance=True) as r:
        w = r.world
        event_id = calendar_event(r)
        assert w.calendar_events[event_id].fields["vchat"] == {"vc_type": "vc"}  # no meeting_url, as on Feishu
        interviewer = w.add_user("Interviewer")
        meeting = w.hold_meeting("123456789", int(T0) + 3600, int(T0) + 6000, "Interview")  # the event's title
        w.hold_meeting("987654321", int(T0) + 3600, int(T0) + 6000, "Another team's sync")
        w.hold_meeting("555555555", int(T0) + 7300, int(T0) + 7400, "Interview")  # after the event: not it
        ended = "主持人结束会议"
        w.join_meeting(meeting, int(T0) + 3650, int(T0) + 6000, user=interviewer["open_id"], leave_reason=ended)
        w.join_meeting(meeting, int(T0) + 3700, int(T0) + 4000, name="Candidate", leave_reason="网络异常")
        w.join_meeting(meeting, int(T0) + 4100, int(T0) + 6000, name="Candidate", leave_reason=ended)
        r.clock.advance(7300)  # the event ended, its report is not final yet
        items = r.read("attendance")
        got = sorted(records(items, Attendance), key=lambda a: a.occurred_at)
        assert [a.role for a in got] == [Role.interviewer, Role.candidate, Role.candidate]
        assert got[0].participant_id == f"open_id:{interviewer['open_id']}"
        assert got[1].participant_id == got[2].participant_id and got[1].participant_id.startswith("guest:")
        assert got[1].leave_reason == "网络异常" and got[1].left_at == datetime.fromtimestamp(T0 + 4000, UTC)
        assert {a.interview_id for a in got} == {"acme.hire/42"}
        mark = checkpoint(items)
        assert mark.watermark == datetime.fromtimestamp(T0 + 3600, UTC) and mark.cursor["done"] == {}
        r.clock.advance(2 * 3600)
        items = r.read("attendance", dict(mark.cursor))
        assert len(records(items, Attendance)) == 3
        mark = checkpoint(items)
        assert mark.cursor["done"] == {event_id: int(T0) + 7200}
        assert mark.watermark is not None and mark.watermark.timestamp() > T0 + 9000
        before = r.calls("vc.meeting_list.get")
        assert records(r.read("attendance", dict(mark.cursor)), Attendance) == []
        assert r.calls("vc.meeting_list.get") == before


def test_attendance_needs_the_vc_scope_setting() -> None:
    with rig() as r, pytest.raises(ValueError, match="meeting_attendance = true"):
        r.read("attendance")


# -- tasks and approvals ------------------------------------------------------------------------------------


def test_task_state_done_and_reopened() -> None:
    with rig(tasklist_guid="tl-0001-lifeline") as r:
        hr = r.world.add_user("HR")
        guid = r.connector.perform(
            action("create_task", {"assignees": [hr["open_id"]], "title": "Call back", "description": "d"})
        ).remote_id
        items = r.read("tasks")
        assert records(items, DeliveryEvent) == []
        r.world.complete_task(guid, hr["open_id"])
        items = r.read("tasks", dict(checkpoint(items).cursor))
        (done,) = records(items, DeliveryEvent)
        assert done.remote_id == f"task/{guid}/state" and done.status_raw == "done" and done.type.value == "read"
        assert done.notification_id == f"acme.feishu/task/{guid}"
        r.world.tasks[guid].completed_ms = 0
        (reopened,) = records(r.read("tasks", dict(checkpoint(items).cursor)), DeliveryEvent)
        assert reopened.status_raw == "todo" and reopened.type.value == "delivered"


def test_approval_state_until_final_and_only_lifelines() -> None:
    with rig(approval_codes=("RESCHEDULE",)) as r:
        w = r.world
        w.add_approval_definition("RESCHEDULE", "Reschedule")
        hr = w.add_user("HR")
        payload = {"originator": hr["open_id"], "process_code": "RESCHEDULE", "title": "Reschedule", "fields": {}}
        code = r.connector.perform(action("create_approval", payload)).remote_id
        body = {"approval_code": "RESCHEDULE", "open_id": hr["open_id"], "form": "[]", "uuid": "someone-else"}
        r.connector.client.call("POST", "/open-apis/approval/v4/instances", "approval.instance.create", json=body)
        items = r.read("approvals")
        (pending,) = records(items, RescheduleRequest)
        assert pending.remote_id == f"approval/{code}" and pending.status is RequestStatus.submitted
        assert checkpoint(items).cursor["open"] == {code: "RESCHEDULE"}
        w.decide_approval(code, "APPROVED")
        items = r.read("approvals", dict(checkpoint(items).cursor))
        (approved,) = records(items, RescheduleRequest)
        assert approved.status is RequestStatus.approved and approved.requested_by is Role.hr
        assert checkpoint(items).cursor["open"] == {}
