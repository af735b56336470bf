"""Action sinks against the emulator: one todo per idempotency key (also after a lost response), one
approval per key (looked up before creating again), calendar updates in place, message shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from lifeline_hub.connectors.dingtalk.records import parse_event_marker
from lifeline_hub.connectors.dingtalk.testing import Emulated, emulated
from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.http import InvalidRequest, TransientError
from lifeline_hub.core.models import Action, utcnow


@pytest.fixture
def dt() -> Iterator[Emulated]:
    with emulated(users=4) as running:
        yield running


def action(kind: str, key: str, payload: dict[str, Any]) -> Action:
    return Action(idempotency_key=key, tenant="acme", connector="acme.dt", kind=kind, interview_id="acme.ats/iv-7",
                  due_at=utcnow(), payload=payload)


TASK = {"assignees": ["union2", "union3"], "title": "Decide: candidate read the invite but did not join",
        "description": "Invite read 09:12; no join attempt.", "links": [{"label": "Evidence",
                                                                         "url": "https://lifeline.test/e/7"}]}
APPROVAL = {"originator": "u1", "approvers": ["u2", "u3"], "process_code": "PROC-RESCHEDULE",
            "title": "Reschedule interview", "fields": {"Reason": "candidate ill", "Slots": "Mon 10:00"}}
EVENT = {"organizer": "union1", "attendees": ["union2"], "summary": "Interview: Zhang San",
         "start_at": "2030-03-01T02:00:00Z", "end_at": "2030-03-01T03:00:00Z", "ical_uid": "iv-7@lifeline.test"}


def stalling(timeout_p: float, seed: int = 0) -> Faults:
    """Responses stall 0.6 s (after the vendor did the work); the connectors below give up after 0.3 s."""
    return Faults(timeout=timeout_p, timeout_seconds=0.6, seed=seed)


def test_same_todo_twice_is_one_todo(dt: Emulated) -> None:
    connector = dt.connector(operator_union_id="union1")
    first = connector.perform(action("create_task", "ll-task-1", TASK))
    again = connector.perform(action("create_task", "ll-task-1", TASK))
    assert again.remote_id == first.remote_id and again.detail["recovered"] is True
    assert first.detail == {"sourceId": "ll-task-1"}
    assert first.handoff == {"tasks": {"new_todos": [first.remote_id]}}
    todo, = dt.world.todo_list()
    assert todo["sourceId"] == "ll-task-1" and todo["executorIds"] == ["union2", "union3"]
    assert todo["detailUrl"] == {"appUrl": "https://lifeline.test/e/7", "pcUrl": "https://lifeline.test/e/7"}
    assert todo["description"] == ("Invite read 09:12; no join attempt.\nEvidence: https://lifeline.test/e/7\n\n"
                                   "lifeline:interview=acme.ats%2Fiv-7")  # the get answers carry no content fields
    assert parse_event_marker(todo["description"]) == {"interview": "acme.ats/iv-7"}
    assert todo["dueTime"] > 0


def test_todo_marker_survives_a_description_at_the_limit(dt: Emulated) -> None:
    connector = dt.connector(operator_union_id="union1")
    connector.perform(action("create_task", "ll-task-long", {**TASK, "description": "x" * 5000, "links": [
        {"label": "Evidence", "url": "https://lifeline.test/e/7"}]}))
    todo, = dt.world.todo_list()
    assert len(todo["description"]) == 4096 and todo["description"].endswith("\n\nlifeline:interview=acme.ats%2Fiv-7")


def test_todo_after_a_lost_response_is_recovered_not_doubled(dt: Emulated) -> None:
    connector = dt.connector(operator_union_id="union1", read_timeout_seconds=0.3)
    connector.check()  # tokens first: the faults below hit only the create
    dt.world.configure_faults(stalling(0.5, seed=1))  # create stalls (created), retry says "task exist"
    result = connector.perform(action("create_task", "ll-task-2", TASK))
    assert result.detail["recovered"] is True and len(dt.world.todo_list()) == 1
    dt.world.configure_faults(stalling(1.0))
    connector.http.api.max_attempts = 2
    with pytest.raises(TransientError):  # every answer lost: the dispatcher will try again later
        connector.perform(action("create_task", "ll-task-3", TASK))
    dt.world.configure_faults(Faults())
    later = connector.perform(action("create_task", "ll-task-3", TASK))
    assert later.detail["recovered"] is True
    assert sorted(t["sourceId"] for t in dt.world.todo_list()) == ["ll-task-2", "ll-task-3"]


def test_approval_is_looked_up_before_it_is_created_again(dt: Emulated) -> None:
    connector = dt.connector(read_timeout_seconds=0.3)
    first = connector.perform(action("create_approval", "ll-appr-1", APPROVAL))
    searches = [n for (_, api), n in dt.world.call_counts().items() if api.endswith("/instanceIds/query")]
    assert searches == []  # a first hand-over creates without searching the originator's instances
    handed = action("create_approval", "ll-appr-1", APPROVAL).model_copy(update={
        "maybe_sent": True, "handed_at": utcnow() - timedelta(minutes=1)})  # an earlier worker may have created it
    again = connector.perform(handed)
    assert again.remote_id == first.remote_id and again.detail["recovered"] is True
    assert first.handoff == {"tasks": {"new_approvals": [first.remote_id]}}
    instance, = dt.world.approval_list()
    assert instance["approvers"] == ["u2", "u3"]
    assert {f["name"]: f["value"] for f in instance["form"]} == {
        "Reason": "candidate ill", "Slots": "Mon 10:00", "Lifeline-Ref": "ll-appr-1|acme.ats/iv-7"}
    connector.perform(action("create_approval", "ll-appr-2", APPROVAL))
    assert len(dt.world.approval_list()) == 2  # another key is another instance


def test_approval_after_a_lost_response_is_found_not_doubled(dt: Emulated) -> None:
    connector = dt.connector(read_timeout_seconds=0.3)
    connector.check()
    dt.world.configure_faults(stalling(0.5, seed=1))  # the create stalls, the lookup after it finds it
    made = connector.perform(action("create_approval", "ll-appr-3", APPROVAL))
    assert made.detail["recovered"] is True and len(dt.world.approval_list()) == 1
    dt.world.configure_faults(stalling(0.5, seed=4))  # the create and the lookup after it stall
    connector.http.api.max_attempts = 2
    with pytest.raises(TransientError):
        connector.perform(action("create_approval", "ll-appr-4", APPROVAL))
    assert len(dt.world.approval_list()) == 2  # the vendor did create it
    dt.world.configure_faults(Faults())
    retried = connector.perform(action("create_approval", "ll-appr-4", APPROVAL).model_copy(update={
        "maybe_sent": True}))
    assert retried.detail["recovered"] is True and len(dt.world.approval_list()) == 2


def test_calendar_event_is_created_once_and_rescheduled_in_place(dt: Emulated) -> None:
    connector = dt.connector()
    created = connector.perform(action("create_calendar_event", "ll-cal-1", EVENT))
    repeat = connector.perform(action("create_calendar_event", "ll-cal-1", EVENT))  # x-client-token dedupe
    assert repeat.remote_id == created.remote_id and len(dt.world.events()) == 1
    moved = {**EVENT, "start_at": "2030-03-02T06:00:00Z", "end_at": "2030-03-02T07:00:00Z", "sequence": 1,
             "remote_event_id": created.remote_id}
    updated = connector.perform(action("update_calendar_event", "ll-cal-2", moved))
    event, = dt.world.events()
    assert updated.remote_id == created.remote_id == event["id"]
    assert event["start"] == {"dateTime": "2030-03-02T14:00:00+08:00", "timeZone": "Asia/Shanghai"}
    assert parse_event_marker(event["description"]) == {"uid": "iv-7@lifeline.test", "seq": "1",
                                                        "interview": "acme.ats/iv-7"}
    connector.perform(action("update_calendar_event", "ll-cal-3", {**moved, "status": "cancelled"}))
    assert dt.world.events()[0]["status"] == "cancelled"
    with pytest.raises(InvalidRequest, match="remote_event_id"):
        connector.perform(action("update_calendar_event", "ll-cal-4", EVENT))


def test_message_shapes(dt: Emulated) -> None:
    connector = dt.connector()
    connector.perform(action("send_message", "ll-m-1", {"recipients": ["u1"], "title": "T", "text": "Body",
                                                        "links": [{"label": "Yes", "url": "https://l.test/y"},
                                                                  {"label": "No", "url": "https://l.test/n"}]}))
    connector.perform(action("send_message", "ll-m-2", {"recipients": ["u1"], "title": "T2", "text": "Plain"}))
    card, plain = (m["msg"] for m in dt.world.messages())
    assert card["msgtype"] == "action_card" and card["action_card"]["btn_json_list"] == [
        {"title": "Yes", "action_url": "https://l.test/y"}, {"title": "No", "action_url": "https://l.test/n"}]
    assert plain == {"msgtype": "markdown", "markdown": {"title": "T2", "text": "### T2\n\nPlain"}}
    robot = dt.connector(message_channel="robot")
    robot.perform(action("send_message", "ll-m-3", {"recipients": [f"u{i % 4 + 1}" for i in range(4)],
                                                    "title": "T", "text": "B"}))
    push, = dt.world.push_messages("robot")
    assert push["content"]["msgKey"] == "sampleMarkdown" and push["content"]["msgParam"]["title"] == "T"
    assert json.dumps(push["content"]["msgParam"], ensure_ascii=False)


def test_bad_payloads_and_missing_settings_fail_clearly(dt: Emulated) -> None:
    connector = dt.connector()
    with pytest.raises(InvalidRequest, match="recipients"):
        connector.perform(action("send_message", "ll-x", {"recipients": [], "title": "t", "text": "x"}))
    with pytest.raises(InvalidRequest, match="purpose"):
        connector.perform(action("send_message", "ll-x", {"recipients": ["u1"], "title": "t", "text": "x",
                                                          "purpose": "gossip"}))
    assert dt.world.messages() == []
    with pytest.raises(InvalidRequest, match="operator_union_id"):
        connector.perform(action("create_task", "ll-y", TASK))
    with pytest.raises(NotImplementedError):
        connector.perform(action("reissue_link", "ll-z", {}))
