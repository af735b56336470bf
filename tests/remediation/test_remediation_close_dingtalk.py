"""HR's DingTalk todo is set done when its case closes without it, unless HR completed it already.

The emulated tenant (HR on the DingTalk emulator, real HTTP on loopback) and a real store (SQLite and PostgreSQL):
a miss creates the todo; a late join re-decides and Lifeline closes it once; a todo HR completed in DingTalk (read
back by the `tasks` stream) is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from lifeline_hub.core.models import Action, OutcomeClass, utcnow
from lifeline_hub.core.outbox import dispatch, rows
from lifeline_hub.core.remediation import remediate
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
