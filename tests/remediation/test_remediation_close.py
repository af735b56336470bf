"""A case that closes without its HR task closes the task in the vendor: once, on the connector that made it.

HR's todos on the Weaver e-cology emulator (unified todo and message center, real HTTP on loopback), the candidate
on the DingTalk/Feishu/SMS emulators, a real store (SQLite and PostgreSQL): a miss creates HR's todo, a new
decision that no longer needs it (a late join) or HR finishing the case on Lifeline's page closes it; re-runs
plan nothing more, the same decision again and a todo HR already completed are left alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lifeline_hub.connectors.weaver.plugin import WeaverConnector
from lifeline_hub.connectors.weaver.testing import Emulated, emulated, sample_settings
from lifeline_hub.core.config import load
from lifeline_hub.core.models import (
    Action,
    ActionStatus,
    Channel,
    DeliveryEvent,
    DeliveryType,
    OutcomeClass,
    canonical_id,
    utcnow,
)
from lifeline_hub.core.outbox import dispatch, rows
from lifeline_hub.core.remediation import remediate
from lifeline_hub.core.remediation.hr import Result, perform
from lifeline_hub.core.remediation.links import HrLink
from lifeline_hub.core.remediation.testing import TENANT, EmulatedTenant, emulated_tenant

NOW = utcnow().replace(microsecond=0)
HR = "wangfang"  # an OA login id the emulator knows
WV = f"{TENANT}.wv"


@dataclass
class Weaver:
    t: EmulatedTenant
    wv: Emulated


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value, ensure_ascii=False)


@pytest.fixture
def w(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Weaver]:
    """The emulated tenant with HR's tasks and messages moved to a Weaver instance `wv`."""
    (tmp_path / "wv").mkdir()
    with (emulated_tenant(tmp_path, db_url, policy={"hr_assignees": [HR], "hr_recipients": [HR]}) as t,
          emulated(tmp_path / "wv") as wv):
        monkeypatch.setenv("AIRFLOW_CONN_LL_TEST_WV", json.dumps(
            {"conn_type": "weaver", **WeaverConnector.emulator_connection(wv.world)}))
        settings = {**sample_settings(tmp_path / "wv" / "registration.json"), "recipient_id_type": "loginIdList"}
        text = t.path.read_text(encoding="utf-8").replace('hr_connector = "dt"', 'hr_connector = "wv"')
        text += "\n".join(["", f"[tenants.{TENANT}.connectors.wv]", 'plugin = "weaver"',
                           'connection_id = "ll_test_wv"', f"base_urls = {_toml({'oa': wv.url})}",
                           *(f"{k} = {_toml(v)}" for k, v in settings.items()), ""])
        t.path.write_text(text, encoding="utf-8")
        yield Weaver(replace(t, config=load(t.path, t.host)), wv)


def missed(w: Weaver) -> str:
    """A read-no-show whose HR todo went out to Weaver; returns the interview id."""
    t = w.t
    t.candidate("c1", "张三")
    interview = t.interview("iv1", NOW - timedelta(hours=3), candidate="c1")
    t.decide(interview.id, OutcomeClass.missed_read_no_show, NOW)
    assert not remediate(t.store, TENANT, NOW, t.config, t.host).as_dict()["problems"]
    assert dispatch(t.store, t.config, TENANT, now=NOW).dead == 0
    [todo] = w.wv.world.ofs.inspect()
    assert (todo["receiver"], str(todo["isremark"])) == (HR, "0")
    return interview.id


def closings(w: Weaver) -> list[Any]:
    return [r.action for r in rows(w.t.store, TENANT) if r.action.kind == "close_task"]


def todo_state(w: Weaver) -> str:
    [todo] = w.wv.world.ofs.inspect()  # one item: closing never makes a second
    return str(todo["isremark"])


def test_a_late_join_closes_the_hr_todo_at_weaver_once(w: Weaver) -> None:
    t = w.t
    interview_id = missed(w)
    [task] = [r.action for r in rows(t.store, TENANT) if r.action.kind == "create_task"]
    t.decide(interview_id, OutcomeClass.attended_late, NOW + timedelta(hours=1), sub_reason="late_join")
    summary = remediate(t.store, TENANT, NOW + timedelta(hours=1), t.config, t.host)
    [close] = closings(w)
    assert close.idempotency_key in summary.plan.planned and close.connector == WV
    assert close.payload["task_id"] == task.remote_id and close.payload["assignees"] == [HR]
    assert close.payload["reason"] == "the candidate joined late: no action needed"
    assert dispatch(t.store, t.config, TENANT, now=NOW + timedelta(hours=1)).dead == 0
    assert todo_state(w) == "2"  # handled in HR's unified todo
    notices = [n for n in w.wv.world.messages.inspect() if n["targetId"].endswith(f"|{task.remote_id}")]
    assert [str(n["bizState"]) for n in notices] == ["1"]
    again = remediate(t.store, TENANT, NOW + timedelta(hours=2), t.config, t.host)
    assert again.plan.planned == [] and [c.status for c in closings(w)] == [ActionStatus.done]
    assert dispatch(t.store, t.config, TENANT, now=NOW + timedelta(hours=2)).done == 0


def test_a_todo_recorded_done_after_its_decision_was_superseded_is_closed_on_the_next_run(w: Weaver) -> None:
    """The race: the todo reaches Weaver, the late join re-decides and is planned, then the worker records the
    row done. The new decision's planning could not see the task; the next run closes it."""
    t, later = w.t, NOW + timedelta(hours=1)
    t.candidate("c1", "张三")
    interview = t.interview("iv1", NOW - timedelta(hours=3), candidate="c1")
    t.decide(interview.id, OutcomeClass.missed_read_no_show, NOW)
    remediate(t.store, TENANT, NOW, t.config, t.host)

    def meanwhile(point: str, action: Action) -> None:
        if (point, action.kind) == ("performed", "create_task"):
            t.decide(interview.id, OutcomeClass.attended_late, later, sub_reason="late_join")
            remediate(t.store, TENANT, later, t.config, t.host)
            assert closings(w) == []  # the row is not done yet

    dispatch(t.store, t.config, TENANT, now=later, probe=meanwhile)
    assert todo_state(w) == "0"
    summary = remediate(t.store, TENANT, later + timedelta(minutes=5), t.config, t.host)
    [close] = closings(w)
    assert summary.plan.planned == [close.idempotency_key]
    assert close.payload["reason"] == "the candidate joined late: no action needed"
    assert dispatch(t.store, t.config, TENANT, now=later + timedelta(minutes=5)).done == 1
    assert todo_state(w) == "2"
    assert remediate(t.store, TENANT, later + timedelta(minutes=10), t.config, t.host).plan.planned == []


def test_the_same_decision_again_keeps_its_todo_open(w: Weaver) -> None:
    t = w.t
    interview_id = missed(w)
    t.decide(interview_id, OutcomeClass.missed_read_no_show, NOW + timedelta(hours=1))  # late evidence, same miss
    remediate(t.store, TENANT, NOW + timedelta(hours=1), t.config, t.host)
    assert closings(w) == [] and todo_state(w) == "0"


def test_a_todo_hr_completed_in_the_vendor_is_not_touched(w: Weaver) -> None:
    t = w.t
    interview_id = missed(w)
    t.evidence(DeliveryEvent(source=WV, remote_id="done-1", occurred_at=NOW + timedelta(minutes=30),
                             notification_id=canonical_id(WV, f"todo:{task_key(w)}:{HR}"), type=DeliveryType.read,
                             channel=Channel("weaver"), code="done", status_raw="done"))
    t.decide(interview_id, OutcomeClass.attended_late, NOW + timedelta(hours=1), sub_reason="late_join")
    remediate(t.store, TENANT, NOW + timedelta(hours=1), t.config, t.host)
    assert closings(w) == []


def task_key(w: Weaver) -> str:
    [task] = [r.action for r in rows(w.t.store, TENANT) if r.action.kind == "create_task"]
    return task.idempotency_key


def test_hr_finishing_the_case_on_lifelines_page_closes_the_todo(w: Weaver) -> None:
    t = w.t
    interview_id = missed(w)
    assert perform(t.store, t.config, t.host, HrLink("offer", TENANT, interview_id, 0), NOW) is Result.done
    [close] = closings(w)
    assert close.payload["reason"] == "HR offered a new time on Lifeline's page"
    assert dispatch(t.store, t.config, TENANT, now=NOW).dead == 0
    assert todo_state(w) == "2"
    assert perform(t.store, t.config, t.host, HrLink("offer", TENANT, interview_id, 0), NOW) is Result.already
    t.decide(interview_id, OutcomeClass.attended, NOW + timedelta(hours=1), sub_reason="on_time")
    remediate(t.store, TENANT, NOW + timedelta(hours=1), t.config, t.host)
    assert [c.status for c in closings(w)] == [ActionStatus.done]  # the same key: never closed twice
