"""Exactly once against the emulators over real HTTP: re-runs, a worker SIGKILLed between the vendor call
and the store update, vendor timeouts after the object was created. Each person gets one object per action.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.models import ActionStatus, Interview, OutcomeClass, Slot, utcnow
from lifeline_hub.core.outbox import Sinks, dispatch, rows
from lifeline_hub.core.remediation import remediate
from lifeline_hub.core.remediation.reschedule import submit
from lifeline_hub.core.remediation.testing import (
    HR_USER,
    TENANT,
    EmulatedTenant,
    emulated_tenant,
    killed_after_performing,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = utcnow().replace(microsecond=0)


@pytest.fixture
def t(tmp_path: Path, db_url: str) -> Iterator[EmulatedTenant]:
    with emulated_tenant(tmp_path, db_url) as tenant:
        yield tenant


def seed(t: EmulatedTenant, name: str, outcome: OutcomeClass) -> Interview:
    t.candidate(f"c-{name}", name)
    interview = t.interview(f"iv-{name}", NOW - timedelta(hours=3), candidate=f"c-{name}")
    t.decide(interview.id, outcome, NOW)
    return interview


def objects(t: EmulatedTenant) -> dict[str, int]:
    """How many vendor objects each outbox row led to, by the marks the sinks leave (key, OutId, content)."""
    counts: dict[str, int] = {}
    approvals = [str(a["form"]) for a in t.dingtalk.approval_list()]
    for row in rows(t.store, TENANT):
        key, action = row.action.idempotency_key, row.action
        if action.kind == "create_task":
            found = sum(todo["sourceId"] == key for todo in t.dingtalk.todo_list())
        elif action.kind == "send_sms":
            found = sum(m["out_id"] == key for m in t.sms.message_list())
        elif action.kind == "create_approval":
            found = sum(key in form for form in approvals)
        else:  # a work notice: DingTalk drops a repeat of the same content the same day (forbidden 143106)
            found = sum(n["recipients"].get(HR_USER) in ("unread", "read") and action.payload["title"] in str(n["msg"])
                        for n in t.dingtalk.messages())
        counts[key] = found
    return counts


def settle(t: EmulatedTenant, at: datetime) -> None:
    """Dispatch until nothing is left to do (a row the faults pushed back is due again later)."""
    for step in range(12):
        dispatch(t.store, t.config, TENANT, now=at + timedelta(minutes=10 * step))
        if all(r.action.status is ActionStatus.done for r in rows(t.store, TENANT)):
            return
    left = [(r.action.kind, r.action.status, r.action.last_error) for r in rows(t.store, TENANT)]
    pytest.fail(f"not settled: {left}")


def test_dispatching_again_sends_nothing_again(t: EmulatedTenant) -> None:
    seed(t, "张三", OutcomeClass.missed_read_no_show)
    seed(t, "李四", OutcomeClass.missed_technical)
    remediate(t.store, TENANT, NOW, t.config, t.host)
    first = dispatch(t.store, t.config, TENANT, now=NOW)
    again = dispatch(t.store, t.config, TENANT, now=NOW + timedelta(hours=1))
    assert (first.done, again.claimed) == (4, 0)
    assert set(objects(t).values()) == {1}


@pytest.mark.parametrize(("outcome", "nth", "kind"), [
    (OutcomeClass.missed_read_no_show, 1, "create_task"),   # DingTalk todo: sourceId
    (OutcomeClass.missed_read_no_show, 2, "send_sms"),      # Aliyun SMS: OutId looked up before sending again
    (OutcomeClass.missed_technical, 2, "send_message"),     # DingTalk work notice: no key; same content refused
])
def test_a_worker_killed_between_the_vendor_call_and_the_store_update(t: EmulatedTenant, outcome: OutcomeClass,
                                                                       nth: int, kind: str) -> None:
    seed(t, "张三", outcome)
    remediate(t.store, TENANT, NOW, t.config, t.host)
    key = killed_after_performing(t.path, TENANT, t.env, nth)
    (victim,) = [r.action for r in rows(t.store, TENANT) if r.action.idempotency_key == key]
    assert victim.kind == kind and victim.status is ActionStatus.claimed  # the vendor has it; the store does not
    assert objects(t)[key] == 1
    settle(t, utcnow() + timedelta(minutes=1))  # past the dead worker's lease
    assert set(objects(t).values()) == {1}


def test_an_approval_created_by_a_killed_worker_is_found_not_doubled(t: EmulatedTenant) -> None:
    interview = seed(t, "张三", OutcomeClass.missed_read_no_show)
    start = (NOW + timedelta(days=3)).replace(hour=2, minute=0, second=0)
    submit(t.store, t.config, interview.id, [Slot(start_at=start, end_at=start + timedelta(minutes=45))], NOW,
           reason_code="schedule_conflict")
    (approval,) = [r.action for r in rows(t.store, TENANT)]
    assert killed_after_performing(t.path, TENANT, t.env) == approval.idempotency_key
    settle(t, utcnow() + timedelta(minutes=1))
    assert objects(t) == {approval.idempotency_key: 1} and len(t.dingtalk.approval_list()) == 1


def test_vendor_timeouts_after_the_object_was_created(tmp_path: Path, db_url: str) -> None:
    slow = {"dt": {"read_timeout_seconds": 0.3}, "sms": {"http_timeout_seconds": 0.3}}
    with emulated_tenant(tmp_path, db_url, settings=slow) as t:
        seed(t, "张三", OutcomeClass.missed_read_no_show)
        remediate(t.store, TENANT, NOW, t.config, t.host)
        sinks = Sinks(t.config, t.store)
        for row in rows(t.store, TENANT):
            assert sinks.get(row.action).check().ok  # access tokens fetched before the vendors turn slow
        stall = Faults(timeout=1.0, timeout_seconds=0.5)
        for world in (t.dingtalk, t.sms):
            world.configure_faults(stall)  # every answer comes too late: the objects exist, the worker never hears
        summary = dispatch(t.store, t.config, TENANT, now=NOW, sinks=sinks)
        assert (summary.done, summary.retried) == (0, 2)
        created: dict[str, Any] = objects(t)
        assert set(created.values()) == {1}
        for world in (t.dingtalk, t.sms):
            world.configure_faults(Faults())
        settle(t, NOW + timedelta(minutes=5))
        assert objects(t) == created
