"""The reminder planner: outbox rows from each upcoming interview's schedule, re-planned on every run.

Per interview version (its SEQUENCE), each reminder of `policy.reminder_offsets_minutes` is one
row on the candidate's first usable channel, keyed by (interview, SEQUENCE, purpose, channel), so
a re-run plans nothing twice and a reschedule plans fresh rows while the old version's pending
ones are cancelled; a cancelled (or no longer upcoming) interview has its pending rows cancelled.
A reminder whose send time has passed when first planned is skipped. T-1d is a `confirm_request`
until the candidate confirmed, T-1h `urgent` while nothing sent for the version was delivered or
read (a pending row switches when that changes). A send that failed, or has no receipt
`policy.reminder_fallback_minutes` after it went out, is followed by one row on the next channel;
a channel that failed once is passed over for the interview's later reminders. A pending row on a channel
that no longer reaches the candidate (their contact there is gone, the policy changed) is withdrawn and the
reminder goes out on the next channel.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lifeline_hub.core.config import Config
from lifeline_hub.core.models import (
    Action,
    ActionStatus,
    Channel,
    ConfirmationAction,
    Interview,
    InterviewStatus,
    NotificationPurpose,
    channels,
)
from lifeline_hub.core.outbox import cancel, enqueue
from lifeline_hub.core.remediation.case import load_interview
from lifeline_hub.core.remediation.texts import locale_of
from lifeline_hub.core.reminders.compose import Links, candidate_payload, links, staff_payload
from lifeline_hub.core.reminders.reach import Reach, keys, load_reach, reminder_key
from lifeline_hub.core.reminders.routes import Person, Route, candidate_routes, load_person, staff_route
from lifeline_hub.core.reminders.schedule import STAFF_SLOTS, VARIANTS, send_time, slot_offsets
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import actions, interviews

log = logging.getLogger("lifeline.reminders")
UPCOMING = (InterviewStatus.scheduled, InterviewStatus.confirmed)
SENT = (ActionStatus.claimed, ActionStatus.done, ActionStatus.dead)


@dataclass
class PlanSummary:
    tenant: str
    interviews: int = 0
    planned: int = 0
    fallbacks: int = 0
    cancelled: int = 0
    skipped: int = 0
    """Reminders whose time had passed when the interview was first seen."""
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def line(self) -> str:
        return (f"{self.tenant}: {self.interviews} interviews, {self.planned} reminders planned "
                f"({self.fallbacks} fallbacks), {self.cancelled} cancelled, {self.skipped} skipped")


@dataclass
class _Plan:
    """What one interview needs: rows to add and keys to withdraw, each with its reason."""

    interview: Interview
    reach: Reach
    now: datetime
    add: list[Action] = field(default_factory=list)
    withdraw: dict[str, str] = field(default_factory=dict)
    fallbacks: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def pending(self, key: str, reason: str) -> None:
        if self.reach.rows.get(key) is ActionStatus.planned:
            self.withdraw[key] = reason


def plan_reminders(store: Store, tenant: str, now: datetime, config: Config) -> PlanSummary:
    """Plan and withdraw the tenant's reminders as of `now` (the DAG task and `lifeline reminders plan`)."""
    config.tenant(tenant)
    summary = PlanSummary(tenant)
    pending = sa.select(actions.c.interview_id).where(actions.c.tenant == tenant,
                                                      actions.c.status == ActionStatus.planned.value)
    upcoming = sa.and_(interviews.c.status.in_([s.value for s in UPCOMING]), interviews.c.start_at > now)
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(interviews.c.id).where(
            interviews.c.tenant == tenant, sa.or_(upcoming, interviews.c.id.in_(pending)),
        ).order_by(interviews.c.start_at, interviews.c.id)).scalars().all()
    for interview_id in found:
        _plan_interview(store, config, tenant, interview_id, now, summary)
    return summary


def replan_interview(store: Store, config: Config, tenant: str, interview_id: str, now: datetime) -> PlanSummary:
    """Re-plan one interview at once (remediation calls it after moving the interview)."""
    summary = PlanSummary(tenant)
    _plan_interview(store, config, tenant, interview_id, now, summary)
    return summary


def _plan_interview(store: Store, config: Config, tenant: str, interview_id: str, now: datetime,
                    summary: PlanSummary) -> None:
    with store.engine.connect() as conn:
        interview = load_interview(conn, interview_id)
        if interview is None:
            return
        person = load_person(conn, interview.candidate_id)
        reach = load_reach(conn, interview)
    plan = _Plan(interview, reach, now)
    current = keys(interview)
    for key in reach.rows:
        if key not in current:
            plan.pending(key, f"interview moved to SEQUENCE {interview.thread.sequence}")
    if interview.status not in UPCOMING or interview.start_at <= now:
        for key in reach.rows:
            plan.pending(key, f"interview {interview.status.value}" if interview.status not in UPCOMING
                         else "interview started")
    else:
        _candidate(store, config, tenant, plan, person)
        _staff(config, tenant, plan, person)
    with store.begin() as conn:
        cancelled = cancel(conn, list(plan.withdraw), "; ".join(sorted(set(plan.withdraw.values()))), now) \
            if plan.withdraw else 0
        added = enqueue(conn, plan.add, now)
    summary.interviews += 1
    summary.planned += len(added)
    summary.fallbacks += plan.fallbacks
    summary.cancelled += cancelled
    summary.skipped += plan.skipped
    summary.problems += plan.problems
    if added or cancelled:
        log.info("%s: %d reminders planned, %d cancelled", interview.id, len(added), cancelled)


def _variant(slot: NotificationPurpose, reach: Reach, candidate_keys: list[str], interview: Interview,
             ) -> NotificationPurpose:
    if slot is NotificationPurpose.reminder_t1d:
        confirmed = interview.status is InterviewStatus.confirmed or reach.answer is ConfirmationAction.confirm
        return slot if confirmed else NotificationPurpose.confirm_request
    if slot is NotificationPurpose.reminder_t1h:
        return slot if any(reach.reached(k) for k in candidate_keys) else NotificationPurpose.urgent
    return slot


def _candidate(store: Store, config: Config, tenant: str, plan: _Plan, person: Person | None) -> None:
    interview, reach, now = plan.interview, plan.reach, plan.now
    own = [k for k, (_, channel) in keys(interview).items() if channel is not None and k in reach.rows]
    if reach.answer is ConfirmationAction.decline:
        for key in own:
            plan.pending(key, "candidate declined")
        return
    if person is None:
        return
    tenant_config = config.tenant(tenant)
    policy = tenant_config.policy
    failed = {channel for k, (_, channel) in keys(interview).items() if k in own and reach.failed(k)}
    urls: list[Links] = []

    def add(route: Route, purpose: NotificationPurpose, due: datetime) -> None:
        if not urls:
            urls.append(links(store, interview.id, now))
        plan.add.append(Action(
            idempotency_key=reminder_key(interview, purpose, route.channel), tenant=tenant,
            connector=route.setup.instance.name, kind=route.kind, interview_id=interview.id, due_at=due,
            payload=candidate_payload(route, purpose, person, interview, urls[0], tenant_config.locale, now)))

    for slot, offset in slot_offsets(policy.reminder_offsets_minutes):
        purpose = _variant(slot, reach, own, interview)
        tried = {v: [k for c in channels() if (k := reminder_key(interview, v, c)) in reach.rows]
                 for v in VARIANTS[slot]}
        purpose = next((v for v, ks in tried.items() if any(reach.rows[k] in SENT for k in ks)), purpose)
        for variant, variant_keys in tried.items():
            for key in variant_keys if variant is not purpose else ():
                plan.pending(key, f"sent as {purpose.value} instead")
        routes = candidate_routes(config, tenant, person, purpose)
        routable = {r.channel for r in routes}
        for channel in channels():  # e.g. the candidate's contact there is gone: its row would reach nobody
            if channel not in routable:
                plan.pending(reminder_key(interview, purpose, channel), f"{channel.value} no longer reaches them")
        if not routes:
            plan.problems.append(f"{interview.id}: no channel for the candidate's {purpose.value}")
            continue
        due = send_time(interview.start_at - offset, interview.start_at, person.timezone, policy.quiet_hours)
        if not tried[purpose]:
            if due < now:
                plan.skipped += 1
                continue
            add(next((r for r in routes if r.channel not in failed), routes[0]), purpose, due)
            continue
        _fall_back(plan, routes, purpose, failed, add, timedelta(minutes=policy.reminder_fallback_minutes),
                   max(due, send_time(now, interview.start_at, person.timezone, policy.quiet_hours)))


def _fall_back(plan: _Plan, routes: list[Route], purpose: NotificationPurpose, failed: set[Channel | None],
               add: Callable[[Route, NotificationPurpose, datetime], None], threshold: timedelta,
               due: datetime) -> None:
    """One more row on the next untried channel once every row of this reminder gave up (at `due`: now, or
    the reminder's own time when a failed channel's row is replaced before it)."""
    interview, reach, now = plan.interview, plan.reach, plan.now
    untried = [r for r in routes if reminder_key(interview, purpose, r.channel) not in reach.rows]
    fresh = [r for r in untried if r.channel not in failed]
    live = []
    for route in routes:
        key = reminder_key(interview, purpose, route.channel)
        status = reach.rows.get(key)
        if status is ActionStatus.planned and route.channel in failed and fresh:
            plan.pending(key, f"{route.channel.value} failed for this interview")
        elif status is not None and status is not ActionStatus.cancelled and not reach.gave_up(key, now, threshold):
            live.append(key)
    if live or not untried:
        return
    plan.fallbacks += 1
    add((fresh or untried)[0], purpose, due)


def _staff(config: Config, tenant: str, plan: _Plan, person: Person | None) -> None:
    interview = plan.interview
    setup = staff_route(config, tenant, interview)
    if setup is None:
        return
    tenant_config = config.tenant(tenant)
    offsets = dict(slot_offsets(tenant_config.policy.reminder_offsets_minutes))
    name = person.name if person else interview.candidate_id or "?"
    locale = locale_of(tenant_config.locale)
    for slot in STAFF_SLOTS:
        key = reminder_key(interview, slot, None)
        if slot not in offsets or key in plan.reach.rows:
            continue
        due = send_time(interview.start_at - offsets[slot], interview.start_at, tenant_config.timezone,
                        tenant_config.policy.quiet_hours)
        if due < plan.now:
            continue
        plan.add.append(Action(
            idempotency_key=key, tenant=tenant, connector=setup.instance.name, kind="send_message",
            interview_id=interview.id, due_at=due,
            payload=staff_payload(slot, interview, name, tenant_config.timezone, locale)))
