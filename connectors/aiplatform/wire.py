"""The aiplatform protocol v1 objects as they travel (docs/aiplatform-protocol.md §3).

Incoming objects ignore fields they do not know (vendors add fields within a protocol version);
a missing or mistyped known field fails validation and the record is quarantined.
Outgoing request bodies (`NewInvitation`, `ReissueLink`) forbid unknown fields.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lifeline_hub.core.models import UtcDateTime, utcnow

PROTOCOL_VERSION = "1"
InterviewKind = Literal["ai_async", "async_video"]
DeadlineBasis = Literal["from_invite", "from_first_open", "absolute"]
TechnicalKind = Literal["join_error", "device_check_failed", "upload_error"]
INVITATION_ID = r"^inv_[A-Za-z0-9]+$"
EVENT_ID = r"^evt_[A-Za-z0-9]+$"


class _Incoming(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WireCandidate(_Incoming):
    id: str = Field(pattern=r"^cand_[A-Za-z0-9]+$")
    external_ref: str | None = None
    name: str = Field(min_length=1)
    locale: str = "zh-CN"
    timezone: str = "Asia/Shanghai"
    email: str | None = None
    phone: str | None = None
    """Contact data the client gave at creation, returned to that client only (§2)."""


class WireLink(_Incoming):
    url: str = Field(pattern=r"^https?://")
    version: int = Field(ge=1)


class WireInvitation(_Incoming):
    """One invitation: the candidate's async interview and where it stands."""

    id: str = Field(pattern=INVITATION_ID)
    external_ref: str | None = None
    candidate: WireCandidate
    interview_kind: InterviewKind
    status: str = Field(min_length=1, description="invited, opened, started, submitted, expired, withdrawn")
    deadline_basis: DeadlineBasis
    window_hours: int | None = Field(None, ge=1)
    invited_at: UtcDateTime
    opens_at: UtcDateTime | None = None
    """A scheduled session: the link works from here (None: from the invitation)."""
    first_opened_at: UtcDateTime | None = None
    started_at: UtcDateTime | None = None
    submitted_at: UtcDateTime | None = None
    expired_at: UtcDateTime | None = None
    open_by: UtcDateTime | None = None
    deadline_at: UtcDateTime
    link: WireLink
    resets: int = Field(0, ge=0)
    updated_at: UtcDateTime


class WireEvent(_Incoming):
    """One immutable fact about an invitation; `attempt` counts resets (0 for the first invitation)."""

    id: str = Field(pattern=EVENT_ID)
    type: str = Field(min_length=1)
    invitation_id: str = Field(pattern=INVITATION_ID)
    attempt: int = Field(0, ge=0)
    occurred_at: UtcDateTime
    data: dict[str, Any] = Field(default_factory=dict)


class WirePage(_Incoming):
    """A listing page; items are validated one by one so one bad item never hides the others."""

    data: list[Any]
    next_cursor: str | None = None
    as_of: UtcDateTime


class NewCandidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_ref: str | None = None
    name: str = Field(min_length=1)
    email: str | None = None
    phone: str | None = None
    locale: str = "zh-CN"
    timezone: str = "Asia/Shanghai"

    @model_validator(mode="after")
    def _reachable(self) -> NewCandidate:
        if not (self.email or self.phone):
            raise ValueError("a candidate needs an email or a phone to receive the invitation")
        return self


class NewInvitation(BaseModel):
    """`POST /v1/invitations` body (also the `create_invitation` action payload)."""

    model_config = ConfigDict(extra="forbid")

    external_ref: str | None = None
    candidate: NewCandidate
    interview_kind: InterviewKind = "ai_async"
    deadline_basis: DeadlineBasis = "from_invite"
    window_hours: int | None = Field(72, ge=1, le=24 * 60)
    deadline_at: UtcDateTime | None = Field(None, description="required when deadline_basis is absolute")
    opens_at: UtcDateTime | None = Field(None, description="a scheduled session: the link works from here")

    @model_validator(mode="after")
    def _deadline(self) -> NewInvitation:
        if (self.deadline_basis == "absolute") != (self.deadline_at is not None):
            raise ValueError("deadline_at is given exactly when deadline_basis is absolute")
        if self.opens_at and self.deadline_at and self.opens_at >= self.deadline_at:
            raise ValueError("opens_at must be before deadline_at")
        return self


class ReissueLink(BaseModel):
    """The `reissue_link` action payload: `reset` (new attempt, clock restarts) or `extend` (more time)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["reset", "extend"] = "reset"
    invitation_id: str | None = Field(None, pattern=INVITATION_ID)
    hours: int | None = Field(None, ge=1, le=24 * 30, description="extend: hours to add; reset: new window")
    new_link: bool | None = Field(None, description="issue a new link URL; default: yes for reset, no for extend")
    new_deadline: datetime | None = Field(None, description="core `ReissueLink`: the deadline wanted (sets hours)")
    reason: str | None = Field(None, description="core `ReissueLink`: why (audit only, not sent)")

    @model_validator(mode="after")
    def _hours(self) -> ReissueLink:
        if self.hours is None and self.new_deadline is not None:
            left = (self.new_deadline - utcnow()).total_seconds()
            self.hours = max(1, min(24 * 30, math.ceil(left / 3600)))
        if self.mode == "extend" and self.hours is None:
            raise ValueError("extend needs hours")
        return self

    def body(self) -> dict[str, Any]:
        """The request body of `POST /v1/invitations/{id}/reset|extend`."""
        new_link = self.mode == "reset" if self.new_link is None else self.new_link
        if self.mode == "extend":
            return {"hours": self.hours, "new_link": new_link}
        return {"new_link": new_link} | ({"window_hours": self.hours} if self.hours else {})
