"""The evidence trail in one glance: what was sent when on which channel, read or not, clicks, joins, and what
people answered about attendance (counted only from the interview's own interviewers).

A read is a read only on a channel that knows reads (`ChannelInfo.read_known`); elsewhere (an e-mail
"open") it says no more than that the message was delivered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lifeline_hub.core.models import (
    Attendance,
    AttendanceReport,
    AttendanceVerdict,
    Audience,
    Channel,
    Confirmation,
    ConfirmationAction,
    DeliveryEvent,
    DeliveryType,
    Evidence,
    LinkEvent,
    LinkEventType,
    Notification,
    NotificationPurpose,
    Role,
)

_RANK = {"sent": 0, DeliveryType.failed: 1, DeliveryType.delivered: 2, DeliveryType.read: 3}


@dataclass(frozen=True)
class Sent:
    """One message to the candidate and the best news about it."""

    at: datetime
    purpose: NotificationPurpose
    channel: Channel
    recipient: str
    state: str
    """`sent`, `failed`, `delivered` or `read`."""


@dataclass(frozen=True)
class Answer:
    """Someone's answer to "Did <candidate> attend?"; `counted` when they are one of the interview's interviewers."""

    at: datetime
    by: str
    verdict: AttendanceVerdict
    counted: bool


@dataclass
class Trail:
    sent: list[Sent] = field(default_factory=list)
    opens: int = 0
    machine_opens: int = 0
    join_attempts: int = 0
    join_errors: Counter[str] = field(default_factory=Counter)
    attended_minutes: float = 0.0
    joined: bool = False
    confirmations: list[tuple[datetime, ConfirmationAction]] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)

    @property
    def reached(self) -> bool:
        return any(s.state in ("delivered", "read") for s in self.sent)

    def channels_tried(self) -> set[Channel]:
        return {s.channel for s in self.sent}


def summarise(evidence: Sequence[Evidence], interviewers: Sequence[str] = ()) -> Trail:
    """Fold an interview's evidence into a `Trail`; machine-made clicks are counted apart, and what went to
    staff (HR tasks and messages, interviewers' reminders) is left out: it tells nothing about the candidate.
    Attendance answers count when given by one of `interviewers` (the interview's own)."""
    trail = Trail()
    notes = {e.id: e for e in evidence if isinstance(e, Notification) and e.audience is Audience.candidate}
    state = {key: _observable(n.status.value, n.channel) if n.status.value in _RANK else "sent"
             for key, n in notes.items()}
    for e in evidence:
        match e:
            case DeliveryEvent() if e.notification_id in state:
                news = _observable(e.type.value, e.channel)
                if _RANK[news] > _RANK.get(state[e.notification_id], 0):
                    state[e.notification_id] = news
            case LinkEvent() if e.machine_made:
                trail.machine_opens += 1
            case LinkEvent() if e.type is LinkEventType.open:
                trail.opens += 1
            case LinkEvent() if e.type is LinkEventType.join_error:
                trail.join_errors[e.code or "?"] += 1
            case LinkEvent() if e.type in (LinkEventType.join_attempt, LinkEventType.join_ok):
                trail.join_attempts += 1
            case Attendance() if e.role is Role.candidate:
                trail.joined = True
                if e.left_at is not None:
                    trail.attended_minutes += (e.left_at - e.occurred_at).total_seconds() / 60
            case Confirmation():
                trail.confirmations.append((e.occurred_at, e.action))
            case AttendanceReport():
                trail.answers.append(Answer(e.occurred_at, e.reporter_id, e.verdict, e.reporter_id in interviewers))
    trail.sent = [Sent(n.occurred_at, n.purpose, n.channel, n.recipient, state[key]) for key, n in notes.items()]
    trail.sent.sort(key=lambda s: s.at)
    return trail


def _observable(state: str, channel: Channel) -> str:
    return "delivered" if state == DeliveryType.read and not channel.info.read_known else state
