"""Close the HR tasks of a case that closed without them: once per task, on the connector that made it.

A task is a `create_task` row that is done (the vendor holds it). When a decision is superseded by one that no
longer needs its task (a late join, the interview moved or cancelled, an interviewer's answer, another miss
with a task of its own), or HR finishes the case on Lifeline's page, each such task gets one `close_task` row
on its connector, if that connector declares `close_task`, keyed
`idempotency_key(interview, 0, "close_task/<task key>", 0)`: whatever decides it, however often, the same task
gets the same key, so it is closed once and never another task. A task HR already completed in the vendor
(a `done` event on its notification) is not touched. A task whose row was recorded done only after its
decision was superseded (in flight at the vendor meanwhile) is found by `completed_late` on a later run.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa

from lifeline_hub.core.config import Config
from lifeline_hub.core.models import Action, ActionStatus, OutcomeClass, canonical_id, idempotency_key
from lifeline_hub.core.remediation.payloads import payload_of
from lifeline_hub.core.store.schema import actions, evidence, outcomes, remediation_cases

REASONS = {
    OutcomeClass.attended: "the candidate attended: no action needed",
    OutcomeClass.attended_late: "the candidate joined late: no action needed",
    OutcomeClass.cancelled: "the interview was cancelled",
    OutcomeClass.rescheduled: "the interview was moved",
}
UNDECIDED = frozenset({OutcomeClass.pending})
"""Not a decision to close anything on: the evidence is not all in yet."""
HR_DONE = "done"
"""The code of a delivery event that says HR completed the task in the vendor."""


def reason_for(outcome: OutcomeClass) -> str | None:
    """Why a decision no longer needs an earlier decision's tasks; None when it closes none."""
    if outcome in UNDECIDED:
        return None
    return REASONS.get(outcome, f"superseded by a new decision ({outcome.value})")


def close_key(interview_id: str, task_key: str) -> str:
    return idempotency_key(interview_id, 0, f"close_task/{task_key}", 0)


def _hr_completed(conn: sa.Connection, interview_id: str, task_keys: Collection[str]) -> set[str]:
    """Those of `task_keys` whose task HR completed in the vendor."""
    notes = conn.execute(sa.select(evidence.c.source, evidence.c.remote_id, evidence.c.data).where(
        evidence.c.interview_id == interview_id, evidence.c.kind == "notification"))
    by_ref = {canonical_id(source, remote): data.get("idempotency_key") for source, remote, data in notes
              if data.get("idempotency_key") in task_keys}
    if not by_ref:
        return set()
    done = conn.execute(sa.select(evidence.c.ref).where(
        evidence.c.kind == "delivery_event", evidence.c.code == HR_DONE, evidence.c.ref.in_(by_ref)))
    return {by_ref[ref] for (ref,) in done}


def closings(conn: sa.Connection, config: Config, tenant: str, interview_id: str, reason: str, now: datetime,
             keep: Collection[str] = ()) -> list[Action]:
    """`close_task` rows for the interview's open HR tasks, except those of `keep` (the keys the current
    decision plans); enqueue them in the transaction that decided so."""
    rows = conn.execute(sa.select(actions.c.idempotency_key, actions.c.connector, actions.c.remote_id,
                                  actions.c.payload).where(
        actions.c.tenant == tenant, actions.c.interview_id == interview_id, actions.c.kind == "create_task",
        actions.c.status == ActionStatus.done.value, actions.c.remote_id.is_not(None),
        actions.c.idempotency_key.not_in(list(keep) or [""])).order_by(actions.c.id)).all()
    closable = [r for r in rows if (setup := config.setups.get(r.connector)) is not None
                and "close_task" in setup.connector_class.actions]
    completed = _hr_completed(conn, interview_id, {r.idempotency_key for r in closable})
    return [Action(
        idempotency_key=close_key(interview_id, r.idempotency_key), tenant=tenant, connector=r.connector,
        kind="close_task", interview_id=interview_id, due_at=now,
        payload=payload_of("close_task", task_id=r.remote_id, reason=reason, assignees=r.payload["assignees"],
                           title=r.payload["title"], links=r.payload.get("links", ())),
    ) for r in closable if r.idempotency_key not in completed]


def completed_late(conn: sa.Connection, config: Config, tenant: str, now: datetime) -> list[Action]:
    """`close_task` rows for tasks recorded done after their decision was superseded: the planner of the new
    decision could not see them. Each is weighed against the interview's latest case (its tasks are kept)."""
    late = conn.execute(sa.select(actions.c.interview_id).distinct().join_from(actions, outcomes, sa.and_(
        outcomes.c.interview_id == actions.c.interview_id, outcomes.c.version == actions.c.outcome_version,
    )).where(actions.c.tenant == tenant, actions.c.kind == "create_task", actions.c.status == ActionStatus.done.value,
             outcomes.c.superseded_at.is_not(None), actions.c.updated_at >= outcomes.c.superseded_at)).scalars()
    rc, found = remediation_cases, list[Action]()
    for interview_id in list(late):
        case = conn.execute(sa.select(rc).where(rc.c.interview_id == interview_id)
                            .order_by(rc.c.outcome_version.desc()).limit(1)).first()
        reason = None if case is None else reason_for(OutcomeClass(case.outcome))
        if case is None or reason is None:
            continue  # not planned yet: the new decision's planning sees the task
        keep = {idempotency_key(interview_id, case.origin_version, f"create_task/{step}", case.sequence)
                for step in case.steps}
        found += closings(conn, config, tenant, interview_id, reason, now, keep)
    return found
