"""Every outcome class and sub-reason, decided in one set-based run, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lifeline_hub.core.models import (
    Channel,
    ConfirmationAction,
    DeliveryStatus,
    DeliveryType,
    InterviewKind,
    InterviewStatus,
    LinkEventType,
    NotificationPurpose,
    RequestStatus,
    Role,
)
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import evidence, outcomes
from tests.reconcile.scenario import MIN, T0, World, config

DAY = timedelta(days=1)
NOW = T0 + timedelta(hours=2)

EXPECTED = {
    "on-time": ("attended", "on_time", "high"),
    "late": ("attended_late", "late_join", "high"),
    "short": ("attended_partial", "short_attendance", "medium"),
    "rejoined": ("attended", "on_time", "high"),
    "join-error": ("missed_technical", "join_error", "high"),
    "two-attempts": ("missed_technical", "repeated_attempts", "medium"),
    "declined": ("missed_declined", "declined", "high"),
    "asked-to-move": ("missed_declined", "reschedule_requested", "high"),
    "read": ("missed_read_no_show", "read", "medium"),
    "opened": ("missed_read_no_show", "link_opened", "high"),
    "confirmed": ("missed_read_no_show", "confirmed_no_show", "high"),
    "silence": ("missed_not_reached", "nothing_sent", "high"),
    "bounced": ("missed_not_reached", "undelivered", "high"),
    "unread": ("missed_not_reached", "delivered_unread", "medium"),
    "sms-delivered": ("missed_not_reached", "delivered_read_unknown", "medium"),
    "accepted": ("missed_not_reached", "delivered_read_unknown", "medium"),
    "cancelled": ("cancelled", "ats", "high"),
    "cancelled-after-decline": ("cancelled", "candidate_declined", "high"),
    "moved-in-ats": ("rescheduled", "ats", "high"),
    "old-version": ("rescheduled", "new_version", "high"),
    "approved": ("rescheduled", "request_approved", "high"),
    "approved-but-held": ("attended", "on_time", "high"),
    "onsite": ("unknown", "no_attendance_source", "low"),
    "onsite-declined": ("missed_declined", "declined", "high"),
    "onsite-attested": ("attended", "on_time", "high"),
    "async-submitted": ("attended", "submitted", "high"),
    "async-after-deadline": ("attended_late", "submitted_late", "high"),
    "async-started": ("attended_partial", "not_submitted", "medium"),
    "async-crashed": ("missed_technical", "join_error", "high"),
}


def build(w: World) -> dict[str, str]:
    """One interview per case in EXPECTED (plus a future one and a newer version)."""
    ids = {name: w.interview(name) for name in EXPECTED if not name.startswith(("async", "onsite"))}
    ids |= {n: w.interview(n, kind=InterviewKind.onsite) for n in EXPECTED if n.startswith("onsite")}
    ids |= {n: w.interview(n, kind=InterviewKind.ai_async, minutes=48 * 60, start=T0 - 2 * DAY)
            for n in EXPECTED if n.startswith("async")}
    deadline = T0
    w.join(ids["on-time"], T0 + MIN, T0 + 50 * MIN)
    w.join(ids["on-time"], T0 - 3 * MIN, T0 + 50 * MIN, role=Role.interviewer)
    w.join(ids["late"], T0 + 10 * MIN, T0 + 55 * MIN)
    w.join(ids["short"], T0 + 2 * MIN, T0 + 5 * MIN)
    w.join(ids["rejoined"], T0, T0 + 3 * MIN)
    w.join(ids["rejoined"], T0 + 4 * MIN, T0 + 6 * MIN)
    w.link(ids["join-error"], T0 + MIN, LinkEventType.join_error, code="device_check")
    w.link(ids["two-attempts"], T0 + MIN, LinkEventType.join_attempt)
    w.link(ids["two-attempts"], T0 + 3 * MIN, LinkEventType.join_attempt)
    w.answer(ids["declined"], T0 - DAY, ConfirmationAction.decline)
    w.answer(ids["asked-to-move"], T0 - 2 * DAY, ConfirmationAction.decline)
    w.request(ids["asked-to-move"], T0 - DAY)
    sent = w.notify(ids["read"], T0 - DAY, Channel.feishu)
    w.receipt(sent, T0 - DAY + 60 * MIN, DeliveryType.read, Channel.feishu, iv=ids["read"])
    w.notify(ids["opened"], T0 - DAY)
    w.link(ids["opened"], T0 - DAY + 5 * MIN)
    w.answer(ids["confirmed"], T0 - DAY, ConfirmationAction.confirm)
    bounced = w.notify(ids["bounced"], T0 - DAY)
    w.receipt(bounced, T0 - DAY + MIN, DeliveryType.failed, iv=ids["bounced"], code="MOBILE_NUMBER_ILLEGAL")
    unread = w.notify(ids["unread"], T0 - DAY, Channel.feishu)  # Feishu knows reads: no read is "unread"
    w.receipt(unread, T0 - DAY + MIN, DeliveryType.delivered, Channel.feishu, iv=ids["unread"])
    delivered = w.notify(ids["sms-delivered"], T0 - DAY)  # SMS has no read receipts: read unknown, not "unread"
    w.receipt(delivered, T0 - DAY + MIN, DeliveryType.delivered, iv=ids["sms-delivered"], code="DELIVERED")
    w.notify(ids["accepted"], T0 - DAY, Channel.email)
    for name in ("cancelled", "cancelled-after-decline"):
        w.interview(name, status=InterviewStatus.cancelled, updated=T0 - DAY)
    w.answer(ids["cancelled-after-decline"], T0 - 2 * DAY, ConfirmationAction.decline)
    w.interview("moved-in-ats", status=InterviewStatus.rescheduled)
    w.interview("newer", start=T0 + 3 * DAY, thread="old-version", sequence=1, updated=T0 - DAY)
    w.request(ids["approved"], T0 - DAY, RequestStatus.approved)
    w.request(ids["approved-but-held"], T0 - DAY, RequestStatus.approved)  # approved, but nobody moved it...
    w.join(ids["approved-but-held"], T0, T0 + 45 * MIN)  # ...and it took place
    w.answer(ids["onsite-declined"], T0 - DAY, ConfirmationAction.decline)
    w.join(ids["onsite-attested"], T0, T0 + 45 * MIN)
    w.join(ids["async-submitted"], deadline - DAY, deadline - DAY + 30 * MIN, completed=True)
    w.join(ids["async-after-deadline"], deadline - 10 * MIN, deadline + 20 * MIN, completed=True)
    w.join(ids["async-started"], deadline - DAY, None)
    w.join(ids["async-crashed"], deadline - DAY, None)
    w.link(ids["async-crashed"], deadline - DAY + 2 * MIN, LinkEventType.join_error, code="upload:timeout")
    w.watermark(NOW)
    return ids


def test_every_class_and_sub_reason(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    build(w)
    summary = w.run(NOW)
    assert w.current() == EXPECTED
    assert summary.full and summary.examined == len(EXPECTED) + 1
    assert summary.pending == {"window_open": 1}  # the newer version, three days ahead
    assert sum(summary.decided.values()) == len(EXPECTED)
    assert summary.stale == ()


def _evidence_of(store: Store, name: str) -> list[tuple[str, str]]:
    """The (kind, type) of the evidence an outcome names."""
    with store.engine.connect() as conn:
        ids = conn.execute(sa.select(outcomes.c.evidence_ids)
                           .where(outcomes.c.interview_id == f"acme.ats/{name}")).scalar_one()
        rows = conn.execute(sa.select(evidence.c.kind, evidence.c.type).where(evidence.c.id.in_(ids))
                            .order_by(evidence.c.occurred_at))
        return [(k, t) for k, t in rows]


def test_outcomes_name_the_evidence_they_rest_on(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    build(w)
    w.run(NOW)
    assert _evidence_of(store, "on-time") == [("attendance", "candidate")]
    assert _evidence_of(store, "rejoined") == [("attendance", "candidate")] * 2
    assert _evidence_of(store, "two-attempts") == [("link_event", "join_attempt")] * 2
    assert _evidence_of(store, "read") == [("delivery_event", "read")]
    assert _evidence_of(store, "bounced") == [("notification", "invite"), ("delivery_event", "failed")]
    assert _evidence_of(store, "asked-to-move") == [("confirmation", "decline"), ("reschedule_request", "submitted")]
    assert _evidence_of(store, "async-crashed") == [("attendance", "candidate"), ("link_event", "join_error")]
    assert _evidence_of(store, "silence") == []


def _snapshot(url: str, tmp_path: Path) -> list[tuple[object, ...]]:
    store = Store(url)
    store.upgrade()
    w = World(store, config(tmp_path))
    build(w)
    w.run(NOW)
    w.join("acme.ats/silence", T0 + 30 * MIN, T0 + 59 * MIN)  # a late join: a second version
    w.run(NOW + timedelta(hours=1))
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(evidence.c.id, evidence.c.source + "/" + evidence.c.remote_id))
        refs = {i: ref for i, ref in found}
        rows = conn.execute(sa.select(outcomes).order_by(outcomes.c.interview_id, outcomes.c.version)).all()
    store.engine.dispose()
    return [(r.interview_id, r.version, r.outcome, r.sub_reason, r.confidence, sorted(refs[i] for i in r.evidence_ids),
             r.rule_version, r.decided_at, r.superseded_at) for r in rows]


@pytest.mark.postgres
def test_sqlite_and_postgresql_decide_identically(sqlite_url: str, pg_url: str, tmp_path: Path) -> None:
    on_sqlite = _snapshot(sqlite_url, tmp_path)
    assert len(on_sqlite) == len(EXPECTED) + 1
    assert on_sqlite == _snapshot(pg_url, tmp_path)


def test_follow_ups_after_the_window_and_hr_tasks_are_not_reach(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("quiet")
    w.notify(iv, T0 - DAY, Channel.email)
    w.notify(iv, T0 - DAY, Channel.dingtalk, NotificationPurpose.hr_task, DeliveryStatus.read)
    offer = w.notify(iv, T0 + 2 * 60 * MIN, Channel.feishu, NotificationPurpose.reschedule_offer)
    w.receipt(offer, T0 + 2 * 60 * MIN + MIN, DeliveryType.read, Channel.feishu, iv=iv)
    w.link(iv, T0 + 61 * MIN)  # clicked after the end
    w.watermark(NOW + DAY)
    w.run(NOW + DAY)
    assert w.current()["quiet"][:2] == ("missed_not_reached", "delivered_read_unknown")
    assert _evidence_of(store, "quiet") == [("notification", "invite")]
