"""What became of the reminders of one interview version: outbox rows, notifications, receipts, confirmations.

Rows are recognised as reminders by their payload's purpose; the evidence of a row is the
`notification` whose idempotency key is the row's and the `delivery_event`s that refer to it.
On a channel that does not know deliveries (`ChannelInfo.delivery_known`: e-mail, where SMTP acceptance is
the best a send can tell), an accepted send counts as delivered: no receipt is coming to wait for.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from lifeline_hub.core.models import (
    ActionStatus,
    Channel,
    ConfirmationAction,
    DeliveryStatus,
    DeliveryType,
    Interview,
    NotificationPurpose,
    canonical_id,
    channel_info,
    channels,
    idempotency_key,
)
from lifeline_hub.core.reminders.schedule import STAFF_SLOTS, VARIANTS
from lifeline_hub.core.store.schema import actions, evidence

PURPOSES = frozenset(p.value for variants in VARIANTS.values() for p in variants)
REACHED = frozenset({DeliveryStatus.delivered.value, DeliveryStatus.read.value})


@dataclass(frozen=True)
class Sent:
    """A notification of a reminder row and the receipts of it."""

    at: datetime
    channel: str
    status: str
    receipts: frozenset[str] = frozenset()

    @property
    def failed(self) -> bool:
        return self.status == DeliveryStatus.failed.value or DeliveryType.failed.value in self.receipts

    @property
    def reached(self) -> bool:
        if self.status in REACHED or self.receipts & REACHED:
            return True
        info = channel_info(self.channel)
        return info is not None and not info.delivery_known and self.status == DeliveryStatus.sent.value


@dataclass
class Reach:
    """The reminder rows of an interview (key -> status) and what is known about their sends."""

    rows: dict[str, ActionStatus] = field(default_factory=dict)
    updated: dict[str, datetime] = field(default_factory=dict)
    sent: dict[str, Sent] = field(default_factory=dict)
    answer: ConfirmationAction | None = None

    def failed(self, key: str) -> bool:
        found = self.sent.get(key)
        return self.rows.get(key) is ActionStatus.dead or (found is not None and found.failed)

    def reached(self, key: str) -> bool:
        found = self.sent.get(key)
        return found is not None and found.reached

    def gave_up(self, key: str, now: datetime, threshold: timedelta) -> bool:
        """The send failed, or went out and has no receipt `threshold` later. A staged send (`queued`: a person
        must still release it, e.g. the recruiter for a WeCom customer-contact message) is never given up on
        by time: it may still go out, and the same reminder on another channel too would reach the candidate
        twice; its connector withdraws it when its own window closes and reports it failed."""
        if self.failed(key):
            return True
        if self.rows.get(key) is not ActionStatus.done or self.reached(key):
            return False
        found = self.sent.get(key)
        if found is not None and found.status == DeliveryStatus.queued.value:
            return False
        return (found.at if found else self.updated[key]) + threshold <= now


def reminder_key(interview: Interview, purpose: NotificationPurpose, channel: Channel | None) -> str:
    """The outbox key of one reminder: per interview version (SEQUENCE), purpose and channel (None = staff)."""
    return _key(interview.id, interview.thread.sequence, purpose, channel)


def _key(interview_id: str, sequence: int, purpose: NotificationPurpose, channel: Channel | None) -> str:
    kind = f"reminder:{purpose.value}:{channel.value if channel else 'staff'}"
    return idempotency_key(interview_id, 0, kind, sequence)


def keys(interview: Interview) -> Mapping[str, tuple[NotificationPurpose, Channel | None]]:
    """Every key a reminder of the interview's current version may have: (purpose, channel; None = staff)."""
    return _keys(interview.id, interview.thread.sequence, tuple(channels()))


@functools.lru_cache(maxsize=4096)
def _keys(interview_id: str, sequence: int, known: tuple[Channel, ...]
          ) -> Mapping[str, tuple[NotificationPurpose, Channel | None]]:
    """`keys` of one interview version (the planner asks for them several times per interview on every run)."""
    found: dict[str, tuple[NotificationPurpose, Channel | None]] = {}
    for variants in VARIANTS.values():
        for purpose in variants:
            for channel in known:
                found[_key(interview_id, sequence, purpose, channel)] = (purpose, channel)
    for slot in STAFF_SLOTS:
        found[_key(interview_id, sequence, slot, None)] = (slot, None)
    return MappingProxyType(found)


def load_reach(conn: sa.Connection, interview: Interview) -> Reach:
    reach = Reach()
    for row in conn.execute(sa.select(actions.c.idempotency_key, actions.c.status, actions.c.payload,
                                      actions.c.updated_at).where(actions.c.interview_id == interview.id)):
        if (row.payload or {}).get("purpose") in PURPOSES:
            reach.rows[row.idempotency_key] = ActionStatus(row.status)
            reach.updated[row.idempotency_key] = row.updated_at
    notes: dict[str, tuple[str, Any]] = {}
    for note in conn.execute(sa.select(evidence.c.source, evidence.c.remote_id, evidence.c.occurred_at,
                                       evidence.c.channel, evidence.c.code, evidence.c.data).where(
            evidence.c.interview_id == interview.id, evidence.c.kind == "notification")):
        key = (note.data or {}).get("idempotency_key")
        if key in reach.rows:
            notes[canonical_id(note.source, note.remote_id)] = (key, note)
    receipts: dict[str, set[str]] = defaultdict(set)
    if notes:
        for ref, kind in conn.execute(sa.select(evidence.c.ref, evidence.c.type).where(
                evidence.c.kind == "delivery_event", evidence.c.ref.in_(notes))):
            receipts[ref].add(kind)
    for ref, (key, note) in notes.items():
        reach.sent[key] = Sent(note.occurred_at, note.channel or "", note.code or "", frozenset(receipts[ref]))
    answers = conn.execute(sa.select(evidence.c.type, evidence.c.data).where(
        evidence.c.interview_id == interview.id, evidence.c.kind == "confirmation",
    ).order_by(evidence.c.occurred_at, evidence.c.id)).all()
    for kind, data in answers:
        if (data or {}).get("sequence_seen") in (None, interview.thread.sequence):
            reach.answer = ConfirmationAction(kind)
    return reach
