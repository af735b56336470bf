"""Canonical records: what connectors yield and the store keeps (the evidence trail).

Every record names its `source` (the connector instance) and `remote_id`; the store upserts by
(source, record type, remote_id), so re-reading the same vendor object is harmless. Raw vendor
enums are kept next to the normalised ones (`status_raw`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

from lifeline_hub.core.http.redact import redact
from lifeline_hub.core.models.channels import Channel
from lifeline_hub.core.models.contact import ContactPoint
from lifeline_hub.core.models.time import UtcDateTime


def canonical_id(source: str, remote_id: str) -> str:
    """Lifeline's id for a vendor object: stable, readable, unique across connector instances."""
    return f"{source}/{remote_id}"


class InterviewKind(StrEnum):
    ai_async = "ai_async"
    video = "video"
    phone = "phone"
    onsite = "onsite"


class InterviewStatus(StrEnum):
    scheduled = "scheduled"
    confirmed = "confirmed"
    cancelled = "cancelled"
    rescheduled = "rescheduled"
    completed = "completed"
    needs_scheduling = "needs_scheduling"
    unknown = "unknown"


class DeadlineBasis(StrEnum):
    """For async interviews: what the deadline counts from."""

    absolute = "absolute"
    from_invite = "from_invite"
    from_first_open = "from_first_open"


class NotificationPurpose(StrEnum):
    invite = "invite"
    reminder_t3d = "reminder_t3d"
    reminder_t1d = "reminder_t1d"
    reminder_t1h = "reminder_t1h"
    confirm_request = "confirm_request"
    urgent = "urgent"
    reschedule_offer = "reschedule_offer"
    reissued_link = "reissued_link"
    cancellation = "cancellation"
    hr_task = "hr_task"


class Audience(StrEnum):
    """Who a notification went to: only what reached the candidate is evidence of reaching them."""

    candidate = "candidate"
    staff = "staff"
    """HR or interviewers: their tasks, messages and reminders (and their reads) never reach the candidate."""


class DeliveryStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    delivered = "delivered"
    failed = "failed"
    read = "read"


class DeliveryType(StrEnum):
    delivered = "delivered"
    failed = "failed"
    read = "read"


class LinkEventType(StrEnum):
    open = "open"
    join_attempt = "join_attempt"
    join_ok = "join_ok"
    join_error = "join_error"


class Role(StrEnum):
    candidate = "candidate"
    interviewer = "interviewer"
    hr = "hr"


class AttendanceVerdict(StrEnum):
    """A person's answer to "Did <candidate> attend?"."""

    attended = "attended"
    attended_late = "attended_late"
    no_show = "no_show"
    technical = "technical"


class ConfirmationAction(StrEnum):
    confirm = "confirm"
    decline = "decline"
    reschedule = "reschedule"


class RequestStatus(StrEnum):
    submitted = "submitted"
    approved = "approved"
    refused = "refused"
    expired = "expired"
    superseded = "superseded"


class Record(BaseModel):
    """Base of every canonical record a connector yields."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    record_type: ClassVar[str]

    source: str = Field(min_length=1, description="connector instance that produced the record")
    remote_id: str = Field(min_length=1, description="the vendor's id for the object")

    @property
    def id(self) -> str:
        return canonical_id(self.source, self.remote_id)


class AppointmentThread(BaseModel):
    """Stable across reschedules: one iCalendar UID, a SEQUENCE bumped on every change."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    thread_id: str
    ical_uid: str
    sequence: int = Field(0, ge=0)


class Interview(Record):
    record_type: ClassVar[str] = "interview"

    kind: InterviewKind
    start_at: UtcDateTime = Field(description="window start (async: when the invitation opens)")
    end_at: UtcDateTime = Field(description="window end (async: the deadline)")
    timezone: str = "Asia/Shanghai"
    status: InterviewStatus = InterviewStatus.scheduled
    status_raw: str | None = None
    thread: AppointmentThread
    application_id: str | None = None
    candidate_id: str | None = None
    join_url: str | None = None
    platform: str | None = Field(None, description="meeting or interview platform, for incident clustering")
    deadline_basis: DeadlineBasis | None = None
    interviewer_ids: tuple[str, ...] = ()
    source_updated_at: UtcDateTime | None = None

    @model_validator(mode="after")
    def _window_is_ordered(self) -> Interview:
        if self.end_at <= self.start_at:
            raise ValueError("interview window ends before it starts")
        return self


class Candidate(Record):
    record_type: ClassVar[str] = "candidate"

    name: str
    locale: str = "zh-CN"
    timezone: str = "Asia/Shanghai"
    preferred_channels: tuple[Channel, ...] = ()
    contacts: tuple[ContactPoint, ...] = ()


class Evidence(Record):
    """A timestamped fact about an interview: the reconcile step reads these."""

    interview_id: str | None = Field(None, description="canonical id of the interview it concerns")
    occurred_at: UtcDateTime


class Notification(Evidence):
    """Something Lifeline (or the ATS) sent: invitation, reminder, offer, HR task.

    `audience` says whom: unset, an HR task is for staff and anything else for the candidate (what
    an ATS, SMS or e-mail source sends). Lifeline's messages to HR and interviewers (over DingTalk or
    Feishu) set `staff` explicitly: an interviewer's reminder has a reminder purpose too. `sequence` says
    which version of the interview it told about: it reaches the candidate for that version and later ones
    only (its receipts inherit it in the store).
    """

    record_type: ClassVar[str] = "notification"

    purpose: NotificationPurpose
    channel: Channel
    recipient: str = Field(description="masked contact or staff user id, never a raw phone or e-mail")
    audience: Audience = Field(Audience.candidate, description="candidate, or staff (HR, interviewers)")
    status: DeliveryStatus = DeliveryStatus.sent
    status_raw: str | None = None
    idempotency_key: str | None = None
    sequence: int | None = Field(None, ge=0, description=(
        "interview version (thread.sequence) the message was about; unset: not said (counts for every version)"))
    read_at: UtcDateTime | None = Field(None, description=(
        "status read: when the read was observed (the vendor's read time, else the first poll that saw it); "
        "`occurred_at` stays the send time"))

    @model_validator(mode="before")
    @classmethod
    def _default_audience(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("audience") is None:
            staff = data.get("purpose") == NotificationPurpose.hr_task
            return {**data, "audience": Audience.staff if staff else Audience.candidate}
        return data


class DeliveryEvent(Evidence):
    record_type: ClassVar[str] = "delivery_event"

    notification_id: str = Field(description="canonical id of the notification")
    type: DeliveryType
    channel: Channel
    code: str | None = None
    status_raw: str | None = None


class LinkEvent(Evidence):
    record_type: ClassVar[str] = "link_event"

    type: LinkEventType
    machine_made: bool = Field(False, description="scanner or prefetch: never counts as a human")
    machine_reason: str | None = None
    code: str | None = Field(None, description="join error code")
    ua_family: str | None = None
    ip_hash: str | None = None


class Attendance(Evidence):
    """A join/leave segment or an async completion; `occurred_at` is when the person joined."""

    record_type: ClassVar[str] = "attendance"

    role: Role = Role.candidate
    participant_id: str | None = None
    left_at: UtcDateTime | None = None
    completed: bool = False
    leave_reason: str | None = None
    status_raw: str | None = None


class AttendanceReport(Evidence):
    """Someone's answer to "Did <candidate> attend?" (the interviewer card, an HR page); `occurred_at` is when
    they answered.

    Only an answer from one of the interview's own interviewers (`Interview.interviewer_ids`) decides an
    interview without machine attendance; answers from anyone else stay in the trail and count for nothing.
    """

    record_type: ClassVar[str] = "attendance_report"

    reported_by: Role = Role.interviewer
    reporter_id: str = Field(min_length=1, max_length=64, description="staff id of the person who answered")
    verdict: AttendanceVerdict
    sequence_seen: int | None = Field(None, ge=0, description="interview version (thread.sequence) asked about")

    @model_validator(mode="after")
    def _staff_answers(self) -> AttendanceReport:
        if self.reported_by == Role.candidate:
            raise ValueError("an attendance report comes from an interviewer or HR, not the candidate")
        return self


class Confirmation(Evidence):
    record_type: ClassVar[str] = "confirmation"

    action: ConfirmationAction
    channel: Channel | None = None
    sequence_seen: int | None = None


class Slot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start_at: UtcDateTime
    end_at: UtcDateTime


class RescheduleRequest(Evidence):
    record_type: ClassVar[str] = "reschedule_request"

    requested_by: Role = Role.candidate
    reason_code: str | None = None
    reason_text: str | None = Field(None, max_length=500)
    proposed_slots: tuple[Slot, ...] = ()
    status: RequestStatus = RequestStatus.submitted


class ContactChange(Evidence):
    """A vendor says a candidate's contact point on a channel became (un)usable: a WeCom `del_follow_user`, a
    WeChat `failed:user block` or unsubscribe, a dead number, an e-mail hard bounce; or usable again (the
    contact was added back).

    The store matches `address` (the contact point's value on `channel`: account id, phone, e-mail) to the
    tenant's contact points, or only `candidate_id`'s when given, and the latest change (by `occurred_at`)
    decides whether reminders and messages may go there. Unreachable is no outcome: the reminder falls back to
    the next channel. `address` is kept only in the contact book: the stored record and its JSON show the mask.
    """

    record_type: ClassVar[str] = "contact_change"

    channel: Channel
    address: str = Field(min_length=1, description="the contact point's value on the channel (JSON: its mask)")
    reachable: bool
    reason: str = Field("", max_length=500, description="the vendor's word for it, e.g. `del_follow_user`")
    candidate_id: str | None = Field(None, description="canonical id of the candidate, when the vendor event names one")

    @property
    def contact(self) -> ContactPoint | None:
        """The address as a contact point on the channel (its mask and look-up hash); None when it is not one."""
        try:
            return ContactPoint.parse(self.channel, self.address)
        except ValueError:
            return None

    @field_serializer("address", when_used="json")
    def _masked(self, address: str) -> str:
        contact = self.contact
        return contact.masked if contact is not None else redact(address)

    def __repr_args__(self) -> Any:
        return [(k, v) for k, v in super().__repr_args__() if k != "address"]


EVIDENCE_TYPES: tuple[type[Evidence], ...] = (
    Notification, DeliveryEvent, LinkEvent, Attendance, AttendanceReport, Confirmation, RescheduleRequest,
    ContactChange,
)
_ALL: tuple[type[Record], ...] = (Interview, Candidate, *EVIDENCE_TYPES)
RECORD_TYPES: dict[str, type[Record]] = {cls.record_type: cls for cls in _ALL}
