"""`reconcile(store, tenant, now, config)`: decide outcomes from the evidence trail, set-based.

One transaction per run: gate and stale-stream alerts, receipt attribution, scope (full or
incremental), the rules statement, the `lifeline_classify` hook if any, versioned outcome writes
and remediation cancellation, and the run's state. Observers (`lifeline_on_outcome`) are called
after the commit. Runs for one tenant are serialised by a lock on its `reconcile_state` row.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from lifeline_hub.core.config import Config, PolicySettings
from lifeline_hub.core.models import InterviewKind, Outcome, utcnow
from lifeline_hub.core.plugins import PluginHost, get_host
from lifeline_hub.core.reconcile.gate import StaleStream, Waiting, open_gate, record_stale, waiting_for
from lifeline_hub.core.reconcile.needs import Needs, needs_of
from lifeline_hub.core.reconcile.outcomes import new_outcomes, write_outcomes
from lifeline_hub.core.reconcile.override import apply_classify_hook
from lifeline_hub.core.reconcile.rules import RULE_VERSION, decide, fill_scope
from lifeline_hub.core.reconcile.scope import CHANGED, DECISION, JOINED, SCOPE, SIGNALS, attribute_receipts, changed_ids
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import evidence, reconcile_state

REWRITE_OVERLAP = timedelta(minutes=10)
"""Evidence re-written this long before the previous run started is looked at again (late commits)."""


@dataclass
class ReconcileSummary:
    tenant: str
    now: datetime
    full: bool = False
    examined: int = 0
    decided: Counter[str] = field(default_factory=Counter)
    """New outcome versions written, by class."""
    pending: Counter[str] = field(default_factory=Counter)
    """Interviews examined that are still pending, by reason."""
    superseded: int = 0
    cancelled_actions: int = 0
    overridden: int = 0
    attributed: int = 0
    stale: tuple[StaleStream, ...] = ()
    waiting: tuple[Waiting, ...] = ()
    """Why interviews are `stream_behind`: the needed streams behind the latest such window end + grace."""
    seconds: float = 0.0

    def lines(self) -> list[str]:
        mode = "full" if self.full else "incremental"
        decided = ", ".join(f"{k} {v}" for k, v in sorted(self.decided.items())) or "none"
        pending = ", ".join(f"{k} {v}" for k, v in sorted(self.pending.items())) or "none"
        lines = [
            f"{self.tenant}: {mode} reconcile at {self.now.isoformat()}: {self.examined} interviews examined "
            f"in {self.seconds:.2f}s",
            f"  new outcomes: {decided}",
            f"  pending: {pending}",
            f"  superseded {self.superseded}, planned actions cancelled {self.cancelled_actions}, "
            f"hook overrides {self.overridden}, receipts attributed {self.attributed}",
        ]
        lines += [f"  pending because {w.describe()}" for w in self.waiting]
        lines += [f"  stale stream: {s.describe(self.now)}" for s in self.stale]
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant, "now": self.now.isoformat(), "full": self.full, "examined": self.examined,
            "decided": dict(self.decided), "pending": dict(self.pending), "superseded": self.superseded,
            "cancelled_actions": self.cancelled_actions, "overridden": self.overridden,
            "attributed": self.attributed, "seconds": round(self.seconds, 3),
            "stale_streams": [{"source": s.source, "stream": s.stream,
                               "watermark": s.watermark.isoformat() if s.watermark else None} for s in self.stale],
            "pending_because": [{"source": w.source, "stream": w.stream, "needed": w.needed.isoformat(),
                                 "watermark": w.watermark.isoformat() if w.watermark else None,
                                 "last_success_at": w.last_success_at.isoformat() if w.last_success_at else None}
                                for w in self.waiting],
        }


DECISION_SETTINGS = ("grace_minutes", "late_after_minutes", "min_attendance_minutes", "technical_clicks")
"""The policy fields decisions depend on (the others concern alerts and remediation)."""


def fingerprint(policy: PolicySettings, needs: Needs) -> str:
    """Changes whenever the rules, the tenant's decision thresholds or its needed streams change."""
    settings = [getattr(policy, name) for name in DECISION_SETTINGS]
    text = f"{RULE_VERSION}|{settings}|{needs.fingerprint()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def reconcile(store: Store, tenant: str, now: datetime, config: Config, host: PluginHost | None = None, *,
              full: bool = False, overlap: timedelta = REWRITE_OVERLAP) -> ReconcileSummary:
    """Decide (or re-decide) the tenant's interviews as of `now`; see the package docstring."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    clock = time.perf_counter()
    host = host or get_host()
    policy = config.tenant(tenant).policy
    needs = needs_of(config.instances(tenant))
    mark = fingerprint(policy, needs)
    started = utcnow()
    summary = ReconcileSummary(tenant, now)
    fresh: list[Outcome] = []
    with store.begin() as conn:
        if conn.dialect.name == "sqlite":  # before any write: the run's scratch tables live in memory
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        state = _lock_state(conn, tenant)
        gate = open_gate(conn, needs, policy, now)
        summary.stale = gate.stale
        record_stale(conn, tenant, gate.stale, now)
        summary.attributed = attribute_receipts(conn, tenant)
        summary.full = full or state["fingerprint"] != mark or state["last_run_at"] is None
        last_id = conn.execute(sa.select(sa.func.coalesce(sa.func.max(evidence.c.id), 0))).scalar_one()
        ids = None if summary.full else changed_ids(
            tenant, state["last_evidence_id"], state["last_run_at"] - overlap,
            _cutoffs(state["cutoffs"]), gate.cutoffs)
        scratch = (SCOPE, JOINED, SIGNALS, DECISION, CHANGED)
        for table in scratch:
            table.create(conn)
        summary.examined = fill_scope(conn, tenant, ids, gate, needs, policy)
        decide(conn, policy)
        summary.overridden = apply_classify_hook(conn, host)
        written = write_outcomes(conn, now)
        summary.decided, summary.superseded = written.by_class, written.superseded
        summary.cancelled_actions = written.cancelled_actions
        summary.pending.update({reason: n for reason, n in conn.execute(
            sa.select(SCOPE.c.pending, sa.func.count()).where(SCOPE.c.pending.is_not(None))
            .group_by(SCOPE.c.pending))})
        summary.waiting = _waiting(conn, needs, policy)
        if host.implements("lifeline_on_outcome"):
            fresh = new_outcomes(conn)
        for table in reversed(scratch):
            table.drop(conn)
        rs = reconcile_state
        conn.execute(sa.update(rs).where(rs.c.tenant == tenant).values(
            last_evidence_id=last_id, rule_version=RULE_VERSION, last_run_at=started, fingerprint=mark,
            cutoffs={k.value: (v.isoformat() if v else None) for k, v in gate.cutoffs.items()},
        ))
    for outcome in fresh:
        host.on_outcome(outcome)
    summary.seconds = time.perf_counter() - clock
    return summary


def _waiting(conn: sa.Connection, needs: Needs, policy: PolicySettings) -> tuple[Waiting, ...]:
    """The streams the run's `stream_behind` interviews wait for (per kind, for its latest window end)."""
    latest = conn.execute(sa.select(SCOPE.c.kind, sa.func.max(SCOPE.c.end_at))
                          .where(SCOPE.c.pending == "stream_behind").group_by(SCOPE.c.kind)).all()
    found: dict[tuple[str, str], Waiting] = {}
    for kind, end_at in latest:
        for w in waiting_for(conn, needs, policy, InterviewKind(kind), end_at):
            known = found.get((w.source, w.stream))
            if known is None or w.needed > known.needed:
                found[(w.source, w.stream)] = w
    return tuple(found[key] for key in sorted(found))


def _lock_state(conn: sa.Connection, tenant: str) -> dict[str, Any]:
    """The tenant's run state, locked for this transaction (created on the first run)."""
    rs = reconcile_state
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(rs).values(tenant=tenant, last_evidence_id=0).on_conflict_do_nothing())
    row = conn.execute(sa.select(rs).where(rs.c.tenant == tenant).with_for_update()).one()
    return dict(row._mapping)


def _cutoffs(saved: dict[str, str | None] | None) -> dict[InterviewKind, datetime | None]:
    found = saved or {}
    return {k: datetime.fromisoformat(v) if (v := found.get(k.value)) else None for k in InterviewKind}
