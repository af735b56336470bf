"""A faulty emulator (throttling, 5xx, stalls, expired tokens, garbled and duplicated records) synced
into a real store (SQLite and PostgreSQL): every stream converges on the emulator's state, nothing
is lost, nothing is stored twice, garbled records are quarantined with their reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from feishu_kit import T0, Rig, action, rig

from lifeline_hub.core import Checkpoint
from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.http import VendorError
from lifeline_hub.core.store import Store, schema
from lifeline_hub.core.sync import sync_stream

FAULTS = Faults(rate_limit=0.05, server_error=0.1, timeout=0.03, timeout_seconds=0.6, expire_token=0.05,
                malformed=0.15, duplicate=0.15, seed=7)  # fmt: skip
STREAMS = ("interviews", "rsvps", "receipts", "attendance", "tasks", "approvals")
HOUR_MS = 3_600_000


def seed(r: Rig) -> dict[str, Any]:
    """The tenant's state, made without faults: what the store must end up holding."""
    w, now_ms, cal = r.world, int(T0 * 1000), r.connector.config.calendar_id
    assert cal is not None
    hr = w.add_user("HR")
    people = [w.add_user(f"person{i}") for i in range(12)]
    for i in range(30):
        begin = now_ms + (i - 5) * 4 * HOUR_MS
        w.add_hire_interview(str(7000 + i), str(9000 + i), begin, begin + HOUR_MS, [people[i % 12]["open_id"]])
    inbox = []
    for i, person in enumerate(people):
        sent = r.connector.perform(action("send_message", {"recipients": [person["open_id"]], "title": "t",
                                                           "text": "x"}))  # fmt: skip
        inbox.extend(sent.handoff["receipts"]["inbox"])
        if i % 3:
            w.mark_read(sent.remote_id, person["open_id"])
    rsvps, meetings = {}, 0
    for i in range(6):
        start = T0 - (i + 5) * 3600
        payload = {"organizer": hr["open_id"], "summary": f"Interview {i}", "ical_uid": f"iv{i}@ll",
                   "start_at": datetime.fromtimestamp(start, UTC).isoformat(),
                   "end_at": datetime.fromtimestamp(start + 1800, UTC).isoformat()}  # fmt: skip
        create = action("create_calendar_event", payload, interview_id=f"acme.hire/{i}")
        event_id = r.connector.perform(create).remote_id
        guest = w.add_attendee(cal, event_id, email=f"candidate{i}@example.com")
        if i % 2:
            w.set_rsvp(cal, event_id, guest, "accept" if i % 4 == 1 else "decline")
            rsvps[f"{event_id}/{guest}"] = "confirm" if i % 4 == 1 else "decline"
        meeting = w.hold_meeting(f"12345678{i}", int(start), int(start) + 1800, f"Interview {i}")
        w.join_meeting(meeting, int(start), int(start) + 1800, user=hr["open_id"])
        w.join_meeting(meeting, int(start) + 60, int(start) + 1700, name=f"Candidate {i}")
        meetings += 2
    w.add_approval_definition("RESCHEDULE", "Reschedule")
    tasks, approvals = {}, {}
    for i, person in enumerate(people[:6]):
        guid = r.connector.perform(action("create_task", {"assignees": [person["open_id"]], "title": f"task {i}",
                                                          "description": "d"})).remote_id  # fmt: skip
        if i % 2:
            w.complete_task(guid, person["open_id"])
            tasks[guid] = "read"
        code = r.connector.perform(action("create_approval", {"originator": person["open_id"], "title": "t",
                                                              "process_code": "RESCHEDULE"})).remote_id  # fmt: skip
        status = ("APPROVED", "REJECTED", "PENDING")[i % 3]
        if status != "PENDING":
            w.decide_approval(code, status)
        approvals[code] = {"APPROVED": "approved", "REJECTED": "refused", "PENDING": "submitted"}[status]
    reads = {(m.message_id, f"open_id:{u}") for m in w.messages.values() for u in m.reads}
    return {"inbox": inbox, "reads": reads, "rsvps": rsvps, "meetings": meetings, "tasks": tasks,
            "approvals": approvals}  # fmt: skip


def evidence(store: Store, kind: str) -> list[Any]:
    e = schema.evidence
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(e.c.remote_id, e.c.type).where(e.c.kind == kind)))


def stored(store: Store) -> dict[str, Any]:
    """What the store holds, in the shape of `seed`'s expectations."""
    with store.engine.connect() as conn:
        interviews = sorted(row.remote_id for row in conn.execute(sa.select(schema.interviews.c.remote_id)))
    events = evidence(store, "delivery_event")
    return {
        "interviews": interviews,
        "reads": {tuple(row.remote_id.split("/read/")) for row in events if "/read/" in row.remote_id},
        "rsvps": {row.remote_id: row.type for row in evidence(store, "confirmation")},
        "meetings": len(evidence(store, "attendance")),
        "tasks": {row.remote_id.split("/")[1]: row.type for row in events if row.remote_id.startswith("task/")},
        "approvals": {
            row.remote_id.removeprefix("approval/"): row.type for row in evidence(store, "reschedule_request")
        },
    }


def test_a_faulty_tenant_syncs_completely_and_exactly_once(store: Store) -> None:
    settings = {"meeting_attendance": True, "tasklist_guid": "tl-0001-lifeline", "approval_codes": ("RESCHEDULE",),
                "http_timeout_seconds": 0.4, "history_days": 2}  # fmt: skip
    with rig(**settings) as r:
        expected = seed(r)
        expected["interviews"] = sorted(r.world.interviews)
        inbox = expected.pop("inbox")
        r.connector.client.max_attempts, r.connector.client.backoff = 6, 0.05
        store.commit_batch("acme", "acme.feishu", "receipts", [], [], Checkpoint({"inbox": inbox}))
        r.world.faults.configure(FAULTS)
        rounds = 0
        while rounds < 8:  # Airflow's retries / the next schedule, until nothing is missing
            rounds += 1
            for stream in STREAMS:
                try:
                    sync_stream(store, r.setup, stream, r.connector)
                except VendorError:
                    continue
            if stored(store) == expected and all(store.stream_state("acme.feishu", s).watermark for s in STREAMS):
                break
        injected = dict(r.world.faults.injected)
    assert set(injected) >= {"rate_limit", "server_error", "expire_token", "malformed", "duplicate"}
    assert stored(store) == expected, f"not converged after {rounds} rounds"
    with store.engine.connect() as conn:
        reasons = [row.reason for row in conn.execute(sa.select(schema.quarantine.c.reason))]
    assert reasons and all(reasons)
    pending = store.stream_state("acme.feishu", "receipts").cursor["pending"]
    assert set(pending) == {e["message_id"] for e in inbox} - {m for m, _ in expected["reads"]}
