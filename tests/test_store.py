"""The store on a SQLite file and on a real PostgreSQL server: migrations, upserts, state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from core.connector import Checkpoint, Malformed
from core.models import (
    AppointmentThread,
    Candidate,
    ContactPoint,
    DeliveryEvent,
    DeliveryType,
    Interview,
    InterviewKind,
    LinkEvent,
    LinkEventType,
    Notification,
    NotificationPurpose,
)
from core.store import Store, schema

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
    from core.models import Channel

    cand = Candidate(source="acme.hire", remote_id="c1", name="Li Lei",
                     contacts=(ContactPoint.email("li@example.com"), ContactPoint.phone("13812341234")))
    store.write("acme", [cand])
    phone = store.contact("acme.hire/c1", Channel.sms)
    assert phone is not None and phone.value.get_secret_value() == "+8613812341234"
    assert phone.masked == "138****1234"
    assert store.contact("acme.hire/c1", Channel.feishu) is None
    assert store.contact("acme.hire/nobody", Channel.sms) is None
