"""Recorded visits: an open seconds after a message to the candidate is a scanner's, not after staff's."""

from __future__ import annotations

from datetime import datetime, timedelta

from lifeline_hub.core.links import LinkToken, Visit, issue_token, record_visit
from lifeline_hub.core.models import (
    Audience,
    Channel,
    DeliveryEvent,
    DeliveryType,
    LinkEventType,
    Notification,
    NotificationPurpose,
    canonical_id,
    utcnow,
)
from lifeline_hub.core.store import Store
from tests.links.test_links_scanners import CHROME
from tests.receiver.receiver_helpers import SOURCE, TENANT, seed

IV = canonical_id(SOURCE, "iv1")


def message(remote_id: str, sent: datetime, delivered: datetime, channel: Channel,
            audience: Audience) -> tuple[Notification, DeliveryEvent]:
    """A T-1h reminder and the channel's delivery report of it."""
    note = Notification(source=f"{TENANT}.msg", remote_id=remote_id, interview_id=IV, occurred_at=sent,
                        purpose=NotificationPurpose.reminder_t1h, channel=channel, recipient="138****0000",
                        audience=audience)
    receipt = DeliveryEvent(source=f"{TENANT}.msg", remote_id=f"{remote_id}-dlr", interview_id=IV,
                            occurred_at=delivered, notification_id=note.id, type=DeliveryType.delivered,
                            channel=channel)
    return note, receipt


def click(store: Store, link: LinkToken, at: datetime) -> tuple[bool, str | None]:
    event = record_visit(store, link, LinkEventType.open, Visit("GET", {"user-agent": CHROME}, "203.0.113.7", at))
    return event.machine_made, event.machine_reason


def test_only_a_message_to_the_candidate_makes_an_open_right_after_it_a_scanner_burst(store: Store) -> None:
    seed(store)
    link = issue_token(store, IV)
    now = utcnow()
    # the interviewer's reminder (DingTalk), sent and delivered seconds before the candidate clicks
    store.write(TENANT, message("n-interviewer", now - timedelta(seconds=6), now - timedelta(seconds=2),
                                Channel.dingtalk, Audience.staff))
    assert click(store, link, now) == (False, None)

    later = now + timedelta(minutes=5)
    # the candidate's SMS, sent earlier and reported delivered seconds before the next open
    store.write(TENANT, message("n-candidate", later - timedelta(seconds=40), later - timedelta(seconds=2),
                                Channel.sms, Audience.candidate))
    assert click(store, link, later) == (True, "scanner_burst")
