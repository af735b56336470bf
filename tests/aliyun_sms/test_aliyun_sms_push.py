"""Delivery receipts by push: the emulator's SmsReport batch push through the real receiver into a real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from lifeline_hub.connectors.aliyun_sms import plugin
from lifeline_hub.connectors.aliyun_sms.emulator import SmsWorld
from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector
from lifeline_hub.connectors.aliyun_sms.receipts import with_sent
from lifeline_hub.core.connector import CallbackRejected, CallbackRequest
from lifeline_hub.core.models import DeliveryEvent, DeliveryType, utcnow, zone_info
from lifeline_hub.core.store import Store
from tests.aliyun_sms.sms_helpers import KEY_ID, PUSH_TOKEN, SECRET, SOURCE, make_connector, seed, send_action
from tests.receiver.receiver_helpers import instance_table, load_config, plugin_host, running_receiver


@pytest.fixture
def receiver(emulator: str, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real receiver with an `aliyun_sms` instance (registered in-process until its entry point exists)."""
    host = plugin_host()
    if "aliyun_sms" not in host.connectors:
        host.register(plugin, "aliyun_sms")
    monkeypatch.setenv("AIRFLOW_CONN_SMS_TEST", json.dumps({"conn_type": "aliyun_sms", "login": KEY_ID,
                                                            "password": SECRET, "extra": {"push_token": PUSH_TOKEN}}))
    settings = {"sign_name": "面试助手", "templates": {"reminder_t1d": "SMS_900000001"}}
    table = instance_table("sms", "aliyun_sms", settings, "sms_test", {"api": emulator})
    with running_receiver(load_config(tmp_path, table, host), seed(store), host) as url:
        yield f"{url}/callbacks/{SOURCE}"


def test_pushed_receipts_land_in_the_store_once(receiver: str, emulator: str, world: SmsWorld, store: Store) -> None:
    sms = make_connector(emulator, store)
    world.set_report_url(f"{receiver}?token={PUSH_TOKEN}")
    world.configure_faults(world.faults.faults.model_copy(update={"duplicate": 1.0}))  # every batch pushed twice
    world.set_outcome("+85261234567", "failed", "MK:0001")
    sms.perform(send_action("ll-push-a"))
    sms.perform(send_action("ll-push-b", recipient="cand2"))
    assert world.deliver_reports() == 2
    assert [r["state"] for r in world.report_list()] == ["delivered", "delivered"]
    assert store.count("inbound_events") == 1, "the re-pushed batch is the same event"
    assert store.count("evidence", kind="delivery_event", type="delivered", ref="acme.sms/ll-push-a") == 1
    assert store.count("evidence", kind="delivery_event", type="failed", ref="acme.sms/ll-push-b") == 1


def test_push_and_poll_of_one_receipt_are_one_row(receiver: str, emulator: str, world: SmsWorld,
                                                  store: Store) -> None:
    sms = make_connector(emulator, store)
    world.set_report_url(f"{receiver}?token={PUSH_TOKEN}")
    sent = sms.perform(send_action("ll-both")).handoff["receipts"]["sent"]
    world.deliver_reports()
    polled = [i for i in sms.read("receipts", with_sent({}, sent)) if isinstance(i, DeliveryEvent)]
    store.write("acme", polled)
    assert store.count("evidence", kind="delivery_event") == 1


def test_a_refused_push_is_retried_after_1_5_and_10_minutes(receiver: str, emulator: str, world: SmsWorld,
                                                           store: Store) -> None:
    make_connector(emulator, store).perform(send_action("ll-retry"))
    world.set_report_url(f"{receiver}?token=wrong")
    world.deliver_reports()
    (report,) = world.report_list()
    assert (report["attempts"], report["state"], report["error"]) == (1, "pending", "HTTP 401")
    for minutes in (1, 5, 10):
        assert world.deliver_reports() == 0  # not due yet
        world.advance(minutes * 60)
    (report,) = world.report_list()
    assert (report["attempts"], report["state"]) == (4, "failed")
    assert store.count("evidence", kind="delivery_event") == 0


def request(reports: list[dict[str, object]], token: str | None = PUSH_TOKEN, received: object = None
            ) -> CallbackRequest:
    return CallbackRequest(headers={"content-type": "application/json"}, query={"token": token} if token else {},
                           body=json.dumps(reports).encode(), received_at=received or utcnow())  # type: ignore[arg-type]


def report(out_id: str = "ll-x", minutes_ago: int = 0, **fields: object) -> dict[str, object]:
    at = (utcnow() - timedelta(minutes=minutes_ago)).astimezone(zone_info("Asia/Shanghai"))
    stamp = at.strftime("%Y-%m-%d %H:%M:%S")
    return {"phone_number": "13812345678", "send_time": stamp, "report_time": stamp, "success": True,
            "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1", "biz_id": "1^0", "out_id": out_id,
            **fields}


def test_push_verification_and_parsing(connector: AliyunSmsConnector) -> None:
    result = connector.handle_callback(request([report("ll-1"), report("", success=True),
                                                report("ll-2", success=False, err_code="MK:0001"),
                                                report("ll-3", minutes_ago=45)]))
    assert result.reply == {"code": 0, "msg": "接收成功"} and result.status_code == 200
    assert all(isinstance(r, DeliveryEvent) for r in result.records)
    assert [(r.remote_id, getattr(r, "type", None)) for r in result.records] == [
        ("ll-1/delivered", DeliveryType.delivered), ("ll-2/failed", DeliveryType.failed)]
    assert all("13812345678" not in r.model_dump_json() for r in result.records)
    again = connector.handle_callback(request([report("ll-1"), report("", success=True),
                                               report("ll-2", success=False, err_code="MK:0001"),
                                               report("ll-3", minutes_ago=45)]))
    assert again.event_id == result.event_id
    for bad, reason in [(request([report()], token=None), "token"), (request([report()], token="nope"), "token"),
                        (request([report(minutes_ago=31)]), "stale")]:
        with pytest.raises(CallbackRejected, match=reason):
            connector.handle_callback(bad)
    with pytest.raises(CallbackRejected, match="JSON array"):
        connector.handle_callback(CallbackRequest({}, {"token": PUSH_TOKEN}, b'{"a": 1}', utcnow()))
    unconfigured = AliyunSmsConnector(connector.instance, connector.config, None)
    with pytest.raises(CallbackRejected, match="push_token"):
        unconfigured.handle_callback(request([report()]))
