"""Which interviews a run revisits, and the run's scratch tables.

A full run takes every interview of the tenant. An incremental run takes only those
- touched by evidence stored since the last run: new rows (`id > last_evidence_id`) and rows
  re-written by an upsert (`synced_at` since the last run's start, less an overlap for writers that
  committed late), including receipts attributed to an interview through their notification;
- whose own row changed (a reschedule, a cancellation), and the others in the same thread;
- whose decision time has come: for each kind, `end_at` in (previous cutoff, current cutoff].
Everything else keeps its outcome; nothing is lost because cutoffs only move forward (watermarks
never go back) and any change of rules, thresholds or needed streams forces a full run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa

from lifeline_hub.core.models import DeliveryEvent, InterviewKind, Notification
from lifeline_hub.core.reconcile.sqlfn import ref_remote, ref_source, unindexed
from lifeline_hub.core.store.schema import UtcTimestamp, evidence, interviews

scratch = sa.MetaData()


def _temporary(name: str, *columns: sa.Column[object]) -> sa.Table:
    """A temporary table keyed by interview id (on SQLite clustered by it: one B-tree, not two)."""
    return sa.Table(name, scratch, *columns, prefixes=["TEMPORARY"], sqlite_with_rowid=False)


SCOPE = _temporary(
    "ll_rc_scope",
    sa.Column("interview_id", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("start_at", UtcTimestamp(), nullable=False),
    sa.Column("end_at", UtcTimestamp(), nullable=False),
    sa.Column("pre_start", UtcTimestamp(), nullable=False),
    sa.Column("late_bound", UtcTimestamp(), nullable=False),
    sa.Column("moved", sa.Integer, nullable=False),
    sa.Column("pending", sa.String(16)),
    sa.Column("has_source", sa.Integer, nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("interviewers", sa.Text),
    sa.Column("carried_at", UtcTimestamp()),
)
"""The interviews of this run, with their per-interview bounds computed once."""

JOINED = _temporary(
    "ll_rc_joined",
    sa.Column("interview_id", sa.String(255), primary_key=True),
    sa.Column("first_join", UtcTimestamp()),
    sa.Column("att_ms", sa.BigInteger, nullable=False),
    sa.Column("first_submit", UtcTimestamp()),
    sa.Column("att_ids", sa.Text),
)
"""The attendance of every interview in scope (it decides most of them)."""

SIGNALS = _temporary(
    "ll_rc_signals",
    sa.Column("interview_id", sa.String(255), primary_key=True),
    sa.Column("last_no", UtcTimestamp()),
    sa.Column("last_asked", UtcTimestamp()),
    sa.Column("last_yes", UtcTimestamp()),
    sa.Column("links", sa.BigInteger, nullable=False),
    sa.Column("reach", sa.BigInteger, nullable=False),
    sa.Column("sent_n", sa.Integer, nullable=False),
    sa.Column("readable_n", sa.Integer, nullable=False),
    sa.Column("approved_n", sa.Integer, nullable=False),
    sa.Column("notified_n", sa.Integer, nullable=False),
    sa.Column("answer_max", sa.Integer),
    sa.Column("answer_min", sa.Integer),
)
"""The rest of the evidence, only for the interviews attendance did not decide."""

DECISION = _temporary(
    "ll_rc_decision",
    sa.Column("interview_id", sa.String(255), primary_key=True),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("sub_reason", sa.String(64)),
    sa.Column("confidence", sa.String(8), nullable=False),
    sa.Column("evidence_ids", sa.Text),
    sa.Column("rule_version", sa.String(32), nullable=False),
)
"""What the rules (or the `lifeline_classify` hook) decided for each interview in scope."""

CHANGED = _temporary(
    "ll_rc_changed",
    sa.Column("interview_id", sa.String(255), primary_key=True),
    sa.Column("old_id", sa.Integer),
    sa.Column("old_version", sa.Integer),
    sa.Column("version", sa.Integer, nullable=False),
)
"""Interviews whose decision differs from their current outcome: they get a new version."""


def attribute_receipts(conn: sa.Connection, tenant: str) -> int:
    """Fill `interview_id` of delivery receipts that carry only their notification's id (`ref`)."""
    e, n = evidence, evidence.alias("notification")
    owner = sa.and_(
        n.c.source == ref_source(e.c.ref), n.c.kind == Notification.record_type,
        n.c.remote_id == ref_remote(e.c.ref), n.c.tenant == e.c.tenant, n.c.interview_id.is_not(None),
    )
    stmt = (sa.update(e)
            .where(e.c.interview_id.is_(None), e.c.kind == DeliveryEvent.record_type, unindexed(e.c.tenant) == tenant,
                   e.c.ref.is_not(None), sa.exists().where(owner))
            .values(interview_id=sa.select(n.c.interview_id).where(owner).limit(1).scalar_subquery()))
    return conn.execute(stmt).rowcount


def changed_ids(tenant: str, last_evidence_id: int, since: datetime,
                previous: Mapping[InterviewKind, datetime | None],
                current: Mapping[InterviewKind, datetime | None]) -> sa.CompoundSelect[tuple[str]]:
    """Ids of the interviews an incremental run revisits (see the module docstring)."""
    e, i, peer = evidence, interviews, interviews.alias("peer")
    parts: list[sa.Select[tuple[str]]] = [
        sa.select(e.c.interview_id).where(e.c.id > last_evidence_id, unindexed(e.c.tenant) == tenant,
                                          e.c.interview_id.is_not(None)),
        sa.select(e.c.interview_id).where(e.c.tenant == tenant, e.c.synced_at >= since, e.c.interview_id.is_not(None)),
        sa.select(i.c.id).where(i.c.tenant == tenant, i.c.synced_at >= since),
        sa.select(peer.c.id).join(i, sa.and_(peer.c.thread_id == i.c.thread_id,
                                             unindexed(peer.c.tenant) == i.c.tenant))
        .where(i.c.tenant == tenant, i.c.synced_at >= since),
    ]
    for kind, cut in current.items():
        if cut is None:
            continue
        due = [i.c.tenant == tenant, i.c.kind == kind.value, i.c.end_at <= cut]
        before = previous.get(kind)
        if before is not None:
            if before >= cut:
                continue
            due.append(i.c.end_at > before)
        parts.append(sa.select(i.c.id).where(*due))
    return sa.union(*parts)
