"""Fallback to the next channel when a send failed or has no receipt past the threshold; urgent T-1h."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lifeline_hub.core.config import Config
from lifeline_hub.core.models import (
    Action,
    ActionStatus,
    Channel,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Notification,
    canonical_id,
)
from lifeline_hub.core.reminders import plan_reminders
from lifeline_hub.core.reminders.reach import Sent
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import actions
from tests.reconcile.plugin_channel import WECOM, WECOM_BOT
from tests.reminders.reminder_helpers import NOW, TENANT, candidate, interview, make_config, outbox, purpose, purposes

START = NOW + timedelta(days=5)


@pytest.fixture
def config(tmp_path: Path, store: Store) -> Config:
    return make_config(tmp_path, store.url, reminder_fallback_minutes=30)


def sent(store: Store, action: Action, at: datetime, status: DeliveryStatus = DeliveryStatus.sent,
         receipt: DeliveryType | None = None, row: ActionStatus = ActionStatus.done) -> None:
    """What dispatch and the receipts stream leave behind for one row."""
    with store.begin() as conn:
        conn.execute(sa.update(actions).where(actions.c.idempotency_key == action.idempotency_key)
                     .values(status=row.value, updated_at=at))
    if row is ActionStatus.dead:
        return
    channel = Channel.sms if action.kind == "send_sms" else Channel.email
    records: list[Notification | DeliveryEvent] = [Notification(
        source=action.connector, remote_id=action.idempotency_key, interview_id=action.interview_id, occurred_at=at,
        purpose=purpose(action), channel=channel, recipient="138****5678", status=status,
        idempotency_key=action.idempotency_key)]
    if receipt is not None:
        records.append(DeliveryEvent(
            source=action.connector, remote_id=f"{action.idempotency_key}/{receipt.value}",
            interview_id=action.interview_id, occurred_at=at + timedelta(seconds=5), type=receipt, channel=channel,
            notification_id=canonical_id(action.connector, action.idempotency_key)))
    store.write(TENANT, records)


def first_sent(store: Store, config: Config) -> tuple[str, Action]:
    candidate(store)
    iv = interview(store, "iv1", START)
    plan_reminders(store, TENANT, NOW, config)
    return iv.id, outbox(store, iv.id)[0]


def test_a_failed_sms_falls_back_to_email_once_and_later_reminders_follow(store: Store, config: Config) -> None:
    iv, t3d = first_sent(store, config)
    at = t3d.due_at
    sent(store, t3d, at, DeliveryStatus.failed, DeliveryType.failed)
    summary = plan_reminders(store, TENANT, at + timedelta(minutes=1), config)
    assert summary.fallbacks == 3 and summary.cancelled == 2
    planned = outbox(store, iv, "planned")
    assert purposes(planned) == [("reminder_t3d", "send_email"), ("confirm_request", "send_email"),
                                 ("urgent", "send_email")]
    assert [a.due_at for a in planned] == [at + timedelta(minutes=1), START - timedelta(days=1),
                                           START - timedelta(hours=1)]
    assert plan_reminders(store, TENANT, at + timedelta(minutes=20), config).planned == 0


def test_an_undelivered_sms_falls_back_after_the_threshold(store: Store, config: Config) -> None:
    iv, t3d = first_sent(store, config)
    at = t3d.due_at
    sent(store, t3d, at)
    assert plan_reminders(store, TENANT, at + timedelta(minutes=29), config).fallbacks == 0
    assert plan_reminders(store, TENANT, at + timedelta(minutes=31), config).fallbacks == 1
    assert purposes(outbox(store, iv, "planned")) == [("reminder_t3d", "send_email"), ("confirm_request", "send_sms"),
                                                      ("urgent", "send_sms")]
    assert plan_reminders(store, TENANT, at + timedelta(hours=2), config).planned == 0


def test_a_dead_row_falls_back_at_once(store: Store, config: Config) -> None:
    iv, t3d = first_sent(store, config)
    sent(store, t3d, t3d.due_at, row=ActionStatus.dead)
    assert plan_reminders(store, TENANT, t3d.due_at + timedelta(minutes=1), config).fallbacks == 3
    planned = outbox(store, iv, "planned")
    assert {a.kind for a in planned} == {"send_email"}
    assert [START - a.due_at for a in planned[1:]] == [timedelta(days=1), timedelta(hours=1)]


def test_a_delivered_sms_needs_no_fallback_and_makes_t1h_a_plain_reminder(store: Store, config: Config) -> None:
    iv, t3d = first_sent(store, config)
    at = t3d.due_at
    sent(store, t3d, at, receipt=DeliveryType.delivered)
    summary = plan_reminders(store, TENANT, at + timedelta(hours=2), config)
    assert summary.fallbacks == 0 and summary.cancelled == 1 and summary.planned == 1
    assert purposes(outbox(store, iv, "planned")) == [("confirm_request", "send_sms"), ("reminder_t1h", "send_sms")]


def test_t1h_is_urgent_when_nothing_was_delivered_or_read(store: Store, config: Config) -> None:
    iv, t3d = first_sent(store, config)
    sent(store, t3d, t3d.due_at)  # sent, never a receipt: the fallback e-mail goes, SMTP accepted it
    plan_reminders(store, TENANT, t3d.due_at + timedelta(hours=1), config)
    assert [purpose(a).value for a in outbox(store, iv, "planned") if a.due_at > START - timedelta(hours=2)] == [
        "urgent"]


def test_an_accepted_send_counts_as_delivered_only_where_its_channel_reports_no_deliveries() -> None:
    """No fallback waits for a receipt that cannot come (e-mail, a plugin channel declaring no deliveries);
    where receipts come (SMS, a plugin channel declaring them), an accepted send is not yet delivered."""
    assert Sent(NOW, Channel.email.value, "sent").reached and Sent(NOW, WECOM_BOT.value, "sent").reached
    assert not Sent(NOW, Channel.sms.value, "sent").reached and not Sent(NOW, WECOM.value, "sent").reached
    assert Sent(NOW, WECOM.value, "sent", frozenset({"delivered"})).reached
    assert not Sent(NOW, "unloaded_plugin_channel", "sent").reached  # nothing declared: nothing assumed
