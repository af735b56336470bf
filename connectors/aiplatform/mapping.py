"""aiplatform objects to canonical records (docs/aiplatform-protocol.md §6 has the table).

Pull and push share these functions, so an event read from `GET /v1/events` and the same event
delivered by webhook become the very same records (same `remote_id`): storing both is harmless.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from lifeline_hub.connectors.aiplatform.wire import WireEvent, WireInvitation
from lifeline_hub.core.connector import Connector, Malformed, describe_error
from lifeline_hub.core.http.redact import redact
from lifeline_hub.core.models import (
    AppointmentThread,
    Attendance,
    Candidate,
    Channel,
    ContactPoint,
    DeadlineBasis,
    Interview,
    InterviewKind,
    InterviewStatus,
    LinkEvent,
    LinkEventType,
    Notification,
    NotificationPurpose,
    Record,
    canonical_id,
)

STATUSES = {
    "invited": InterviewStatus.scheduled,
    "opened": InterviewStatus.scheduled,
    "started": InterviewStatus.scheduled,
    "submitted": InterviewStatus.completed,
    "expired": InterviewStatus.scheduled,
    "withdrawn": InterviewStatus.cancelled,
}
"""`expired` stays scheduled: whether it was missed, and why, is reconcile's call, not the vendor's."""
NOTIFICATIONS = {
    "invitation.created": NotificationPurpose.invite,
    "invitation.reset": NotificationPurpose.reissued_link,
}
TECHNICAL_PREFIX = "technical."

Item = Record | Malformed


def invitation_records(connector: Connector, raw: Any) -> list[Item]:
    """An invitation becomes its Candidate and its Interview (the current attempt's window)."""
    try:
        inv = WireInvitation.model_validate(raw)
    except ValidationError as exc:
        return [Malformed(describe_error(exc), raw, _raw_id(raw))]
    source = connector.instance.name
    try:
        contacts = [*([ContactPoint.phone(inv.candidate.phone)] if inv.candidate.phone else []),
                    *([ContactPoint.email(inv.candidate.email)] if inv.candidate.email else [])]
        candidate: Item = connector.parse(
            Candidate, raw, remote_id=inv.candidate.id, name=inv.candidate.name, locale=inv.candidate.locale,
            timezone=inv.candidate.timezone, contacts=tuple(contacts),
        )
    except ValueError as exc:  # an unusable phone or address: the candidate waits in quarantine, the interview not
        candidate = Malformed(f"candidate contact: {exc}", raw, inv.candidate.id)
    interview = connector.parse(
        Interview, raw, remote_id=inv.id, kind=InterviewKind.ai_async, start_at=inv.opens_at or inv.invited_at,
        end_at=inv.deadline_at, timezone=connector.instance.timezone,
        status=STATUSES.get(inv.status, InterviewStatus.unknown), status_raw=inv.status,
        thread=AppointmentThread(thread_id=canonical_id(source, inv.id), ical_uid=f"{inv.id}@{connector.name}",
                                 sequence=inv.link.version),
        application_id=inv.external_ref, candidate_id=canonical_id(source, inv.candidate.id),
        join_url=inv.link.url, platform=connector.name, deadline_basis=DeadlineBasis(inv.deadline_basis),
        source_updated_at=inv.updated_at,
    )
    return [candidate, interview]


def event_records(connector: Connector, raw: Any) -> list[Item]:
    """An event becomes evidence; types without evidence (expired, extended, unknown) become nothing."""
    try:
        event = WireEvent.model_validate(raw)
    except ValidationError as exc:
        return [Malformed(describe_error(exc), raw, _raw_id(raw))]
    common: dict[str, Any] = {
        "remote_id": event.id, "interview_id": canonical_id(connector.instance.name, event.invitation_id),
        "occurred_at": event.occurred_at,
    }
    data = event.data
    if event.type in NOTIFICATIONS:
        return [connector.parse(
            Notification, raw, **common, purpose=NOTIFICATIONS[event.type], channel=Channel.platform,
            recipient=redact(str(data.get("recipient") or "candidate")), status_raw=event.type,
        )]
    if event.type == "invitation.opened":
        flagged = bool(data.get("prefetch_suspected"))
        return [connector.parse(
            LinkEvent, raw, **common, type=LinkEventType.open, ua_family=data.get("ua_family"),
            machine_made=flagged, machine_reason="vendor_flagged" if flagged else None,
        )]
    if event.type == "interview.started":
        return [connector.parse(Attendance, raw, **common, status_raw="started")]
    if event.type == "interview.submitted":
        return [connector.parse(
            Attendance, raw, **{**common, "occurred_at": data.get("started_at") or event.occurred_at},
            left_at=event.occurred_at, completed=True, status_raw="submitted",
        )]
    if event.type.startswith(TECHNICAL_PREFIX):
        code = f"{event.type.removeprefix(TECHNICAL_PREFIX)}:{data.get('code') or 'unknown'}"
        return [connector.parse(LinkEvent, raw, **common, type=LinkEventType.join_error, code=code[:64])]
    return []


def _raw_id(raw: Any) -> str | None:
    value = raw.get("id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and value else None
