"""Leases on SQLite and PostgreSQL: a claim takes at most its limit, a lease holds while its vendor call
runs, and a worker that lost its row neither calls the vendor nor overwrites what another recorded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.models import Action, ActionStatus, utcnow
from lifeline_hub.core.outbox import DispatchSummary, cancel, claim, complete, dispatch, enqueue, get, retry
from lifeline_hub.core.outbox.queue import Settled, hand_over
from lifeline_hub.core.remediation.testing import ATS, TENANT, EmulatedTenant, emulated_tenant
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import actions, outcomes

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def row(key: str, due: datetime = T0) -> Action:
    return Action(idempotency_key=key, tenant="acme", connector="acme.sink", kind="send_message", due_at=due,
                  payload={"n": 1})


def put(store: Store, *planned: Action) -> None:
    with store.begin() as conn:
        enqueue(conn, planned, T0)


def claimed_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(actions)
                                .where(actions.c.status == ActionStatus.claimed.value)).scalar_one())


def test_a_claim_takes_at_most_its_limit(store: Store) -> None:
    put(store, *(row(f"k{i:03d}") for i in range(200)))
    _, first = claim(store, "w1", T0, limit=10)
    assert len(first) == 10 and claimed_rows(store) == 10  # a killed worker leaves 10 rows waiting, not 200
    assert [a.idempotency_key for a in first] == [f"k{i:03d}" for i in range(10)]  # due first, in order
    _, second = claim(store, "w2", T0, limit=10)
    assert len(second) == 10 and claimed_rows(store) == 20
    assert not {a.idempotency_key for a in first} & {a.idempotency_key for a in second}


def test_a_worker_that_lost_its_row_does_not_hand_it_over(store: Store) -> None:
    put(store, row("k1"))
    slow, _ = claim(store, "slow", T0, lease=LEASE)
    fast, taken = claim(store, "fast", T0 + LEASE)  # the slow worker's lease ran out before its turn
    assert [a.idempotency_key for a in taken] == ["k1"]
    assert hand_over(store, "k1", slow, T0 + LEASE) is None  # fenced: it must not call the vendor
    handed = hand_over(store, "k1", fast, T0 + LEASE)
    assert handed is not None and not handed.maybe_sent and handed.attempts == 2


def test_a_row_handed_over_before_is_performed_with_a_look_up(store: Store) -> None:
    put(store, row("k1"))
    token, _ = claim(store, "w1", T0)
    first = hand_over(store, "k1", token, T0)
    assert first is not None and not first.maybe_sent  # nobody gave it to the vendor before
    assert retry(store, "k1", token, "TransientError: 504", T0, T0)
    token, _ = claim(store, "w2", T0)
    again = hand_over(store, "k1", token, T0)
    assert again is not None and again.maybe_sent  # the first try may have reached the vendor
    listed = get(store, "k1")
    assert listed is not None and listed.maybe_sent


def test_a_late_result_never_overwrites_a_settled_row(store: Store) -> None:
    put(store, row("k1"))
    slow, _ = claim(store, "slow", T0, lease=LEASE)
    fast, _ = claim(store, "fast", T0 + LEASE)
    with store.begin() as conn:
        assert complete(conn, "k1", fast, "remote-fast", T0 + LEASE) is Settled.recorded
    with store.begin() as conn:
        assert complete(conn, "k1", slow, "remote-slow", T0 + LEASE) is Settled.settled
    done = get(store, "k1")
    assert done is not None and done.status is ActionStatus.done and done.remote_id == "remote-fast"


def test_a_late_result_still_settles_a_row_that_was_planned_again(store: Store) -> None:
    put(store, row("k1"))
    slow, _ = claim(store, "slow", T0, lease=LEASE)
    fast, _ = claim(store, "fast", T0 + LEASE)
    assert retry(store, "k1", fast, "TransientError: 502", T0 + 2 * LEASE, T0 + LEASE)
    with store.begin() as conn:  # the slow worker's object exists: the row must not be sent again
        assert complete(conn, "k1", slow, "remote-slow", T0 + LEASE) is Settled.late
    done = get(store, "k1")
    assert done is not None and done.status is ActionStatus.done and done.remote_id == "remote-slow"


@pytest.fixture
def slow_sms(tmp_path: Path, db_url: str) -> Iterator[EmulatedTenant]:
    """SMS answers only after 5 to 10 seconds, twice a 2.5-second lease at least; the client waits for it."""
    with emulated_tenant(tmp_path, db_url, settings={"sms": {"http_timeout_seconds": 30.0}}) as t:
        t.sms.configure_faults(Faults(latency_seconds=10.0, seed=3))
        yield t


def test_a_lease_holds_while_its_vendor_call_runs(slow_sms: EmulatedTenant) -> None:
    t = slow_sms
    t.candidate("c1", "张三")
    now = utcnow()
    send = Action(idempotency_key="ll-slow-sms", tenant=TENANT, connector=f"{TENANT}.sms", kind="send_sms",
                  interview_id=f"{ATS}/iv1", due_at=now, payload={
                      "recipient": f"{ATS}/c1", "purpose": "invite", "interview_id": f"{ATS}/iv1",
                      "params": {"name": "张三", "time": "3月2日 14:00", "code": "tok"}})
    with t.store.begin() as conn:
        enqueue(conn, [send], now)
    lease = timedelta(seconds=2.5)  # renewed every 0.83 s: a loaded machine has time to spare
    summaries: list[DispatchSummary] = []

    def dispatcher(name: str) -> None:  # the reconcile and reminder DAGs both dispatch, again and again
        for _ in range(60):
            summaries.append(dispatch(t.store, t.config, TENANT, worker=name, lease=lease))
            settled = get(t.store, "ll-slow-sms")
            if settled is not None and settled.status is ActionStatus.done:
                return
            threading.Event().wait(0.5)

    workers = [threading.Thread(target=dispatcher, args=(name,)) for name in ("reconcile", "reminders")]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sum(s.claimed for s in summaries) == 1 and sum(s.done for s in summaries) == 1
    assert [m["out_id"] for m in t.sms.message_list()] == ["ll-slow-sms"]  # what the gateway saw: one SMS
    done = get(t.store, "ll-slow-sms")
    assert done is not None and done.status is ActionStatus.done and done.attempts == 1


def test_a_long_worker_name_never_cuts_the_token_short(store: Store) -> None:
    put(store, row("k1"))
    pod = "lifeline-dispatch-" + "x" * 45 + ":1"  # a 63-character host name and a pid
    first, _ = claim(store, pod, T0, lease=LEASE)
    second, taken = claim(store, pod, T0 + LEASE)  # the same process name claims it again after the lease
    assert [a.idempotency_key for a in taken] == ["k1"] and first != second and len(second) <= 64
    assert hand_over(store, "k1", first, T0 + LEASE) is None  # the first claim's token is fenced off


def test_a_row_superseded_after_its_claim_is_withdrawn_not_sent(store: Store) -> None:
    with store.begin() as conn:
        conn.execute(sa.insert(outcomes).values(interview_id="iv1", version=1, outcome="missed_read_no_show",
                                                confidence="high", evidence_ids=[], rule_version="t",
                                                decided_at=T0))
    put(store, row("k1").model_copy(update={"interview_id": "iv1", "outcome_version": 1}))
    token, _ = claim(store, "w1", T0)
    with store.begin() as conn:  # a newer decision arrives while the row waits in the worker's batch
        conn.execute(sa.update(outcomes).values(superseded_at=T0))
    assert hand_over(store, "k1", token, T0) is None
    withdrawn = get(store, "k1")
    assert withdrawn is not None and withdrawn.status is ActionStatus.cancelled


def test_a_late_result_settles_a_row_cancelled_meanwhile(store: Store) -> None:
    put(store, row("k1"))
    slow, _ = claim(store, "slow", T0, lease=LEASE)
    fast, _ = claim(store, "fast", T0 + LEASE)
    assert retry(store, "k1", fast, "TransientError: 502", T0 + 2 * LEASE, T0 + LEASE)
    with store.begin() as conn:
        assert cancel(conn, ["k1"], "the interview moved", T0 + LEASE) == 1
    with store.begin() as conn:  # the slow worker's message went out: the row says so
        assert complete(conn, "k1", slow, "remote-slow", T0 + LEASE) is Settled.late
    done = get(store, "k1")
    assert done is not None and done.status is ActionStatus.done and done.remote_id == "remote-slow"
