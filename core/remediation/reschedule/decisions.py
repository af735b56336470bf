"""The approver's decision, by callback or by polling, whichever comes first, applied once.

The approval connectors store an instance's state as `RescheduleRequest` evidence (source: the
connector instance, remote id `approval:<id>` or `approval/<id>`), from their callbacks and from
their polled streams alike. `apply_decisions` matches final states to Lifeline's requests through
the approval action's remote id and applies each with a compare-and-set on the request
(`submitted` -> approved/refused/...): the one call that wins also moves the interview to its new
window in the same appointment thread (SEQUENCE + 1), in the same transaction; a duplicate
callback, a later poll or a second run finds the request decided and changes nothing.

`finish` then does the follow-ups, idempotently until it marks the request applied: a rotated
join link, the candidate's new invitation (by e-mail with its calendar part: same UID, new
SEQUENCE), the calendar event updated in place, an HR task to update the ATS, and re-planned
reminders; or, on refusal, a polite message.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from lifeline_hub.core.actions import CalendarInvite
from lifeline_hub.core.config import Config
from lifeline_hub.core.http.redact import redact
from lifeline_hub.core.links import join_link
from lifeline_hub.core.markup import fill
from lifeline_hub.core.models import (
    Action,
    ActionStatus,
    Interview,
    InterviewStatus,
    Record,
    RequestStatus,
    RescheduleRequest,
    Role,
    Slot,
    idempotency_key,
)
from lifeline_hub.core.outbox import enqueue
from lifeline_hub.core.remediation.case import CandidateView, load_candidate, load_interview
from lifeline_hub.core.remediation.messages import Letter, compose, outside_quiet_hours, payload
from lifeline_hub.core.remediation.payloads import payload_of
from lifeline_hub.core.remediation.render import interview_line
from lifeline_hub.core.remediation.reschedule.requests import request_record
from lifeline_hub.core.remediation.routes import (
    CANDIDATE_KINDS,
    FREE_TEXT,
    Unroutable,
    candidate_route,
    instance,
    staff,
)
from lifeline_hub.core.remediation.texts import T, when
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import actions, evidence, reschedule_requests

log = logging.getLogger("lifeline.remediation")

FINAL = (RequestStatus.approved, RequestStatus.refused, RequestStatus.superseded, RequestStatus.expired)
EVENT_SUMMARY = "{kind}: {name!u}"
"""The calendar event's title: the interview kind and the candidate (`lifeline_hub.core.markup.fill`)."""
REMINDER_PLANNER = "lifeline_hub.core.reminders:replan_interview"
"""The reminder planner's entry point, called as `replan_interview(store, config, tenant, interview_id,
now)` once an approved reschedule moved the interview (it cancels what is pending and plans anew)."""


@dataclass(frozen=True)
class Decided:
    request_id: str
    tenant: str
    status: RequestStatus


@dataclass
class DecisionSummary:
    applied: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def apply_decisions(store: Store, tenant: str, now: datetime) -> list[Decided]:
    """Apply the final approval states the connectors stored to the requests still waiting, once each."""
    rr, a, e = reschedule_requests, actions, evidence
    carried = sa.and_(
        e.c.kind == RescheduleRequest.record_type, e.c.source == a.c.connector,
        sa.or_(e.c.remote_id == "approval:" + a.c.remote_id, e.c.remote_id == "approval/" + a.c.remote_id),
        e.c.type.in_([s.value for s in FINAL]),
    )
    query = (sa.select(rr.c.id, e.c.type, e.c.source, e.c.remote_id)
             .join(a, a.c.idempotency_key == rr.c.approval_key).join(e, carried)
             .where(rr.c.tenant == tenant, rr.c.status == RequestStatus.submitted.value,
                    a.c.status == ActionStatus.done.value, a.c.remote_id.is_not(None)))
    with store.engine.connect() as conn:
        found = conn.execute(query).all()
    decided = [record_decision(store, rid, RequestStatus(status), f"{source}/{remote}", now)
               for rid, status, source, remote in found]
    return [d for d in decided if d is not None]


def record_decision(store: Store, request_id: str, decision: RequestStatus, ref: str, at: datetime) -> Decided | None:
    """Decide request `request_id` as `decision` (carried by evidence `ref`), unless it was decided before."""
    rr = reschedule_requests
    with store.begin() as conn:
        row = conn.execute(sa.select(rr).where(rr.c.id == request_id)).first()
        if row is None or row.status != RequestStatus.submitted.value:
            return None
        interview = load_interview(conn, row.interview_id)
        status = decision
        stale = interview is None or interview.thread.sequence != row.sequence or not row.slots
        if status is RequestStatus.approved and stale:
            status = RequestStatus.superseded  # the interview moved on meanwhile: nothing to apply
        won = conn.execute(sa.update(rr).where(rr.c.id == row.id, rr.c.status == RequestStatus.submitted.value)
                           .values(status=status.value, decided_at=at, decision_ref=ref[:512])).rowcount == 1
        if not won:
            return None
        slots = tuple(Slot.model_validate(s) for s in row.slots)
        records: list[Record] = [request_record(row.tenant, row.id, row.interview_id, slots, row.reason_code,
                                                row.reason_text, Role(row.requested_by), status, at)]
        if status is RequestStatus.approved and interview is not None:
            records.append(moved(interview, slots[0], at))
        store.write(row.tenant, records, conn)
    log.info("reschedule request %s: %s (%s)", row.id, status.value, ref)
    return Decided(str(row.id), str(row.tenant), status)


def moved(interview: Interview, slot: Slot, at: datetime) -> Interview:
    """The interview in its new window: same thread and UID, SEQUENCE + 1."""
    thread = interview.thread.model_copy(update={"sequence": interview.thread.sequence + 1})
    return interview.model_copy(update={"start_at": slot.start_at, "end_at": slot.end_at, "thread": thread,
                                        "status": InterviewStatus.scheduled, "source_updated_at": at})


def finish(store: Store, config: Config, tenant: str, now: datetime) -> DecisionSummary:
    """Do the follow-ups of every decided request not yet applied (idempotent until applied)."""
    summary = DecisionSummary()
    rr = reschedule_requests
    with store.engine.connect() as conn:
        pending = conn.execute(sa.select(rr).where(
            rr.c.tenant == tenant, rr.c.applied_at.is_(None), rr.c.status != RequestStatus.submitted.value,
        ).order_by(rr.c.decided_at)).all()
    for row in pending:
        try:
            planned, problems = _follow_ups(store, config, row, now)
        except Exception as exc:  # left unapplied: the next run tries again; the others go ahead
            log.exception("reschedule request %s: follow-ups failed", row.id)
            summary.problems.append(f"{row.id}: follow-ups failed ({type(exc).__name__}: {exc})")
            continue
        summary.problems += [f"{row.id}: {p}" for p in problems]
        with store.begin() as conn:
            summary.planned += enqueue(conn, planned, now)
            conn.execute(sa.update(rr).where(rr.c.id == row.id, rr.c.applied_at.is_(None)).values(applied_at=now))
        summary.applied.append(row.id)
    return summary


def _follow_ups(store: Store, config: Config, row: sa.Row[tuple[object, ...]],
                now: datetime) -> tuple[list[Action], list[str]]:
    status = RequestStatus(row.status)
    if status not in (RequestStatus.approved, RequestStatus.refused):
        return [], []
    with store.engine.connect() as conn:
        interview = load_interview(conn, row.interview_id)
        candidate = load_candidate(conn, interview.candidate_id if interview else None)
        event_id = _calendar_event(conn, row.interview_id)
    if interview is None:
        return [], []
    tenant = config.tenant(row.tenant)
    seq = interview.thread.sequence

    def key(kind: str, what: str) -> str:
        return idempotency_key(interview.id, 0, f"{kind}/{what}:{row.id}", seq)

    def action(connector: str, kind: str, what: str, payload: dict[str, object]) -> Action:
        return Action(idempotency_key=key(kind, what), tenant=row.tenant, connector=connector, kind=kind,
                      interview_id=interview.id, payload=payload, due_at=now)

    out: list[Action] = []
    problems: list[str] = []
    keep = interview.end_at > now and interview.status is not InterviewStatus.cancelled
    kinds = FREE_TEXT if status is RequestStatus.refused and not keep else CANDIDATE_KINDS
    where = candidate_route(config, row.tenant, candidate, kinds=kinds) if candidate else None
    if where is None:
        problems.append(f"no channel to the candidate for {' or '.join(kinds)} (policy.candidate_connectors)")

    def tell(letter_of: Callable[[CandidateView], Letter], what: str) -> None:
        if candidate is None or where is None:
            return
        try:
            message = payload(where, candidate, interview.id, letter_of(candidate))
        except Unroutable as exc:
            problems.append(str(exc))
            return
        due = outside_quiet_hours(now, candidate.timezone, tenant.policy.quiet_hours)
        out.append(Action(idempotency_key=key("message", what), tenant=row.tenant, connector=where.connector,
                          kind=where.kind, interview_id=interview.id, payload=message, due_at=due))

    if status is RequestStatus.refused:
        join = join_link(store, interview.id, now=now) if keep else ""
        tell(lambda c: compose("refused", c, tenant.locale, interview, join=join, keep=keep), "refused")
        return out, problems
    join = join_link(store, interview.id, now=now)
    summary_text = T[tenant.locale][f"kind.{interview.kind.value}"]
    invite = CalendarInvite(ical_uid=interview.thread.ical_uid, sequence=seq, start_at=interview.start_at,
                            end_at=interview.end_at, summary=summary_text, location=join, issued_at=now)
    tell(lambda c: compose("rescheduled", c, tenant.locale, interview, join=join, calendar=invite), "invite")
    policy = tenant.policy
    if policy.calendar_connector and policy.calendar_organizer:
        kind = "update_calendar_event" if event_id else "create_calendar_event"
        out.append(action(instance(row.tenant, policy.calendar_connector), kind, "calendar", payload_of(
            kind, organizer=policy.calendar_organizer, attendees=interview.interviewer_ids,
            summary=fill(EVENT_SUMMARY, kind=summary_text, name=_name(candidate, interview)),
            description=interview_line(interview, tenant.timezone, tenant.locale), start_at=interview.start_at,
            end_at=interview.end_at, timezone=tenant.timezone, ical_uid=interview.thread.ical_uid, sequence=seq,
            remote_event_id=event_id)))
    try:
        out.append(_ats_task(config, row.tenant, interview, candidate, now, action))
    except Unroutable as exc:
        problems.append(str(exc))
    replan_reminders(store, config, row.tenant, interview.id, now)
    return out, problems


def _ats_task(config: Config, tenant_name: str, interview: Interview, candidate: CandidateView | None,
              now: datetime, action: Callable[[str, str, str, dict[str, object]], Action]) -> Action:
    """HR's task to carry the new time into the ATS (due before the new start)."""
    tenant = config.tenant(tenant_name)
    where = staff(config, tenant_name, "create_task", tenant.policy.hr_assignees)
    t = T[tenant.locale]
    title = fill(t["rescheduled.title"], name=_name(candidate, interview),
                 when=when(interview.start_at, tenant.timezone, tenant.locale))
    text = "\n".join((interview_line(interview, tenant.timezone, tenant.locale),
                      fill(t["hr.next"], step=t["rescheduled.step"])))
    due = min(now + timedelta(hours=tenant.policy.task_due_hours), max(interview.start_at, now))
    return action(where.connector, "create_task", "update_ats", payload_of(
        "create_task", assignees=where.recipients, title=redact(title), description=redact(text),
        interview_id=interview.id, due_at=due))


def _name(candidate: CandidateView | None, interview: Interview) -> str:
    return candidate.name if candidate else interview.candidate_id or "?"


def _calendar_event(conn: sa.Connection, interview_id: str) -> str | None:
    """The id of the calendar event Lifeline created for this interview, if any."""
    found: str | None = conn.execute(sa.select(actions.c.remote_id).where(
        actions.c.interview_id == interview_id, actions.c.status == ActionStatus.done.value,
        actions.c.kind == "create_calendar_event",
    ).order_by(actions.c.id).limit(1)).scalar()
    return found


def replan_reminders(store: Store, config: Config, tenant: str, interview_id: str, now: datetime) -> bool:
    """Hand the moved interview to the reminder planner (`REMINDER_PLANNER`); False when none is installed."""
    module, _, name = REMINDER_PLANNER.partition(":")
    try:
        planner = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return False
    planner(store, config, tenant, interview_id, now)
    return True
