"""Reschedule requests: offered slots, a request from the page (or an ATS/platform signal), its approval.

One request per interview version (`reschedule_requests`, unique on interview and SEQUENCE): a
second submit of the page finds the first. The request is stored together with its evidence
record and the approval action in one transaction; the approval carries the evidence so the
approver decides from it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from lifeline_hub.core.config import Config, PolicySettings
from lifeline_hub.core.http.redact import redact
from lifeline_hub.core.markup import fill
from lifeline_hub.core.models import (
    Action,
    Interview,
    RequestStatus,
    RescheduleRequest,
    Role,
    Slot,
    idempotency_key,
    zone_info,
)
from lifeline_hub.core.outbox import enqueue
from lifeline_hub.core.remediation.case import CandidateView, load_candidate, load_evidence, load_interview
from lifeline_hub.core.remediation.payloads import payload_of
from lifeline_hub.core.remediation.render import evidence_lines, interview_line
from lifeline_hub.core.remediation.routes import Unroutable, instance, staff
from lifeline_hub.core.remediation.texts import T, window
from lifeline_hub.core.remediation.trail import summarise
from lifeline_hub.core.store import Store, insert_new
from lifeline_hub.core.store.schema import evidence, interviews, reschedule_requests

MAX_AHEAD = timedelta(days=60)
MIN_NOTICE = timedelta(hours=2)


def source_of(tenant: str) -> str:
    """The `source` of the RescheduleRequest evidence the page records."""
    return f"{tenant}.reschedule"


def offered_slots(interview: Interview, policy: PolicySettings, zone: str, now: datetime) -> list[Slot]:
    """The next `reschedule_slots` working-day slots at the tenant's hours, as long as the interview."""
    length = interview.end_at - interview.start_at
    earliest = now + timedelta(hours=policy.reschedule_lead_hours)
    day = earliest.astimezone(zone_info(zone)).replace(hour=0, minute=0, second=0, microsecond=0)
    found: list[Slot] = []
    while len(found) < policy.reschedule_slots and day - earliest < MAX_AHEAD:
        if day.weekday() < 5:
            for hour in sorted(set(policy.reschedule_slot_hours)):
                start = day.replace(hour=hour)
                if start >= earliest and len(found) < policy.reschedule_slots:
                    found.append(Slot(start_at=start, end_at=start + length))
        day = (day + timedelta(days=1)).replace(hour=0)
    return found


def acceptable(slot: Slot, now: datetime) -> bool:
    """A wished window must lie ahead (with some notice) and not too far."""
    return now + MIN_NOTICE <= slot.start_at <= now + MAX_AHEAD


@dataclass(frozen=True)
class Submitted:
    request_id: str
    created: bool


def existing(conn: sa.Connection, interview_id: str, sequence: int) -> str | None:
    rr = reschedule_requests
    found: str | None = conn.execute(sa.select(rr.c.id).where(rr.c.interview_id == interview_id,
                                                              rr.c.sequence == sequence)).scalar()
    return found


def submit(store: Store, config: Config, interview_id: str, slots: Sequence[Slot], now: datetime, *,
           reason_code: str | None = None, reason_text: str | None = None, requested_by: Role = Role.candidate,
           evidence_ref: str | None = None) -> Submitted:
    """Record a request for `slots` (first choice first) and plan its approval; once per interview version."""
    with store.engine.connect() as conn:
        interview = load_interview(conn, interview_id)
        if interview is None:
            raise LookupError(f"interview {interview_id!r} is not in the store")
        candidate = load_candidate(conn, interview.candidate_id)
        trail = summarise(load_evidence(conn, interview_id))
        tenant = str(conn.execute(sa.select(interviews.c.tenant).where(interviews.c.id == interview_id)).scalar())
    text = redact(reason_text.strip())[:500] if reason_text and reason_text.strip() else None
    request_id = f"rr-{secrets.token_hex(8)}"
    key = idempotency_key(interview_id, 0, f"create_approval/reschedule:{request_id}", interview.thread.sequence)
    approval = _approval(config, tenant, interview, candidate, request_id, key, slots, reason_code, text,
                         evidence_lines(trail, config.tenant(tenant).timezone, config.tenant(tenant).locale), now)
    with store.begin() as conn:
        created = insert_new(conn, reschedule_requests, [dict(
            id=request_id, tenant=tenant, interview_id=interview_id, sequence=interview.thread.sequence,
            requested_by=requested_by.value, reason_code=reason_code, reason_text=text,
            slots=[s.model_dump(mode="json") for s in slots], status=RequestStatus.submitted.value,
            evidence_ref=evidence_ref or f"{source_of(tenant)}/{request_id}", approval_key=key, created_at=now,
        )], ("interview_id", "sequence"))
        if not created:
            return Submitted(existing(conn, interview_id, interview.thread.sequence) or "", False)
        if evidence_ref is None:
            store.write(tenant, [request_record(tenant, request_id, interview_id, slots, reason_code, text,
                                                requested_by, RequestStatus.submitted, now)], conn)
        enqueue(conn, [approval], now)
    return Submitted(request_id, True)


def request_record(tenant: str, request_id: str, interview_id: str, slots: Sequence[Slot], reason_code: str | None,
                   reason_text: str | None, requested_by: Role, status: RequestStatus,
                   at: datetime) -> RescheduleRequest:
    return RescheduleRequest(
        source=source_of(tenant), remote_id=request_id, interview_id=interview_id, occurred_at=at,
        requested_by=requested_by, reason_code=reason_code, reason_text=reason_text, proposed_slots=tuple(slots),
        status=status,
    )


def _approval(config: Config, tenant: str, interview: Interview, candidate: CandidateView | None, request_id: str,
              key: str, slots: Sequence[Slot], reason_code: str | None, reason_text: str | None,
              trail: list[str], now: datetime) -> Action:
    settings = config.tenant(tenant)
    policy, locale, zone = settings.policy, settings.locale, settings.timezone
    t = T[locale]
    name = candidate.name if candidate else interview.candidate_id or "?"
    phone = fill(t["hr.phone"], phone=candidate.phone) if candidate and candidate.phone else ""
    why = t.get(f"reason.{reason_code}", reason_code or "-")  # an ATS may send a code of its own
    reason = fill(t["ap.because_note" if reason_text else "ap.because"], reason=why, note=reason_text)
    fields = {
        t["ap.candidate"]: fill(t["ap.who"], name=name, phone=phone),
        t["ap.interview"]: interview_line(interview, zone, locale),
        t["ap.reason"]: reason,
        t["ap.slots"]: "\n".join(f"{i}. {window(s.start_at, s.end_at, zone, locale)}" for i, s in enumerate(slots, 1)),
        t["ap.evidence"]: "\n".join(trail),
        t["ap.note"]: t["ap.note"],
        t["ap.key"]: request_id,
    }
    title = redact(fill(t["ap.title"], name=name))
    fields = {label: redact(value) for label, value in fields.items()}
    if policy.approval_connector and policy.approval_process_code and policy.approval_originator:
        connector = instance(tenant, policy.approval_connector)
        payload = payload_of("create_approval", originator=policy.approval_originator,
                             approvers=policy.approval_approvers, process_code=policy.approval_process_code,
                             title=title, fields=fields, interview_id=interview.id)
        kind = "create_approval"
    else:  # no approval flow configured: HR gets a task with the same content instead
        try:
            where = staff(config, tenant, "create_task", policy.hr_assignees)
        except Unroutable as exc:
            raise Unroutable(f"no approval connector (policy.approval_*) and no HR route: {exc}") from None
        connector, kind = where.connector, "create_task"
        description = "\n".join(f"{label}: {value}" for label, value in fields.items())
        payload = payload_of("create_task", assignees=where.recipients, title=redact(
            fill(t["reschedule_task.title"], name=name)), description=description, interview_id=interview.id,
            due_at=now + timedelta(hours=policy.task_due_hours))
    return Action(idempotency_key=key, tenant=tenant, connector=connector, kind=kind, interview_id=interview.id,
                  payload=payload, due_at=now)


def adopt(store: Store, config: Config, tenant: str, now: datetime) -> tuple[list[str], list[str]]:
    """Requests that reached the store as evidence (from an ATS or platform) with wished times become
    requests here too; returns the requests opened and the problems met."""
    rr = reschedule_requests
    known = sa.exists().where(rr.c.evidence_ref == evidence.c.source + "/" + evidence.c.remote_id)
    query = (sa.select(evidence.c.data).where(
        evidence.c.tenant == tenant, evidence.c.kind == RescheduleRequest.record_type,
        evidence.c.type == RequestStatus.submitted.value, evidence.c.source != source_of(tenant), ~known,
    ).order_by(evidence.c.occurred_at))
    with store.engine.connect() as conn:
        found = [RescheduleRequest.model_validate(data) for (data,) in conn.execute(query)]
    opened: list[str] = []
    problems: list[str] = []
    for record in found:
        slots = [s for s in record.proposed_slots if acceptable(s, now)]
        if record.interview_id is None or not slots:
            continue  # without a time to approve, the outcome's playbook offers the page instead
        try:
            done = submit(store, config, record.interview_id, slots, now, reason_code=record.reason_code,
                          reason_text=record.reason_text, requested_by=record.requested_by, evidence_ref=record.id)
        except (LookupError, Unroutable) as exc:
            problems.append(f"{record.id}: {exc}")
            continue
        if done.created:
            opened.append(done.request_id)
    return opened, problems
