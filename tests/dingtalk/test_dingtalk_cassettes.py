"""Replays of the connector's real HTTP exchanges with the emulator (scrubbed vcrpy cassettes).

Replay (default) needs no emulator. Re-record all of them after a connector change with:

    LIFELINE_RECORD=1 .venv/bin/pytest tests/dingtalk/test_dingtalk_cassettes.py

Recording starts the emulator in-process and drives its world directly (those calls are not HTTP,
so they are not recorded); tokens, secrets and phone numbers are scrubbed before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lifeline_hub.connectors.dingtalk.emulator_state import DingTalkWorld
from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector
from lifeline_hub.connectors.dingtalk.testing import Emulated, emulated, handoff
from lifeline_hub.core.connector import Checkpoint
from lifeline_hub.core.models import Action, DeliveryEvent, Interview, Notification, RescheduleRequest, utcnow
from lifeline_hub.core.testkit import cassette, recording

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes" / "dingtalk"
SETTINGS: dict[str, Any] = {"operator_union_id": "union1", "approval_process_codes": ["PROC-RESCHEDULE"],
                            "ats_op_user_id": "u1", "poll_workers": 1}


@contextmanager
def session(name: str) -> Iterator[tuple[Emulated, DingTalkConnector, bool]]:
    """A connector inside cassette `name`: against a live emulator when recording, else offline."""
    live = recording()
    with cassette(CASSETTES, name), (emulated(users=4) if live else _offline()) as dt:
        yield dt, dt.connector(**SETTINGS), live


@contextmanager
def _offline() -> Iterator[Emulated]:
    yield Emulated(DingTalkWorld(), "http://127.0.0.1:9")  # nothing listens there: replay answers


def act(connector: DingTalkConnector, kind: str, key: str, payload: dict[str, Any], again: bool = False) -> Any:
    """Perform a row; `again`: as the outbox performs a row an earlier worker handed over (`maybe_sent`)."""
    return connector.perform(Action(idempotency_key=key, tenant="acme", connector="acme.dt", kind=kind,
                                    interview_id="acme.ats/iv-9", due_at=utcnow(), payload=payload,
                                    maybe_sent=again))


def test_send_and_poll_receipts() -> None:
    with session("receipts") as (dt, connector, live):
        sent = act(connector, "send_message", "ll-c-msg", {
            "recipients": ["u1", "u2", "ghost"], "title": "面试提醒", "text": "明天 10:00",
            "links": [{"label": "确认", "url": "https://lifeline.test/c/9"}]})
        if live:
            dt.world.mark_read(int(sent.remote_id.split(":")[1]), "u1")
        items = list(connector.read("receipts", handoff({}, "receipts", sent)))
    events = {(i.remote_id.split(":")[2], i.type.value) for i in items if isinstance(i, DeliveryEvent)}
    assert events == {("u1", "delivered"), ("u1", "read"), ("u2", "delivered"), ("ghost", "failed")}
    last = items[-1]
    assert isinstance(last, Checkpoint) and list(last.cursor["pending"]) == [sent.remote_id]


def test_todo_approval_and_calendar_actions() -> None:
    task = {"assignees": ["union2"], "title": "请决定是否改期", "description": "已读未到",
            "links": [{"label": "证据", "url": "https://lifeline.test/e/9"}]}
    approval = {"originator": "u1", "approvers": ["u2"], "process_code": "PROC-RESCHEDULE", "title": "改期"}
    event = {"organizer": "union1", "attendees": ["union2"], "summary": "面试", "ical_uid": "iv-9@lifeline.test",
             "start_at": "2030-05-01T02:00:00Z", "end_at": "2030-05-01T03:00:00Z"}
    with session("actions") as (_dt, connector, _live):
        todo = act(connector, "create_task", "ll-c-task", task)
        again = act(connector, "create_task", "ll-c-task", task, again=True)
        first = act(connector, "create_approval", "ll-c-appr", approval)
        second = act(connector, "create_approval", "ll-c-appr", approval, again=True)
        made = act(connector, "create_calendar_event", "ll-c-cal", event)
        moved = act(connector, "update_calendar_event", "ll-c-cal-2", {
            **event, "start_at": "2030-05-02T02:00:00Z", "end_at": "2030-05-02T03:00:00Z", "sequence": 1,
            "remote_event_id": made.remote_id})
    assert again.remote_id == todo.remote_id and again.detail["recovered"] is True
    assert second.remote_id == first.remote_id and second.detail["recovered"] is True
    assert moved.remote_id == made.remote_id


def test_interviews_and_tasks_streams() -> None:
    with session("streams") as (dt, connector, live):
        if live:
            now = time.time()
            dt.world.add_interview("cand-9", now + 3600, now + 5400, ["u2"])
            time.sleep(0.01)
        interviews = [i for i in connector.read("interviews", {}) if isinstance(i, Interview)]
        act(connector, "create_task", "ll-c-task-2", {"assignees": ["union2"], "title": "t", "description": "d",
                                                      "links": [{"label": "e", "url": "https://lifeline.test"}]})
        act(connector, "create_approval", "ll-c-appr-2", {"originator": "u1", "process_code": "PROC-RESCHEDULE",
                                                          "title": "t"})
        tasks = list(connector.read("tasks", {}))
    assert [(i.candidate_id, i.interviewer_ids) for i in interviews] == [("cand-9", ("u2",))]
    assert [(n.status_raw, n.interview_id) for n in tasks if isinstance(n, Notification)] == [
        ("open", "acme.ats/iv-9")]  # read back from the todo's description marker
    assert [r.status.value for r in tasks if isinstance(r, RescheduleRequest)] == ["submitted"]
