"""With every emulator fault on: retried actions create each todo and approval once, and full syncs of
every stream into a real store (SQLite and PostgreSQL) lose nothing and duplicate nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector
from lifeline_hub.connectors.dingtalk.testing import Emulated, emulated, handoff
from lifeline_hub.core.config import ConnectorSetup
from lifeline_hub.core.connector import ActionResult, Checkpoint
from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.http import VendorError
from lifeline_hub.core.models import Action, Notification, utcnow
from lifeline_hub.core.store import Store, schema
from lifeline_hub.core.sync import SyncSummary, sync_stream

T = TypeVar("T")
HOUR = 3600.0
STREAMS = ("receipts", "interviews", "calendar", "tasks", "attendance")
FAULTS = Faults(rate_limit=0.03, server_error=0.05, timeout=0.02, timeout_seconds=0.6, expire_token=0.03,
                malformed=0.1, duplicate=0.1, seed=7)


def retried(call: Callable[[], T], tries: int = 15) -> T:
    """What the dispatcher and Airflow do: try again later when a vendor call failed."""
    for _ in range(tries - 1):
        try:
            return call()
        except VendorError:
            time.sleep(0.05)
    return call()


HANDED: dict[str, datetime] = {}
"""Keys handed to the vendor so far, and when first: a key performed again is `maybe_sent`, as the outbox says."""


def act(connector: DingTalkConnector, kind: str, key: str, payload: dict[str, Any]) -> ActionResult:
    def perform() -> ActionResult:
        action = Action(idempotency_key=key, tenant="acme", connector="acme.dt", kind=kind, due_at=utcnow(),
                        interview_id=f"acme.ats/{key}", payload=payload, maybe_sent=key in HANDED,
                        handed_at=HANDED.setdefault(key, utcnow()))
        return connector.perform(action)

    return retried(perform)


def seed_world(dt: Emulated, connector: DingTalkConnector) -> list[ActionResult]:
    """Messages (faults off, so every send is tracked), interviews, calendar, attendance; returns the sends."""
    world, now = dt.world, time.time()
    world.set_delivery("u9", "failed")
    sends = []
    for i in range(12):
        users = [f"u{(i + k) % 12 + 1}" for k in range(1 + i % 3)]
        sends.append(act(connector, "send_message", f"ll-msg-{i}", {
            "recipients": users, "title": f"Reminder {i}", "text": "Tomorrow 10:00", "urgent": i == 11}))
    for task in world.messages():
        for user in [u for u, status in task["recipients"].items() if status == "unread"][:1]:
            world.mark_read(task["task_id"], user)
    for i in range(6):
        interview = world.add_interview(f"cand-{i % 3}", now + i * HOUR, now + i * HOUR + 1800, ["u2", "u3"])
        if i == 4:
            world.cancel_interview(interview)
    for i in range(3):
        event = world.add_calendar_event("union1", f"面试 candidate {i}", now - 600 + i * 600, now + 3000 + i * 600,
                                         ["union2", "union3"])
        world.check_in(event, "union2")
        world.set_attendee_response(event, "union3", "declined" if i else "accepted")
    today = world.local(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    world.add_leave("u5", today + 8 * HOUR, today + 19 * HOUR)
    world.add_attendance("u6", today + 9 * HOUR, "OnDuty", "Absenteeism")
    time.sleep(0.01)
    return sends


def dispatched(store: Store, results: list[ActionResult]) -> None:
    """What dispatch keeps of the results: the notifications as evidence, the handoffs in the cursors."""
    notes = [n for r in results for n in r.records if isinstance(n, Notification)]
    for stream in ("receipts", "tasks"):
        cursor = handoff(store.stream_state("acme.dt", stream).cursor, stream, *results)
        store.commit_batch("acme", "acme.dt", stream, notes if stream == "receipts" else [], [], Checkpoint(cursor))


def sync(store: Store, setup: ConnectorSetup, connector: DingTalkConnector, stream: str) -> SyncSummary:
    return retried(lambda: sync_stream(store, setup, stream, connector))


def stored(store: Store, kind: str) -> dict[str, dict[str, Any]]:
    table = schema.evidence
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.remote_id, table.c.data).where(table.c.kind == kind)).all()
    assert len(rows) == len({r.remote_id for r in rows})
    return {r.remote_id: r.data for r in rows}


def expected_receipts(dt: Emulated) -> set[str]:
    out: set[str] = set()
    for task in dt.world.messages():
        for user, status in task["recipients"].items():
            base = f"work:{task['task_id']}:{user}"
            out |= {f"{base}:failed"} if status in ("failed", "forbidden", "invalid") else {f"{base}:delivered"}
            out |= {f"{base}:read"} if status == "read" else set()
    for push in dt.world.push_messages("ding"):
        out |= {f"ding:{push['key']}:{user}:delivered" for user in push["recipients"]}
    return out


def test_faulty_sync_loses_nothing_and_duplicates_nothing(store: Store) -> None:
    with emulated(users=12) as dt:
        setup = dt.setup(operator_union_id="union1", approval_process_codes=["P"], calendar_owners=["union1"],
                         ats_op_user_id="u1", attendance_user_ids=[f"u{i}" for i in range(1, 13)],
                         read_timeout_seconds=0.3, poll_workers=4)
        connector = DingTalkConnector(setup.instance, setup.settings, dt.credentials())
        results = seed_world(dt, connector)

        dt.world.configure_faults(FAULTS)
        todos, approvals = {}, {}
        for i in range(4):
            task = {"assignees": ["union2"], "title": f"Task {i}", "description": "evidence",
                    "links": [{"label": "Open", "url": "https://lifeline.test/t"}]}
            request = {"originator": "u1", "approvers": ["u2"], "process_code": "P", "title": f"Reschedule {i}"}
            made = [act(connector, kind, f"ll-{kind}-{i}", payload) for _ in range(2)
                    for kind, payload in (("create_task", task), ("create_approval", request))]
            results += made
            todos[i] = {m.remote_id for m in made[0::2]}
            approvals[i] = {m.remote_id for m in made[1::2]}
        dispatched(store, results)
        assert all(len(ids) == 1 for ids in [*todos.values(), *approvals.values()]), (todos, approvals)
        assert len(dt.world.todo_list()) == 4 and len(dt.world.approval_list()) == 4  # once each, retries or not
        dt.world.set_todo_done(next(iter(todos[0])))
        dt.world.decide_approval(next(iter(approvals[1])), "refuse")

        summaries = [sync(store, setup, connector, stream) for _ in range(2) for stream in STREAMS]
        injected = dict(dt.world.faults.injected)
        assert all(injected.get(kind, 0) > 0 for kind in ("rate_limit", "server_error", "malformed", "duplicate"))
        assert sum(s.written.quarantined for s in summaries) > 0
        dt.world.configure_faults(Faults())
        for stream in STREAMS:  # one faultless pass: whatever was quarantined is read again
            sync(store, setup, connector, stream)

        assert set(stored(store, "delivery_event")) >= expected_receipts(dt)
        assert {k for k in stored(store, "delivery_event") if not k.startswith("todo:")} == expected_receipts(dt)
        notifications = stored(store, "notification")
        assert {k for k in notifications if k.startswith("todo:")} == {f"todo:{t['id']}" for t in dt.world.todo_list()}
        assert notifications[f"todo:{next(iter(todos[0]))}"]["status"] == "read"
        requests = stored(store, "reschedule_request")
        assert {k: v["status"] for k, v in requests.items()} == {
            f"approval:{a['instanceId']}": {"agree": "approved", "refuse": "refused"}.get(a["result"], "submitted")
            for a in dt.world.approval_list()}
        with store.engine.connect() as conn:
            interviews = dict(conn.execute(sa.select(schema.interviews.c.remote_id, schema.interviews.c.status)).all())
            reasons = conn.execute(sa.select(schema.quarantine.c.reason)).scalars().all()
        assert {k: v for k, v in interviews.items() if k.startswith("ats:")} == {
            f"ats:{i['interviewId']}": "cancelled" if i["cancelled"] else "scheduled" for i in dt.world.interviews()}
        assert {k for k in interviews if k.startswith("event:")} == {f"event:{e['id']}" for e in dt.world.events()}
        attendance = stored(store, "attendance")
        assert {k.split(":")[0] for k in attendance} == {"checkin", "declined", "attendance"}
        assert len([k for k in attendance if k.startswith("checkin:")]) == 3
        assert len([k for k in attendance if k.startswith("declined:")]) == 2
        assert len([k for k in attendance if k.startswith("attendance:")]) == 3  # leave 09:00 + 18:00, absent
        assert reasons and all(reasons)
        assert not any("13800" in r for r in reasons)
