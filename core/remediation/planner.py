"""`plan`: turn new outcomes into outbox rows, once per decision.

Each current outcome without a case gets one (`remediation_cases`), recorded in the transaction
that enqueues its actions: re-running plans nothing twice. A new version of the same decision
(same class, same appointment version) keeps the keys of the first, so rows already dispatched
are not repeated and rows still waiting are re-pointed to the new version; a changed decision
cancels what the old one still had waiting and closes the HR tasks the old one created that it does
not plan itself (`closing`: once per task, on the connector that made it, unless HR completed it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from lifeline_hub.core.config import Config
from lifeline_hub.core.models import Action, ActionStatus, Outcome, OutcomeClass, utcnow
from lifeline_hub.core.outbox import cancel_superseded, enqueue
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.remediation import incidents
from lifeline_hub.core.remediation.build import MESSAGE_KINDS, REINVITES, Builder, Built, action_key
from lifeline_hub.core.remediation.case import Case, earlier_misses, load_case, unplanned_outcomes
from lifeline_hub.core.remediation.closing import closings, completed_late, reason_for
from lifeline_hub.core.remediation.policies import SECOND_MISS, STEPS, Playbook, PolicyError, Step, capped, choose
from lifeline_hub.core.store import Store, insert_new
from lifeline_hub.core.store.schema import actions, remediation_cases

log = logging.getLogger("lifeline.remediation")
TOO_OLD = Playbook("too_old", ())


@dataclass
class PlanSummary:
    tenant: str
    cases: int = 0
    planned: list[str] = field(default_factory=list)
    cancelled: int = 0
    incidents: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.tenant}: {self.cases} new decisions, {len(self.planned)} actions planned, "
                f"{self.cancelled} cancelled, {len(self.incidents)} incidents, {len(self.problems)} problems")


def plan(store: Store, config: Config, host: PluginHost, tenant: str, now: datetime | None = None,
         batch: int = 200) -> PlanSummary:
    """Plan remediation for the tenant's new outcomes; returns what was planned and what could not be."""
    now = now or utcnow()
    config.tenant(tenant)
    summary = PlanSummary(tenant)
    with store.begin() as conn:
        summary.cancelled += cancel_superseded(conn, now, tenant=tenant)
        summary.planned += enqueue(conn, completed_late(conn, config, tenant, now), now)
    builder = Builder(store, config, host, now)
    seen: set[tuple[str, int]] = set()
    technical: list[Case] = []
    while True:
        with store.engine.connect() as conn:
            fresh = [o for o in unplanned_outcomes(conn, tenant, batch) if (o.interview_id, o.version) not in seen]
        if not fresh:
            break
        for outcome in fresh:
            seen.add((outcome.interview_id, outcome.version))
            try:
                case = _plan_one(store, config, host, builder, tenant, outcome, now, summary)
            except Exception as exc:  # one bad case must not hold up the others; it is tried again next run
                log.exception("planning %s v%d failed", outcome.interview_id, outcome.version)
                summary.problems.append(f"{outcome.interview_id}: not planned ({type(exc).__name__}: {exc})")
                continue
            if case is not None and case.outcome.outcome is OutcomeClass.missed_technical:
                technical.append(case)
    summary.incidents += incidents.check(store, config, tenant, technical, now)
    return summary


def _plan_one(store: Store, config: Config, host: PluginHost, builder: Builder, tenant: str, outcome: Outcome,
              now: datetime, summary: PlanSummary) -> Case | None:
    with store.engine.connect() as conn:
        case = load_case(conn, tenant, outcome)
        if case is None:
            return None
        misses = earlier_misses(conn, case)
        used = _reinvites_used(conn, case.interview.id)
    try:
        playbook = _playbook(config, host, case, misses, used, now)
    except PolicyError as exc:
        summary.problems.append(f"{case.interview.id}: {exc}")
        playbook = Playbook("invalid", ())
    built = builder.build(case, playbook.steps, misses)
    summary.problems += built.problems
    with store.begin() as conn:
        if not _open_case(conn, case, playbook, built, now):
            return None  # another planner got there first
        summary.cancelled += cancel_superseded(conn, now, [case.interview.id])
        summary.planned += enqueue(conn, [*built.actions, *_closings(conn, config, case, playbook, built, now)], now)
    summary.cases += 1
    return case


def _closings(conn: sa.Connection, config: Config, case: Case, playbook: Playbook, built: Built,
              now: datetime) -> list[Action]:
    """Close the tasks of earlier decisions on this interview that this one does not plan itself."""
    reason = reason_for(case.outcome.outcome)
    if reason is None:
        return []
    keep = {action_key(case, s) for s in playbook.steps} | {a.idempotency_key for a in built.actions}
    return closings(conn, config, case.tenant, case.interview.id, reason, now, keep)


def _playbook(config: Config, host: PluginHost, case: Case, misses: int, used: int, now: datetime) -> Playbook:
    policy = config.tenant(case.tenant).policy
    if case.interview.end_at < now - timedelta(hours=policy.remediation_horizon_hours):
        return TOO_OLD  # e.g. history reconciled on a first run: nobody is contacted about last month
    chosen = choose(case.outcome.outcome, policy.playbooks, host.policies)
    if case.same_decision_as_prior and case.prior is not None:
        known: dict[str, Step] = {s.name: s for s in (*STEPS.values(), *chosen.steps, *SECOND_MISS.steps)}
        return Playbook(case.prior.playbook, tuple(known[s] for s in case.prior.steps if s in known))
    return capped(chosen, earlier_misses=misses, reinvites_used=used, max_reinvites=policy.max_auto_reinvites,
                  is_miss=case.outcome.outcome.value.startswith("missed"))


def _reinvites_used(conn: sa.Connection, interview_id: str) -> int:
    """Re-invitations of the candidate for this interview that went (or are going) out."""
    rows = conn.execute(sa.select(actions.c.payload).where(
        actions.c.interview_id == interview_id, actions.c.kind.in_(MESSAGE_KINDS),
        actions.c.status.in_([ActionStatus.claimed.value, ActionStatus.done.value]),
    ))
    return sum(1 for (payload,) in rows if payload.get("purpose") in REINVITES)


def _open_case(conn: sa.Connection, case: Case, playbook: Playbook, built: Built, now: datetime) -> bool:
    return bool(insert_new(conn, remediation_cases, [dict(
        tenant=case.tenant, interview_id=case.interview.id, outcome_version=case.outcome.version,
        outcome=case.outcome.outcome.value, origin_version=case.origin_version, sequence=case.sequence,
        application_id=case.interview.application_id, playbook=playbook.name, steps=list(built.steps),
        planned_at=now,
    )], ("interview_id", "outcome_version")))


def cases(store: Store, tenant: str, interview_id: str | None = None) -> Sequence[sa.Row[tuple[object, ...]]]:
    """The tenant's remediation cases (for the CLI and tests), newest first."""
    rc = remediation_cases
    query = sa.select(rc).where(rc.c.tenant == tenant)
    if interview_id is not None:
        query = query.where(rc.c.interview_id == interview_id)
    with store.engine.connect() as conn:
        return conn.execute(query.order_by(rc.c.id.desc())).all()
