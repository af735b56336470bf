"""HR's DingTalk todo is set done when its case closes without it, unless HR completed it already.

The emulated tenant (HR on the DingTalk emulator, real HTTP on loopback) and a real store (SQLite and PostgreSQL):
a miss creates the todo; a late join re-decides and Lifeline closes it once; an interviewer's changed answer
re-decides through reconcile and closes it; a todo HR completed in DingTalk (read back by the `tasks` stream) is
left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from lifeline_hub.core.connector import Checkpoint
from lifeline_hub.core.models import Action, AttendanceVerdict, InterviewKind, OutcomeClass, utcnow
from lifeline_hub.core.outbox import dispatch, rows
from lifeline_hub.core.reconcile.run import reconcile
from lifeline_hub.core.remediation import remediate
from lifeline_hub.core.remediation.answers import record
from lifeline_hub.core.remediation.links import AnswerLink
from lifeline_hub.core.remediation.testing import TENANT, EmulatedTenant, emulated_tenant
from lifeline_hub.core.sync import sync_stream

NOW = utcnow().replace(microsecond=0)
LATER = NOW + timedelta(hours=1)


@pytest.fixture
def t(tmp_path: Path, db_url: str) -> Iterator[EmulatedTenant]:
    with emulated_tenant(tmp_path, db_url) as tenant:
        yield tenant


def missed(t: EmulatedTenant) -> str:
    t.candidate("c1", "张三")
    interview = t.interview("iv1", NOW - timedelta(hours=3), candidate="c1")
    t.decide(interview.id, OutcomeClass.missed_read_no_show, NOW)
    remediate(t.store, TENANT, NOW, t.config, t.host)
    assert dispatch(t.store, t.config, TENANT, now=NOW).dead == 0
    [todo] = t.dingtalk.todos.values()
    assert todo["done"] is False
    return interview.id


def closings(t: EmulatedTenant) -> list[Action]:
    return [r.action for r in rows(t.store, TENANT) if r.action.kind == "close_task"]


def test_a_late_join_sets_the_todo_done_once(t: EmulatedTenant) -> None:
    interview_id = missed(t)
    t.decide(interview_id, OutcomeClass.attended_late, LATER, sub_reason="late_join")
    remediate(t.store, TENANT, LATER, t.config, t.host)
    [close] = closings(t)
    [todo] = t.dingtalk.todos.values()
    assert (close.connector, close.payload["task_id"]) == (f"{TENANT}.dt", todo["id"])
    assert dispatch(t.store, t.config, TENANT, now=LATER).done == 1
    assert todo["done"] is True
    assert remediate(t.store, TENANT, LATER, t.config, t.host).plan.planned == []


def test_a_todo_hr_completed_in_dingtalk_is_not_touched(t: EmulatedTenant) -> None:
    interview_id = missed(t)
    [todo] = t.dingtalk.todos.values()
    t.dingtalk.set_todo_done(todo["id"])
    sync_stream(t.store, t.config.setups[f"{TENANT}.dt"], "tasks")  # HR's "done", polled
    t.decide(interview_id, OutcomeClass.attended_late, LATER, sub_reason="late_join")
    remediate(t.store, TENANT, LATER, t.config, t.host)
    assert closings(t) == []


def test_an_interviewers_changed_answer_re_decides_and_closes_the_todo(t: EmulatedTenant) -> None:
    """On-site, no machine attendance: "did not come" decides a miss and HR gets a todo; the changed answer
    "attended" is re-decided by reconcile and the todo is set done."""
    for setup in t.config.instances(TENANT):  # every stream is complete: nothing holds the decision back
        for stream in setup.connector_class.streams:
            t.store.commit_batch(TENANT, setup.instance.name, stream.name, [], [], Checkpoint({}, NOW))
    alice = f"open_id:{t.feishu.add_user('面试官 A')['open_id']}"
    t.candidate("c1", "张三")
    interview = t.interview("iv1", NOW - timedelta(hours=3), candidate="c1", source=f"{TENANT}.fs",
                            interviewers=(alice,), kind=InterviewKind.onsite)
    reconcile(t.store, TENANT, NOW, t.config, t.host)
    remediate(t.store, TENANT, NOW, t.config, t.host)

    def answer(verdict: AttendanceVerdict, at: timedelta) -> None:
        record(t.store, AnswerLink(verdict, TENANT, interview.id, 0, alice, f"{TENANT}.fs"), alice, NOW + at)
        reconcile(t.store, TENANT, NOW + at, t.config, t.host)
        remediate(t.store, TENANT, NOW + at, t.config, t.host)
        assert dispatch(t.store, t.config, TENANT, now=NOW + at).dead == 0

    answer(AttendanceVerdict.no_show, timedelta(hours=1))
    [todo] = t.dingtalk.todos.values()
    assert todo["done"] is False and closings(t) == []
    answer(AttendanceVerdict.attended, timedelta(hours=2))
    assert [c.payload["reason"] for c in closings(t)] == ["the candidate attended: no action needed"]
    assert todo["done"] is True
