"""Delivery receipts by polling QuerySendDetails, landing as DeliveryEvents in a real store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from lifeline_hub.connectors.aliyun_sms.emulator import SmsWorld
from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector
from lifeline_hub.connectors.aliyun_sms.receipts import with_sent
from lifeline_hub.core.config import ConnectorSetup, InstanceConfig
from lifeline_hub.core.connector import Checkpoint, Malformed
from lifeline_hub.core.http import AuthFailed
from lifeline_hub.core.models import DeliveryEvent, utcnow
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import evidence
from lifeline_hub.core.sync import sync_stream
from tests.aliyun_sms.sms_helpers import SOURCE, TENANT, calls, make_connector, seed, send_action


def setup_of(connector: AliyunSmsConnector) -> ConnectorSetup:
    return ConnectorSetup(TENANT, "sms", InstanceConfig(plugin="aliyun_sms"), AliyunSmsConnector, connector.config,
                          connector.instance)


def dispatched(store: Store, connector: AliyunSmsConnector, *keys_and_recipients: tuple[str, str]) -> None:
    """What dispatch does with a send's result: store its records, hand its tracking entry to the stream."""
    sent: list[dict[str, Any]] = []
    for key, recipient in keys_and_recipients:
        result = connector.perform(send_action(key, recipient=recipient))
        store.write(TENANT, result.records)
        sent += result.handoff["receipts"]["sent"]
    cursor = store.stream_state(SOURCE, "receipts").cursor
    store.commit_batch(TENANT, SOURCE, "receipts", [], [], Checkpoint(with_sent(cursor, sent)))


def receipts_in(store: Store) -> list[tuple[str, str, str | None, str | None]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(evidence.c.remote_id, evidence.c.type, evidence.c.code, evidence.c.ref)
                            .where(evidence.c.kind == "delivery_event").order_by(evidence.c.remote_id)).all()
    return [tuple(r) for r in rows]


@pytest.fixture
def sms(emulator: str, store: Store) -> AliyunSmsConnector:
    """A connector whose contact book is the same real store (SQLite and PostgreSQL) the receipts land in."""
    return make_connector(emulator, seed(store))


def test_polled_receipts_land_in_the_store(sms: AliyunSmsConnector, world: SmsWorld, store: Store) -> None:
    world.settings.delivery_delay_seconds = 60
    world.set_outcome("+85261234567", "failed", "MK:0001", delay_seconds=90)
    dispatched(store, sms, ("ll-a", "cand1"), ("ll-b", "cand2"))
    first = sync_stream(store, setup_of(sms), "receipts", connector=sms)
    assert first.written.inserted == 0 and first.error is None
    assert set(store.stream_state(SOURCE, "receipts").cursor["pending"]) == {"ll-a", "ll-b"}
    assert first.watermark is not None and first.watermark <= utcnow() - timedelta(seconds=59)
    world.advance(120)
    second = sync_stream(store, setup_of(sms), "receipts", connector=sms)
    assert second.written.inserted == 2
    assert receipts_in(store) == [("ll-a/delivered", "delivered", "DELIVERED", "acme.sms/ll-a"),
                                  ("ll-b/failed", "failed", "MK:0001", "acme.sms/ll-b")]
    assert store.stream_state(SOURCE, "receipts").cursor["pending"] == {}
    assert store.count("evidence", kind="notification") == 2
    third = sync_stream(store, setup_of(sms), "receipts", connector=sms)
    assert third.written.inserted == 0 and calls(world, "QuerySendDetails") == 4


def test_polling_pages_through_a_busy_day(connector: AliyunSmsConnector, world: SmsWorld) -> None:
    world.set_limits(day=None)
    for i in range(120):
        world.send("13812345678", "面试助手", "SMS_900000003", '{"name":"x","time":"10:00"}', f"other-{i:03d}")
    result = connector.perform(send_action("ll-late"))
    items = list(connector.read("receipts", with_sent({}, result.handoff["receipts"]["sent"])))
    assert [i.remote_id for i in items if isinstance(i, DeliveryEvent)] == ["ll-late/delivered"]
    assert calls(world, "QuerySendDetails") == 3  # 121 rows, 50 a page


def test_a_failed_poll_keeps_sends_pending_and_the_watermark(connector: AliyunSmsConnector, world: SmsWorld) -> None:
    sent = connector.perform(send_action("ll-p")).handoff["receipts"]["sent"]
    world.fail_next("InvalidAccessKeyId.Inactive", action="QuerySendDetails")
    reader = connector.read("receipts", with_sent({}, sent))
    checkpoint = next(reader)
    assert isinstance(checkpoint, Checkpoint) and checkpoint.watermark is None
    assert set(checkpoint.cursor["pending"]) == {"ll-p"}
    with pytest.raises(AuthFailed):
        next(reader)


def test_a_garbled_row_is_quarantined_and_polled_again(connector: AliyunSmsConnector, world: SmsWorld) -> None:
    sent = connector.perform(send_action("ll-g")).handoff["receipts"]["sent"]
    world.configure_faults(world.faults.faults.model_copy(update={"malformed": 1.0}))
    bad, checkpoint = list(connector.read("receipts", with_sent({}, sent)))
    assert isinstance(bad, Malformed) and "SendStatus" in bad.reason and "PhoneNum" not in bad.payload
    assert isinstance(checkpoint, Checkpoint) and set(checkpoint.cursor["pending"]) == {"ll-g"}
    world.configure_faults(world.faults.faults.model_copy(update={"malformed": 0.0}))
    good, _ = list(connector.read("receipts", checkpoint.cursor))
    assert isinstance(good, DeliveryEvent) and good.occurred_at.tzinfo is not None


def test_sends_without_a_receipt_are_given_up_after_the_window(connector: AliyunSmsConnector,
                                                               world: SmsWorld) -> None:
    world.set_outcome("13812345678", "pending")
    sent = connector.perform(send_action("ll-w")).handoff["receipts"]["sent"]
    (checkpoint,) = list(connector.read("receipts", with_sent({}, sent)))
    assert isinstance(checkpoint, Checkpoint) and set(checkpoint.cursor["pending"]) == {"ll-w"}
    later = utcnow() + timedelta(hours=73)
    connector.clock = lambda: later
    (checkpoint,) = list(connector.read("receipts", checkpoint.cursor))
    assert isinstance(checkpoint, Checkpoint) and checkpoint.cursor["pending"] == {}
    assert calls(world, "QuerySendDetails") == 1


def test_report_times_are_beijing_wall_time(connector: AliyunSmsConnector, world: SmsWorld) -> None:
    sent = connector.perform(send_action("ll-tz")).handoff["receipts"]["sent"]
    event, _ = list(connector.read("receipts", with_sent({}, sent)))
    assert isinstance(event, DeliveryEvent)
    assert abs(event.occurred_at - utcnow()) < timedelta(seconds=5)  # "yyyy-MM-dd HH:mm:ss" read in +08:00
