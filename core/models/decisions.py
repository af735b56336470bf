"""What Lifeline decides (outcomes) and does about it (actions in the outbox)."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.core.models.time import UtcDateTime


class OutcomeClass(StrEnum):
    """In decision order: the first class whose evidence matches wins (DESIGN.md).

    Sub-reasons (`Outcome.sub_reason`) per class, as reconcile writes them (core/reconcile/rules.py):
    - cancelled: `ats`, `candidate_declined`; rescheduled: `ats`, `new_version`, `request_approved`;
      pending: `window_open`, `stream_behind`;
    - attended: `on_time`, `submitted`, `interviewer_reported`; attended_late: `late_join`, `submitted_late`,
      `interviewer_reported`; attended_partial: `short_attendance`, `not_submitted`;
    - missed_technical: `join_error`, `repeated_attempts`, `interviewer_reported`;
    - missed_declined: `declined`, `reschedule_requested`;
    - missed_read_no_show: `confirmed_no_show`, `link_opened`, `read`;
    - missed_not_reached: `nothing_sent`, `undelivered` (every send failed: a contact-data problem),
      `delivered_unread` (delivered on a channel that knows reads, not read), `delivered_read_unknown`
      (delivered, no sign of reading, on channels that cannot report reads - SMS, WeChat, e-mail: no
      contact-data problem);
    - unknown: `no_attendance_source` (no machine attendance and no answer from the interview's interviewers).
    """

    cancelled = "cancelled"
    rescheduled = "rescheduled"
    pending = "pending"
    attended = "attended"
    attended_late = "attended_late"
    attended_partial = "attended_partial"
    missed_technical = "missed_technical"
    missed_declined = "missed_declined"
    missed_read_no_show = "missed_read_no_show"
    missed_not_reached = "missed_not_reached"
    unknown = "unknown"


class Confidence(StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


class Outcome(BaseModel):
    """One decision about one interview; a later version supersedes an earlier one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interview_id: str
    version: int = Field(1, ge=1)
    outcome: OutcomeClass
    sub_reason: str | None = None
    confidence: Confidence = Confidence.high
    evidence_ids: tuple[int, ...] = ()
    rule_version: str
    decided_at: UtcDateTime


class ActionStatus(StrEnum):
    planned = "planned"
    claimed = "claimed"
    done = "done"
    dead = "dead"
    cancelled = "cancelled"


def idempotency_key(interview_id: str, outcome_version: int, kind: str, sequence: int) -> str:
    """Deterministic key for one action: the same decision always plans the same key."""
    material = f"{interview_id}|{outcome_version}|{kind}|{sequence}"
    return "ll-" + hashlib.sha256(material.encode()).hexdigest()[:32]


class Action(BaseModel):
    """A row of the outbox: an action planned for a connector sink, done exactly once."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: str
    tenant: str
    connector: str = Field(description="connector instance that performs it")
    kind: str = Field(description="an action the connector declares, e.g. create_task")
    interview_id: str | None = None
    outcome_version: int | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    status: ActionStatus = ActionStatus.planned
    attempts: int = 0
    maybe_sent: bool = Field(False, description=(
        "an earlier worker handed this row to its vendor: the object may exist, so a sink that can look it "
        "up (by the idempotency key it gave the vendor) must do so before creating it"))
    handed_at: UtcDateTime | None = Field(None, description=(
        "when a worker first handed this row to its vendor: an object made for it is no older (the window of "
        "a look-up)"))
    due_at: UtcDateTime
    remote_id: str | None = None
    last_error: str | None = None
