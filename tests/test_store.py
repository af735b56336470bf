"""The store on a SQLite file and on a real PostgreSQL server: migrations, upserts, state."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lifeline_hub.core.connector import Checkpoint, Malformed
from lifeline_hub.core.models import (
    AppointmentThread,
    Audience,
    Candidate,
    Channel,
    ContactChange,
    ContactPoint,
    DeliveryEvent,
    DeliveryType,
    Interview,
    InterviewKind,
    InterviewStatus,
    LinkEvent,
    LinkEventType,
    Notification,
    NotificationPurpose,
)
from lifeline_hub.core.store import Store, schema
from lifeline_hub.core.store.store import StoreNotMigrated, quarantine_fingerprint
from tests.conftest import run_cli

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def _interview(sequence: int = 0, start: datetime = T0) -> Interview:
    return Interview(source="acme.hire", remote_id="iv1", kind=InterviewKind.video, start_at=start,
                     end_at=start + timedelta(hours=1), candidate_id="acme.hire/c1",
                     thread=AppointmentThread(thread_id="th1", ical_uid="th1@lifeline", sequence=sequence))


def _evidence() -> list[LinkEvent | Notification | DeliveryEvent]:
    return [
        Notification(source="acme.dt", remote_id="task-1", interview_id="acme.hire/iv1", occurred_at=T0,
                     purpose=NotificationPurpose.invite, channel="dingtalk", recipient="user42"),
        DeliveryEvent(source="acme.dt", remote_id="task-1:read:user42", interview_id="acme.hire/iv1",
                      occurred_at=T0 + timedelta(minutes=3), notification_id="acme.dt/task-1",
                      type=DeliveryType.read, channel="dingtalk"),
        LinkEvent(source="lifeline", remote_id="open-1", interview_id="acme.hire/iv1",
                  occurred_at=T0 + timedelta(minutes=4), type=LinkEventType.open, machine_made=True,
                  machine_reason="scanner_ua"),
    ]


def test_migrations_create_the_schema_the_code_expects(store: Store) -> None:
    assert store.revision() == store.head() is not None
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), schema.metadata)
    assert diff == []
    assert store.upgrade() == store.head()  # a second upgrade is a no-op


def test_upserts_are_idempotent(store: Store) -> None:
    first = store.write("acme", [_interview(), *_evidence()])
    assert (first.inserted, first.updated) == (4, 0)
    again = store.write("acme", [_interview(), *_evidence()])
    assert (again.inserted, again.updated) == (0, 4)
    assert store.count("interviews") == 1
    assert store.count("evidence") == 3
    assert store.count("evidence", kind="link_event", human=False) == 1


def test_a_later_version_of_a_record_updates_it(store: Store) -> None:
    store.write("acme", [_interview()])
    moved = T0 + timedelta(days=1)
    store.write("acme", [_interview(sequence=1, start=moved)])
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(schema.interviews)).one()
    assert row.sequence == 1
    assert row.start_at == moved and row.start_at.tzinfo is not None
    assert row.data["thread"]["sequence"] == 1


def test_duplicates_within_one_batch_collapse(store: Store) -> None:
    ev = _evidence()
    summary = store.write("acme", [*ev, *ev])
    assert summary.inserted == 3
    assert store.count("evidence") == 3


def test_contact_values_stay_in_their_table(store: Store) -> None:
    cand = Candidate(source="acme.hire", remote_id="c1", name="Han Meimei",
                     contacts=(ContactPoint.phone("13812341234"), ContactPoint.email("han@example.com")))
    store.write("acme", [cand])
    store.write("acme", [cand])
    with store.engine.connect() as conn:
        cps = conn.execute(sa.select(schema.contact_points).order_by(schema.contact_points.c.rank)).all()
        data = conn.execute(sa.select(schema.candidates.c.data)).scalar_one()
    assert [c.masked for c in cps] == ["138****1234", "h***@example.com"]
    assert cps[0].value == "+8613812341234"
    assert "13812341234" not in str(data) and "han@" not in str(data)


def test_batches_commit_with_their_checkpoint_and_watermarks_only_advance(store: Store) -> None:
    assert store.stream_state("acme.dt", "receipts").cursor == {}
    bad = Malformed(reason="userid: field required", payload={"task_id": 7}, remote_id="7")
    summary = store.commit_batch("acme", "acme.dt", "receipts", _evidence(), [bad],
                                 Checkpoint({"offset": 3}, T0 + timedelta(hours=2)))
    assert (summary.inserted, summary.quarantined) == (3, 1)
    store.commit_batch("acme", "acme.dt", "receipts", [], [], Checkpoint({"offset": 4}, T0))
    state = store.stream_state("acme.dt", "receipts")
    assert state.cursor == {"offset": 4}
    assert state.watermark == T0 + timedelta(hours=2)
    with store.engine.connect() as conn:
        q = conn.execute(sa.select(schema.quarantine)).one()
        totals = conn.execute(sa.select(schema.sync_state)).one()
    assert (q.reason, q.payload, q.remote_id) == ("userid: field required", {"task_id": 7}, "7")
    assert (totals.records_total, totals.quarantined_total) == (3, 1)


def test_sync_errors_are_recorded_without_moving_the_cursor(store: Store) -> None:
    store.commit_batch("acme", "acme.dt", "receipts", [], [], Checkpoint({"offset": 1}, T0))
    store.record_sync_error("acme", "acme.dt", "receipts", "TransientError: 502")
    state = store.stream_state("acme.dt", "receipts")
    assert state.cursor == {"offset": 1}
    assert state.last_error == "TransientError: 502"


def test_the_store_is_the_contact_book(store: Store) -> None:
    from lifeline_hub.core.models import Channel

    cand = Candidate(source="acme.hire", remote_id="c1", name="Li Lei",
                     contacts=(ContactPoint.email("li@example.com"), ContactPoint.phone("13812341234")))
    store.write("acme", [cand])
    phone = store.contact("acme.hire/c1", Channel.sms)
    assert phone is not None and phone.value.get_secret_value() == "+8613812341234"
    assert phone.masked == "138****1234"
    assert store.contact("acme.hire/c1", Channel.feishu) is None
    assert store.contact("acme.hire/nobody", Channel.sms) is None


def _gone(remote_id: str, at: datetime, reachable: bool = False, **fields: Any) -> ContactChange:
    return ContactChange(**{"source": "acme.wecom", "remote_id": remote_id, "occurred_at": at,
                            "channel": "wechat", "address": "oWx-42", "reachable": reachable,
                            "reason": "" if reachable else "del_follow_user", **fields})


def _reach(store: Store, candidate_id: str = "acme.hire/c1") -> list[tuple[str, bool, str | None]]:
    cp = schema.contact_points
    with store.engine.connect() as conn:
        return [(r.channel, r.reachable, r.unreachable_reason) for r in conn.execute(
            sa.select(cp).where(cp.c.candidate_id == candidate_id).order_by(cp.c.rank))]


def test_a_contact_change_stops_sends_there_until_the_contact_is_back(store: Store) -> None:
    cand = Candidate(source="acme.hire", remote_id="c1", name="Li Lei",
                     contacts=(ContactPoint.im(Channel.wechat, "oWx-42"), ContactPoint.phone("13812341234")))
    other = Candidate(source="beta.hire", remote_id="c1", name="Li Lei",
                      contacts=(ContactPoint.im(Channel.wechat, "oWx-42"),))
    store.write("beta", [other])
    store.write("acme", [_gone("ev-1", T0)])  # before the candidate is known: applied when it arrives
    store.write("acme", [cand])
    assert _reach(store) == [("wechat", False, "del_follow_user"), ("sms", True, None)]
    assert store.contact("acme.hire/c1", Channel.wechat) is None
    assert store.contact("acme.hire/c1", Channel.sms) is not None
    assert _reach(store, "beta.hire/c1") == [("wechat", True, None)]  # another tenant's contact
    store.write("acme", [cand])  # an ATS resync rewrites the contact points: the change still holds
    assert _reach(store)[0] == ("wechat", False, "del_follow_user")
    store.write("acme", [_gone("ev-2", T0 + timedelta(hours=2), reachable=True)])
    store.write("acme", [_gone("ev-0", T0 - timedelta(hours=1))])  # older news arriving late changes nothing
    assert _reach(store)[0] == ("wechat", True, None)
    assert store.contact("acme.hire/c1", Channel.wechat) is not None
    store.write("acme", [_gone("ev-3", T0 + timedelta(hours=3), candidate_id="acme.hire/c9")])
    assert _reach(store)[0] == ("wechat", True, None)  # it names another candidate


def test_a_contact_change_keeps_no_raw_address_outside_the_contact_book(store: Store) -> None:
    dead = ContactChange(source="acme.sms", remote_id="r1", occurred_at=T0, channel="sms", address="13812341234",
                         reachable=False, reason="MOBILE_NOT_ON_SERVICE")
    assert "13812341234" not in repr(dead)
    store.write("acme", [dead, dead])
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(schema.evidence)).one()
    assert (row.kind, row.type, row.channel, row.code) == ("contact_change", "unreachable", "sms",
                                                           ContactPoint.phone("13812341234").lookup)
    assert row.data["address"] == "138****1234" and "13812341234" not in json.dumps(row.data)
    assert ContactChange.model_validate(row.data).reason == "MOBILE_NOT_ON_SERVICE"


def test_an_ats_resync_never_moves_a_rescheduled_interview_back(store: Store) -> None:
    """Remediation moved the interview (SEQUENCE 1); the ATS still reports SEQUENCE 0 at the old time."""
    moved = T0 + timedelta(days=2)
    ats = _interview().model_copy(update={"join_url": "https://vc.example/old", "interviewer_ids": ("u1",)})
    store.write("acme", [ats])
    rescheduled = ats.model_copy(update={"start_at": moved, "end_at": moved + timedelta(hours=1),
                                         "join_url": "https://vc.example/new", "source_updated_at": T0,
                                         "thread": ats.thread.model_copy(update={"sequence": 1})})
    store.write("acme", [rescheduled])

    def stored() -> tuple[Any, Interview]:
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(schema.interviews)).one()
        return row, Interview.model_validate(row.data)

    resync = store.write("acme", [ats.model_copy(update={"interviewer_ids": ("u1", "u2")})])
    assert (resync.inserted, resync.updated) == (0, 1)
    row, kept = stored()
    assert (row.sequence, row.start_at, row.end_at) == (1, moved, moved + timedelta(hours=1))
    assert kept.thread.sequence == 1 and kept.join_url == "https://vc.example/new" and kept.source_updated_at == T0
    assert kept.interviewer_ids == ("u1", "u2")  # what is not the appointment is still the ATS's to say

    store.write("acme", [ats.model_copy(update={"status": InterviewStatus.cancelled})])  # the ATS cancels it
    row, kept = stored()
    assert (row.status, row.sequence, row.start_at) == ("cancelled", 1, moved)
    assert kept.status is InterviewStatus.cancelled and kept.start_at == moved

    # within one batch, too: the newer version stays whatever order the records come in
    newer = rescheduled.model_copy(update={"thread": ats.thread.model_copy(update={"sequence": 2})})
    store.write("acme", [newer, ats])
    row, kept = stored()
    assert (row.sequence, row.start_at, kept.thread.sequence) == (2, moved, 2)

    # an equal or higher SEQUENCE is a newer report: taken whole
    elsewhere = T0 + timedelta(days=5)
    store.write("acme", [_interview(sequence=2, start=elsewhere)])
    row, kept = stored()
    assert (row.sequence, row.start_at, row.status, kept.join_url) == (2, elsewhere, "scheduled", None)


def test_a_receipt_carries_its_notifications_audience_whenever_either_arrives(store: Store) -> None:
    staff = Notification(source="acme.dt", remote_id="work:7:u1", interview_id="acme.hire/iv1", occurred_at=T0,
                         purpose=NotificationPurpose.reminder_t1h, channel="dingtalk", recipient="u1",
                         audience=Audience.staff)
    task = Notification(source="acme.dt", remote_id="todo:3", interview_id="acme.hire/iv1", occurred_at=T0,
                        purpose=NotificationPurpose.hr_task, channel="dingtalk", recipient="hr1")

    def read(of: Notification) -> DeliveryEvent:
        return DeliveryEvent(source=of.source, remote_id=f"{of.remote_id}:read", occurred_at=T0,
                             notification_id=of.id, type=DeliveryType.read, channel="dingtalk")

    def audience() -> dict[str, str | None]:
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(schema.evidence.c.remote_id, schema.evidence.c.audience))
            return {remote_id: value for remote_id, value in rows}

    store.write("acme", [read(staff), read(task)])  # the receipts first: whose they are is not known yet
    assert audience() == {"work:7:u1:read": None, "todo:3:read": None}
    store.write("acme", [staff, task, *_evidence()])
    assert audience() == {"work:7:u1:read": "staff", "todo:3:read": "staff", "todo:3": "staff", "work:7:u1": "staff",
                          "task-1": "candidate", "task-1:read:user42": "candidate", "open-1": None}
    store.write("acme", [read(staff)])  # and a receipt after its notification gets it at once
    assert audience()["work:7:u1:read"] == "staff"


def test_migration_0006_fills_in_the_audience_of_existing_evidence(db_url: str) -> None:
    s = Store(db_url)
    try:
        s.upgrade("0005")
        e = sa.table("evidence", *(sa.column(c) for c in (
            "tenant", "source", "kind", "remote_id", "interview_id", "type", "channel", "human", "code", "ref")),
            sa.column("occurred_at", schema.UtcTimestamp()), sa.column("synced_at", schema.UtcTimestamp()),
            sa.column("data", schema.Json))

        def row(source: str, kind: str, remote_id: str, kind_type: str, channel: str, ref: str | None = None,
                ) -> dict[str, Any]:
            data = {"source": source, "remote_id": remote_id, "interview_id": "acme.hire/iv1",
                    "occurred_at": T0.isoformat(), "recipient": "x", "purpose": kind_type, "channel": channel} \
                if kind == "notification" else {"source": source, "remote_id": remote_id}
            return {"tenant": "acme", "source": source, "kind": kind, "remote_id": remote_id,
                    "interview_id": "acme.hire/iv1", "occurred_at": T0, "type": kind_type, "channel": channel,
                    "human": True, "code": "sent", "ref": ref, "data": data, "synced_at": T0}

        with s.begin() as conn:
            conn.execute(sa.insert(e), [
                row("acme.sms", "notification", "out-1", "reminder_t1h", "sms"),  # the candidate's reminder
                row("acme.dt", "notification", "work:1:u1", "reminder_t1h", "dingtalk"),  # the interviewer's
                row("acme.dt", "notification", "work:2:hr", "hr_task", "dingtalk"),
                row("acme.fs", "notification", "om_1", "reschedule_offer", "feishu"),  # an offer by IM
                row("acme.dt", "delivery_event", "work:1:u1:read", "read", "dingtalk", "acme.dt/work:1:u1"),
                row("acme.fs", "delivery_event", "om_1/read/ou_1", "read", "feishu", "acme.fs/om_1"),
                row("acme.fs", "delivery_event", "om_9/read/ou_1", "read", "feishu", "acme.fs/om_9"),
                row("acme.links", "link_event", "open-1", "open", "sms"),
            ])
        assert s.upgrade() == s.head()
        with s.engine.connect() as conn:
            rows = conn.execute(sa.select(schema.evidence.c.remote_id, schema.evidence.c.audience,
                                          schema.evidence.c.data)).all()
        found = {r.remote_id: r.audience for r in rows}
        assert found == {"out-1": "candidate", "work:1:u1": "staff", "work:2:hr": "staff", "om_1": "candidate",
                         "work:1:u1:read": "staff", "om_1/read/ou_1": "candidate", "om_9/read/ou_1": None,
                         "open-1": None}
        records = {r.remote_id: Notification.model_validate(r.data) for r in rows if "purpose" in r.data}
        assert {k: n.audience.value for k, n in records.items()} == {
            "out-1": "candidate", "work:1:u1": "staff", "work:2:hr": "staff", "om_1": "candidate"}

        with s.begin() as conn:
            command.downgrade(s._alembic(conn), "0005")
        with s.engine.connect() as conn:
            assert "audience" not in {c["name"] for c in sa.inspect(conn).get_columns("evidence")}
            assert all("audience" not in data for data in conn.execute(sa.select(e.c.data)).scalars())
        assert s.upgrade() == s.head()
    finally:
        s.engine.dispose()


def test_a_bad_record_met_again_is_quarantined_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record that stays malformed at the vendor is read by every sync: one row, counted."""
    now = [T0]
    monkeypatch.setattr("lifeline_hub.core.store.store.utcnow", lambda: now[0])
    bad = Malformed(reason="userid: field required", payload={"task_id": 7, "tags": ("a",), "n": None}, remote_id="7")
    met = []
    for offset in range(3):
        now[0] = T0 + timedelta(hours=offset)
        summary = store.commit_batch("acme", "acme.dt", "receipts", [], [bad], Checkpoint({"offset": offset}, T0))
        met.append((summary.quarantined, summary.quarantined_new))
    assert met == [(1, 1), (1, 0), (1, 0)]  # the sync summary counts meetings

    def rows() -> list[Any]:
        with store.engine.connect() as conn:
            return list(conn.execute(sa.select(schema.quarantine).order_by(schema.quarantine.c.id)))

    def total() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(sa.select(schema.sync_state.c.quarantined_total)).scalar_one())

    [row] = rows()
    assert (row.seen_count, row.received_at, row.last_seen_at) == (3, T0, T0 + timedelta(hours=2))
    assert (row.reason, row.payload, row.remote_id) == ("userid: field required", bad.payload | {"tags": ["a"]}, "7")
    assert row.fingerprint == quarantine_fingerprint("acme", "acme.dt", "receipts", "7", bad.reason, bad.payload)
    assert len(row.fingerprint) == 64
    assert total() == 1  # the health counter counts distinct bad records

    # the same record twice in one call: no new row, seen twice more
    assert store.quarantine("acme", "acme.dt", "receipts", [bad, replace(bad, payload={"n": None, "task_id": 7,
                                                                                        "tags": ["a"]})]) == 2
    assert [r.seen_count for r in rows()] == [5]  # key order and tuple-or-list do not make another record

    # another reason, payload, id or stream is another bad record
    other = [replace(bad, reason="userid: not a string"), replace(bad, payload={"task_id": 8}),
             replace(bad, remote_id=None), replace(bad, payload="not even json")]
    summary = store.commit_batch("acme", "acme.dt", "receipts", [], [*other, bad], Checkpoint({"offset": 9}, T0))
    assert (summary.quarantined, summary.quarantined_new) == (5, 4)
    store.quarantine("acme", "acme.dt", "tasks", [bad])
    assert [r.seen_count for r in rows()] == [6, 1, 1, 1, 1, 1]
    assert len({r.fingerprint for r in rows()}) == 6
    assert total() == 5
    assert store.quarantine_seen() == 11 and store.quarantine_seen(stream="tasks") == 1
    assert store.count("quarantine", source="acme.dt") == 6


def test_migration_0007_collapses_existing_duplicates_in_quarantine(db_url: str) -> None:
    s = Store(db_url)
    try:
        s.upgrade("0006")
        q = sa.table("quarantine", *(sa.column(c) for c in ("tenant", "source", "stream", "remote_id", "reason")),
                     sa.column("id", sa.Integer), sa.column("payload", schema.Json),
                     sa.column("received_at", schema.UtcTimestamp()))
        st = schema.sync_state

        def row(id_: int, hours: int, remote_id: str | None = "7", reason: str = "userid: field required",
                payload: Any = None, stream: str = "receipts") -> dict[str, Any]:
            return {"id": id_, "tenant": "acme", "source": "acme.dt", "stream": stream, "remote_id": remote_id,
                    "reason": reason, "payload": {"task_id": 7, "at": 1.5} if payload is None else payload,
                    "received_at": T0 + timedelta(hours=hours)}

        with s.begin() as conn:
            conn.execute(sa.insert(q), [
                row(1, 0), row(2, 1), row(3, 1, reason="userid: not a string"), row(4, 2),
                row(5, 3, payload={"at": 1.5, "task_id": 7}),  # the same payload, keys in another order
                row(6, -1, remote_id=None, payload={"text": "b'\\xff'"}), row(7, 5, remote_id=None, payload={
                    "text": "b'\\xff'"}),
                row(8, 4, stream="tasks"),
            ])
            conn.execute(sa.insert(st), [
                {"source": "acme.dt", "stream": "receipts", "tenant": "acme", "cursor": {}, "quarantined_total": 7},
                {"source": "acme.dt", "stream": "tasks", "tenant": "acme", "cursor": {}, "quarantined_total": 1},
                {"source": "acme.dt", "stream": "clean", "tenant": "acme", "cursor": {}, "quarantined_total": 0},
            ])
        assert s.upgrade() == s.head()

        def collapsed() -> dict[int, tuple[int, datetime, datetime]]:
            with s.engine.connect() as conn:
                return {r.id: (r.seen_count, r.received_at, r.last_seen_at)
                        for r in conn.execute(sa.select(schema.quarantine))}

        def totals() -> dict[str, int]:
            with s.engine.connect() as conn:
                return {r.stream: r.quarantined_total for r in conn.execute(sa.select(st))}

        assert collapsed() == {
            1: (4, T0, T0 + timedelta(hours=3)), 3: (1, T0 + timedelta(hours=1), T0 + timedelta(hours=1)),
            6: (2, T0 - timedelta(hours=1), T0 + timedelta(hours=5)), 8: (1, T0 + timedelta(hours=4),
                                                                            T0 + timedelta(hours=4))}
        assert totals() == {"receipts": 3, "tasks": 1, "clean": 0}  # now distinct bad records
        # the fingerprints the migration gave are the ones the code computes: meeting it again counts on
        s.commit_batch("acme", "acme.dt", "receipts", [], [
            Malformed(reason="userid: field required", payload={"task_id": 7, "at": 1.5}, remote_id="7"),
            Malformed(reason="userid: field required", payload=b"\xff")], None)
        assert {k: v[0] for k, v in collapsed().items()} == {1: 5, 3: 1, 6: 3, 8: 1}
        assert totals()["receipts"] == 3

        with s.begin() as conn:
            command.downgrade(s._alembic(conn), "0006")
        with s.engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("quarantine")}
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("quarantine")}
        assert not columns & {"fingerprint", "last_seen_at", "seen_count"}
        assert indexes == {"ix_quarantine_source_stream"}
        assert totals() == {"receipts": 9, "tasks": 1, "clean": 0}  # back to meetings: 7 rows, then 2 more
        assert s.upgrade() == s.head()
        assert {k: v[0] for k, v in collapsed().items()} == {1: 1, 3: 1, 6: 1, 8: 1}  # the counts went with 0006
    finally:
        s.engine.dispose()


def test_quarantine_keeps_no_raw_contact_or_secret(store: Store) -> None:
    payload = {"id": "inv-9", "candidate": {"email": "zhang.san@example.com", "mobile": 13812345678,
                                            "phone": "+86 138 1234 5678"}, "access_token": "t-0123456789abcdef",
               "notes": ["call 13912345678 or mail li.si@example.org"]}
    store.quarantine("acme", "acme.ai", "interviews", [
        Malformed(reason="email: zhang.san@example.com is not allowed here", payload=payload, remote_id="inv-9")])
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(schema.quarantine)).one()
        stored = json.dumps([row.payload, row.reason], ensure_ascii=False)
    for raw in ("zhang.san@example.com", "13812345678", "138 1234 5678", "t-0123456789abcdef", "13912345678",
                "li.si@example.org"):
        assert raw not in stored
    assert row.payload["candidate"] == {"email": "z***@example.com", "mobile": "138****5678", "phone": "138****5678"}
    assert row.payload["id"] == "inv-9" and row.reason == "email: z***@example.com is not allowed here"
    # the same bad record met again is still one row: redaction is part of its fingerprint
    store.quarantine("acme", "acme.ai", "interviews", [
        Malformed(reason="email: zhang.san@example.com is not allowed here", payload=payload, remote_id="inv-9")])
    assert store.quarantine_seen() == 2 and store.count("quarantine") == 1


def test_migration_0008_redacts_quarantine_and_counts_hand_overs(db_url: str) -> None:
    s = Store(db_url)
    try:
        s.upgrade("0007")
        q, a = schema.quarantine, schema.actions
        base = {"tenant": "acme", "source": "acme.ai", "stream": "interviews", "remote_id": "inv-1",
                "reason": "bad", "last_seen_at": T0, "seen_count": 1}
        with s.begin() as conn:
            conn.execute(sa.insert(q).values(**base, id=1, payload={"email": "a.li@example.com"}, received_at=T0,
                                             fingerprint="f1"))
            conn.execute(sa.insert(q).values(**base | {"seen_count": 2, "last_seen_at": T0 + timedelta(hours=2)},
                                             id=2, payload={"email": "a.lu@example.com"},
                                             received_at=T0 + timedelta(hours=1), fingerprint="f2"))
            conn.execute(sa.insert(a), [
                {"idempotency_key": key, "tenant": "acme", "connector": "acme.sms", "kind": "send_sms", "payload": {},
                 "status": status, "attempts": attempts, "due_at": T0, "created_at": T0, "updated_at": T0,
                 "last_error": error}
                for key, status, attempts, error in (
                    ("k-claimed", "claimed", 2, None), ("k-planned", "planned", 1, "TransientError: 504"),
                    ("k-fresh", "planned", 0, None), ("k-done", "done", 1, None),
                    ("k-requeued", "planned", 0, "TransientError: timeout"),  # requeue reset its attempts
                )])
        assert s.upgrade() == s.head()
        with s.engine.connect() as conn:
            rows = conn.execute(sa.select(q)).all()
            handed = dict(conn.execute(sa.select(a.c.idempotency_key, a.c.handed_over)).all())
        # both rows were one bad record once the addresses are masked alike: the earliest stays, counts summed
        assert [(r.id, r.payload, r.seen_count, r.last_seen_at) for r in rows] == [
            (1, {"email": "a***@example.com"}, 3, T0 + timedelta(hours=2))]
        assert rows[0].fingerprint == quarantine_fingerprint("acme", "acme.ai", "interviews", "inv-1", "bad",
                                                             {"email": "a***@example.com"})
        assert handed == {"k-claimed": 2, "k-planned": 1, "k-fresh": 0, "k-done": 0, "k-requeued": 1}  # maybe sent
        with s.begin() as conn:
            command.downgrade(s._alembic(conn), "0007")
        with s.engine.connect() as conn:
            assert "handed_over" not in {c["name"] for c in sa.inspect(conn).get_columns("actions")}
    finally:
        s.engine.dispose()


def _with_password(db_url: str) -> str:
    """`db_url` with a password in it (the test server trusts loopback, so it connects all the same)."""
    url = sa.make_url(db_url)
    return url.set(password="s3cret-pw").render_as_string(hide_password=False) if url.drivername != "sqlite" \
        else db_url


def test_a_store_never_migrated_says_to_run_db_upgrade_without_credentials(db_url: str) -> None:
    url = _with_password(db_url)
    store = Store(url)
    with pytest.raises(StoreNotMigrated) as info:
        store.count("interviews")
    [line] = info.value.problems
    assert line.endswith("its schema is missing or out of date: run `lifeline db upgrade`")
    assert "s3cret-pw" not in line
    assert str(sa.make_url(url).database) in line
    store.upgrade()
    assert store.count("interviews") == 0
    store.engine.dispose()


def test_a_store_missing_a_later_migrations_table_says_to_run_db_upgrade(store: Store) -> None:
    with store.begin() as conn:
        conn.execute(sa.text("DROP TABLE quarantine"))
    with pytest.raises(StoreNotMigrated, match=r"run `lifeline db upgrade`"):
        store.quarantine_seen(tenant="acme")


def test_a_command_on_a_store_never_migrated_exits_2_with_the_instruction(tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text("[tenants.acme]\nsandbox = true\n", encoding="utf-8")
    env = {"LIFELINE_CONFIG": str(config), "LIFELINE_STORE_URL": f"sqlite:///{tmp_path / 'new.db'}"}
    done = run_cli("reconcile", "--tenant", "acme", env=env)
    assert done.returncode == 2, done.stderr
    assert "run `lifeline db upgrade`" in done.stderr
    assert "no such table" not in done.stderr
