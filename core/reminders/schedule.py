"""When reminders go: an offset before the start, moved out of the recipient's quiet hours.

A send that falls in the quiet hours (`policy.quiet_hours`, local to the recipient's zone) moves
to their end, but never to or past the interview start: a reminder for an interview that itself
lies in (or right after) the quiet hours keeps its time, since the candidate is up for it anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from lifeline_hub.core.models import NotificationPurpose
from lifeline_hub.core.remediation.messages import outside_quiet_hours

SLOTS = (NotificationPurpose.reminder_t3d, NotificationPurpose.reminder_t1d, NotificationPurpose.reminder_t1h)
"""The configurable reminders (`policy.reminder_offsets_minutes` keys)."""
VARIANTS: dict[NotificationPurpose, tuple[NotificationPurpose, ...]] = {
    NotificationPurpose.reminder_t3d: (NotificationPurpose.reminder_t3d,),
    NotificationPurpose.reminder_t1d: (NotificationPurpose.reminder_t1d, NotificationPurpose.confirm_request),
    NotificationPurpose.reminder_t1h: (NotificationPurpose.reminder_t1h, NotificationPurpose.urgent),
}
"""What each reminder may be sent as: T-1d asks to confirm when unconfirmed, T-1h is urgent when unreached."""
STAFF_SLOTS = (NotificationPurpose.reminder_t1d, NotificationPurpose.reminder_t1h)
"""The reminders interviewers get too (a T-3d notice is noise in their work chat)."""


def slot_offsets(offsets: dict[str, int]) -> list[tuple[NotificationPurpose, timedelta]]:
    """The tenant's reminders, earliest first."""
    found = [(slot, timedelta(minutes=offsets[slot.value])) for slot in SLOTS if slot.value in offsets]
    return sorted(found, key=lambda pair: pair[1], reverse=True)


def send_time(at: datetime, start: datetime, zone: str, quiet: list[int]) -> datetime:
    """`at`, moved to the end of the quiet hours in `zone` unless that reaches the start."""
    moved = outside_quiet_hours(at, zone, quiet)
    return at if moved >= start else moved
