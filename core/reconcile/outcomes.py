"""Versioned outcomes, written set-based from the decision table.

An interview without an outcome row is pending. A decision that differs from the interview's
current outcome (class, sub-reason or confidence) becomes a new version; the old one gets
`superseded_at`, and actions still `planned` for the old version are cancelled, all in the caller's
transaction. A `stream_behind` pending never replaces a decision already made: a stale source
must not churn outcomes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lifeline_hub.core.models import ActionStatus, Confidence, Outcome, OutcomeClass
from lifeline_hub.core.reconcile.rules import fill_evidence_ids
from lifeline_hub.core.reconcile.scope import CHANGED, DECISION
from lifeline_hub.core.reconcile.sqlfn import json_ids
from lifeline_hub.core.store.schema import actions, outcomes


@dataclass
class Written:
    by_class: Counter[str] = field(default_factory=Counter)
    superseded: int = 0
    cancelled_actions: int = 0


def write_outcomes(conn: sa.Connection, now: datetime) -> Written:
    d, c, o = DECISION, CHANGED, outcomes
    current = o.alias("current")
    keeps_old = sa.and_(d.c.outcome == OutcomeClass.pending.value, d.c.sub_reason == "stream_behind")
    differs = sa.or_(
        sa.and_(current.c.id.is_(None), d.c.outcome != OutcomeClass.pending.value),
        sa.and_(current.c.id.is_not(None), sa.not_(keeps_old), sa.or_(
            d.c.outcome != current.c.outcome, d.c.sub_reason.is_distinct_from(current.c.sub_reason),
            d.c.confidence != current.c.confidence,
        )),
    )
    joined = d.outerjoin(current, sa.and_(current.c.interview_id == d.c.interview_id,
                                          current.c.superseded_at.is_(None)))
    conn.execute(sa.insert(c).from_select(
        ["interview_id", "old_id", "old_version", "version"],
        sa.select(d.c.interview_id, current.c.id, current.c.version,
                  sa.func.coalesce(current.c.version, 0) + 1).select_from(joined).where(differs),
    ))
    fill_evidence_ids(conn)
    written = Written()
    written.superseded = conn.execute(
        sa.update(o).where(o.c.id.in_(sa.select(c.c.old_id).where(c.c.old_id.is_not(None))))
        .values(superseded_at=now)).rowcount
    a = actions
    stale_plan = sa.exists().where(c.c.interview_id == a.c.interview_id, c.c.old_version == a.c.outcome_version)
    written.cancelled_actions = conn.execute(
        sa.update(a).where(a.c.status == ActionStatus.planned.value, stale_plan)
        .values(status=ActionStatus.cancelled.value, updated_at=now,
                last_error="cancelled: the outcome it was planned for was superseded")).rowcount
    conn.execute(sa.insert(o).from_select(
        ["interview_id", "version", "outcome", "sub_reason", "confidence", "evidence_ids", "rule_version",
         "decided_at"],
        sa.select(c.c.interview_id, c.c.version, d.c.outcome, d.c.sub_reason, d.c.confidence,
                  json_ids(d.c.evidence_ids), d.c.rule_version, sa.literal(now, o.c.decided_at.type))
        .select_from(c.join(d, d.c.interview_id == c.c.interview_id)),
    ))
    rows = conn.execute(sa.select(d.c.outcome, sa.func.count()).select_from(c.join(d, d.c.interview_id ==
                                                                                   c.c.interview_id))
                        .group_by(d.c.outcome))
    written.by_class.update({name: int(n) for name, n in rows})
    return written


def new_outcomes(conn: sa.Connection) -> list[Outcome]:
    """The outcome versions this run wrote (read before the scratch tables go)."""
    o, c = outcomes, CHANGED
    rows = conn.execute(sa.select(o).join(c, sa.and_(o.c.interview_id == c.c.interview_id,
                                                     o.c.version == c.c.version)).order_by(o.c.interview_id))
    return [to_outcome(row._mapping) for row in rows]


def to_outcome(row: Any) -> Outcome:
    return Outcome(
        interview_id=row["interview_id"], version=row["version"], outcome=OutcomeClass(row["outcome"]),
        sub_reason=row["sub_reason"], confidence=Confidence(row["confidence"]),
        evidence_ids=tuple(sorted(row["evidence_ids"] or ())), rule_version=row["rule_version"],
        decided_at=row["decided_at"],
    )
