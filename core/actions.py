"""Payloads of the actions connectors perform: one pydantic model per action kind.

Remediation and the reminder planner write these into outbox rows (`Action.payload`); a connector's
`perform()` validates the payload with the model for `action.kind` and passes
`action.idempotency_key` to the vendor where the vendor takes one. Recipients are platform ids
(DingTalk userId/unionId, Feishu open_id...) or, for candidate channels, a contact reference that
only the sending connector resolves inside the store: raw phone numbers never travel in payloads.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.core.models import Audience, NotificationPurpose, UtcDateTime


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Link(_Payload):
    label: str
    url: str
    callback: str | None = Field(None, description=(
        "a signed value a platform with card callbacks (Feishu's card action) returns on a click instead of "
        "opening `url`; platforms without them open `url`, which does the same"))


UNSAID_STAFF_PURPOSES = frozenset({NotificationPurpose.hr_task.value, NotificationPurpose.reminder_t1d.value,
                                   NotificationPurpose.reminder_t1h.value})
"""Message purposes that mean staff when a message does not say its audience (see `message_audience`)."""


def message_audience(purpose: str, audience: str | None) -> Audience:
    """Who a `send_message` went to: its `audience`, else (a payload planned before the field existed)
    staff for an HR task or an interviewer's T-1d/T-1h reminder (Lifeline sent candidates their
    reminders only by SMS and e-mail) and the candidate for anything else."""
    if audience is not None:
        return Audience(audience)
    return Audience.staff if purpose in UNSAID_STAFF_PURPOSES else Audience.candidate


class SendMessage(_Payload):
    """A card/message to people on the platform (HR, interviewers) or to a candidate channel.

    `audience` says which: the connector records it on the `Notification`s it returns, and only a
    candidate's reads count as reaching the candidate. Lifeline's planners always set it.
    """

    recipients: tuple[str, ...] = Field(min_length=1)
    title: str
    text: str
    links: tuple[Link, ...] = ()
    urgent: bool = False
    interview_id: str | None = None
    purpose: str = "hr_task"
    audience: Audience | None = Field(None, description="candidate (their IM account) or staff (HR, interviewers)")

    @property
    def recipient_audience(self) -> Audience:
        """`audience`, or when unset what `message_audience` infers from the purpose."""
        return message_audience(self.purpose, self.audience)


class CreateTask(_Payload):
    """A todo/task for HR with the evidence in its description and one clear next step."""

    assignees: tuple[str, ...] = Field(min_length=1)
    title: str
    description: str
    due_at: UtcDateTime | None = None
    links: tuple[Link, ...] = ()
    interview_id: str | None = None


class CloseTask(_Payload):
    """Close the HR task a `create_task` row made, its case closed without it (superseded, or HR finished it
    on Lifeline's page): handled, or removed from HR's list. The task's fields come again for vendors that
    want the whole item on every push (Weaver's unified todo)."""

    task_id: str = Field(min_length=1, description="the create_task row's remote id")
    reason: str = Field("", description="why the case closed, for people reading the outbox")
    assignees: tuple[str, ...] = Field(min_length=1)
    title: str
    links: tuple[Link, ...] = ()
    state: Literal["done", "removed"] = "done"


class CreateApproval(_Payload):
    """An approval instance (e.g. a reschedule request) started on behalf of `originator`."""

    originator: str
    approvers: tuple[str, ...] = ()
    process_code: str = Field(description="the tenant's approval definition (DingTalk processCode / Feishu code)")
    title: str
    fields: dict[str, str] = Field(default_factory=dict, description="form field name -> value")
    interview_id: str | None = None


class CalendarEvent(_Payload):
    """Create or update the interview's calendar event (same event across a reschedule)."""

    organizer: str
    attendees: tuple[str, ...] = ()
    summary: str
    description: str = ""
    start_at: UtcDateTime
    end_at: UtcDateTime
    timezone: str = "Asia/Shanghai"
    ical_uid: str
    sequence: int = 0
    remote_event_id: str | None = Field(None, description="set for an update: the event created before")
    status: Literal["confirmed", "cancelled"] = "confirmed"


class ReissueLink(_Payload):
    """Reset/extend an interview invitation on the interview platform (new deadline, maybe a new link)."""

    invitation_id: str
    new_deadline: UtcDateTime | None = None
    reason: str = "technical"


class SendSms(_Payload):
    """One templated SMS to one candidate (Aliyun SendSms); `OutId` carries the idempotency key."""

    recipient: str = Field(description="canonical candidate id; the connector looks up the number")
    purpose: NotificationPurpose
    template_code: str | None = Field(None, description="approved template; None = the instance's one for purpose")
    params: dict[str, str] = Field(default_factory=dict, description="template variables, string values, no URLs")
    interview_id: str | None = None


class CalendarInvite(_Payload):
    """The iMIP part of an e-mail: one appointment thread (stable UID), SEQUENCE bumped on each change."""

    ical_uid: str
    sequence: int = Field(0, ge=0)
    start_at: UtcDateTime
    end_at: UtcDateTime
    summary: str
    location: str = ""
    description: str = ""
    status: Literal["confirmed", "cancelled"] = Field("confirmed", description="cancelled = METHOD:CANCEL")
    issued_at: UtcDateTime = Field(description="DTSTAMP; fixed in the payload so a retry is byte-identical")


class SendEmail(_Payload):
    """One e-mail to one candidate: text + HTML, optionally an invitation/update/cancellation."""

    recipient: str = Field(description="canonical candidate id; the connector looks up the address")
    recipient_name: str = ""
    purpose: NotificationPurpose
    subject: str
    text: str
    html: str | None = Field(None, description="HTML body; None = built from text and links")
    links: tuple[Link, ...] = ()
    interview_id: str | None = None
    calendar: CalendarInvite | None = None


PAYLOADS: dict[str, type[_Payload]] = {
    "send_message": SendMessage,
    "create_task": CreateTask,
    "close_task": CloseTask,
    "create_approval": CreateApproval,
    "create_calendar_event": CalendarEvent,
    "update_calendar_event": CalendarEvent,
    "reissue_link": ReissueLink,
    "send_sms": SendSms,
    "send_email": SendEmail,
}
"""Action kinds with a shared payload model; a connector may declare further kinds of its own."""
