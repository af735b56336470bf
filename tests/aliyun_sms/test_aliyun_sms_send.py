"""Sending: normalised numbers, templates, and exactly one SMS per idempotency key across retries and timeouts."""

from __future__ import annotations

from datetime import datetime

import pytest
import requests

from lifeline_hub.connectors.aliyun_sms import plugin
from lifeline_hub.connectors.aliyun_sms.emulator import EmulatorSettings, SmsWorld, create_app
from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.http import InvalidRequest, TransientError
from lifeline_hub.core.models import DeliveryStatus, DeliveryType, Notification, zone_info
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.store import Store
from tests.aliyun_sms.sms_helpers import RAW_NUMBERS, REMINDER, calls, drive, make_connector, send_action


def test_the_plugin_registers_the_connector() -> None:
    host = PluginHost()
    host.register(plugin, "aliyun_sms")
    cls = host.connector("aliyun_sms")
    assert cls.actions == ("send_sms",) and [s.name for s in cls.streams] == ["receipts"]
    assert cls.emulator == "lifeline_hub.connectors.aliyun_sms.emulator:create_app"


def test_a_send_uses_the_normalised_number_and_the_purpose_template(connector: AliyunSmsConnector,
                                                                     world: SmsWorld) -> None:
    result = connector.perform(send_action("ll-one"))
    (message,) = world.message_list()
    assert message["phone"] == "13812345678" and message["out_id"] == "ll-one"
    assert message["template_code"] == REMINDER
    assert message["content"] == ("【面试助手】张三您好，您的面试将于2026-03-02 10:00开始，"
                                  "请准时参加，改期请访问招聘页面。")
    (notification,) = result.records
    assert isinstance(notification, Notification)
    assert (notification.remote_id, notification.recipient, notification.idempotency_key) == (
        "ll-one", "138****5678", "ll-one")
    assert notification.status == DeliveryStatus.sent and notification.interview_id == "acme.ats/iv1"
    assert result.remote_id == message["biz_id"] == result.detail["biz_id"]
    (entry,) = result.handoff["receipts"]["sent"]
    assert entry["candidate_id"] == "acme.ats/cand1"
    assert not any(raw in str(entry) for raw in RAW_NUMBERS)  # (not "138": a send time's microseconds may hold it)


def test_an_international_number_goes_with_its_country_code(connector: AliyunSmsConnector, world: SmsWorld) -> None:
    connector.perform(send_action("ll-hk", recipient="cand2", template_code="SMS_900000003"))
    assert world.message_list()[0]["phone"] == "85261234567"


def test_without_a_template_or_an_sms_contact_nothing_is_sent(connector: AliyunSmsConnector, world: SmsWorld) -> None:
    with pytest.raises(InvalidRequest, match="no template"):
        connector.perform(send_action("ll-t", purpose="urgent"))
    with pytest.raises(InvalidRequest, match="no SMS contact"):
        connector.perform(send_action("ll-c", recipient="cand3"))
    with pytest.raises(InvalidRequest, match="no SMS contact"):
        connector.perform(send_action("ll-x", recipient="nobody"))
    assert calls(world, "SendSms") == 0


def test_a_timeout_after_acceptance_does_not_send_twice(emulator: str, world: SmsWorld, contacts: Store) -> None:
    connector = make_connector(emulator, contacts, http_timeout_seconds=0.5)
    drive(emulator, "stall_next", seconds=1.5, action="SendSms")
    result = connector.perform(send_action("ll-slow"))
    assert len(world.messages) == 1, "the send went out once and was found by its OutId"
    assert result.remote_id == "ll-slow" and result.detail["biz_id"] is None
    assert calls(world, "SendSms") == 1 and calls(world, "QuerySendDetails") == 1
    # dispatch runs the row again (say the worker died before recording): still one SMS
    again = connector.perform(send_action("ll-slow", attempts=2))
    assert again.remote_id == "ll-slow" and len(world.messages) == 1 and calls(world, "SendSms") == 1


def test_a_settled_send_found_again_brings_its_receipt(connector: AliyunSmsConnector, world: SmsWorld) -> None:
    connector.perform(send_action("ll-done"))
    result = connector.perform(send_action("ll-done", attempts=3))
    _, event = result.records
    assert event.type == DeliveryType.delivered and event.notification_id == "acme.sms/ll-done"
    assert result.handoff["receipts"]["sent"] == [] and len(world.messages) == 1


def test_a_5xx_before_processing_is_retried_by_dispatch_and_sends_once(connector: AliyunSmsConnector,
                                                                       world: SmsWorld) -> None:
    world.fail_next("ServiceUnavailable", action="SendSms")
    with pytest.raises(TransientError) as caught:
        connector.perform(send_action("ll-5xx"))
    assert caught.value.retryable and world.messages == []
    connector.perform(send_action("ll-5xx", attempts=2))
    for attempt in range(3, 6):
        connector.perform(send_action("ll-5xx", attempts=attempt))
    assert len(world.messages) == 1 and calls(world, "SendSms") == 2


def test_injected_faults_never_make_a_second_sms(contacts: Store) -> None:
    """Timeouts, 5xx and throttling at random: re-running each row until it completes sends each SMS once."""
    world = SmsWorld(EmulatorSettings(push_background=False, retry_after_ms=5))
    with LoopbackServer(create_app(world=world)) as server:
        requests.put(f"{server.url}/_emulator/faults", json={"timeout": 0.2, "timeout_seconds": 0.6,
                                                             "server_error": 0.2, "rate_limit": 0.2, "seed": 7},
                     timeout=10).raise_for_status()
        connector = make_connector(server.url, contacts, http_timeout_seconds=0.3)
        connector.client.backoff = 0.01
        keys = [f"ll-fault-{i}" for i in range(8)]
        for key in keys:
            for attempt in range(1, 30):
                try:
                    connector.perform(send_action(key, attempts=attempt))
                    break
                except TransientError:
                    continue
        assert sorted(m.out_id for m in world.messages) == sorted(keys)
        assert world.summary()["faults_injected"]
    world.close()


def test_a_send_before_midnight_is_found_after_it(contacts: Store) -> None:
    """The look-up covers yesterday (Beijing) too: a retry after midnight finds the send of 23:59."""
    now = [datetime(2026, 3, 1, 23, 59, 50, tzinfo=zone_info("Asia/Shanghai"))]
    world = SmsWorld(EmulatorSettings(push_background=False, check_timestamps=False), now=lambda: now[0].timestamp())
    with LoopbackServer(create_app(world=world)) as server:
        connector = make_connector(server.url, contacts)
        connector.clock = lambda: now[0]
        world.set_outcome("13812345678", "pending")
        connector.perform(send_action("ll-midnight"))
        now[0] = datetime(2026, 3, 2, 0, 0, 30, tzinfo=zone_info("Asia/Shanghai"))
        result = connector.perform(send_action("ll-midnight", attempts=2))
    assert result.remote_id == "ll-midnight" and len(world.messages) == 1
    assert result.handoff["receipts"]["sent"][0]["send_date"] == "20260301", "polled on the date it went out"
    world.close()
