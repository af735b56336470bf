"""Every documented error code, answered by the emulator over HTTP and mapped by the connector."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from lifeline_hub.connectors.aliyun_sms.codes import BUSINESS, GATEWAY, ChannelPaused
from lifeline_hub.connectors.aliyun_sms.emulator import EmulatorSettings, SmsWorld, create_app
from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.http import (
    AuthFailed,
    InvalidRequest,
    PermissionDenied,
    RateLimited,
    TransientError,
    VendorError,
)
from lifeline_hub.core.models import DeliveryEvent, DeliveryStatus, DeliveryType, Notification
from lifeline_hub.core.store import Store
from tests.aliyun_sms.sms_helpers import calls, drive, make_connector, send_action

RAISED: dict[str, type[VendorError]] = {
    "channel": ChannelPaused, "permission": PermissionDenied, "request": InvalidRequest, "transient": TransientError,
}


@pytest.mark.parametrize("code", sorted(BUSINESS))
def test_every_business_code(connector: AliyunSmsConnector, world: SmsWorld, emulator: str, code: str) -> None:
    drive(emulator, "fail_next", code=code, action="SendSms")
    category = BUSINESS[code][0]
    if category == "recipient":  # final for this number: a failed delivery, the row completes
        result = connector.perform(send_action("ll-biz"))
        notification, event = result.records
        assert isinstance(notification, Notification) and notification.status == DeliveryStatus.failed
        assert isinstance(event, DeliveryEvent) and (event.type, event.code) == (DeliveryType.failed, code)
        assert event.notification_id == "acme.sms/ll-biz" and result.handoff == {}
    else:
        with pytest.raises(RAISED[category]) as caught:
            connector.perform(send_action("ll-biz"))
        assert caught.value.code == code and caught.value.http_status == 200
        assert caught.value.retryable == (category == "transient")
        assert caught.value.request_id
    assert calls(world, "SendSms") == 1, "a business refusal is never repeated by the client"
    assert world.messages == []
    assert calls(world, "QuerySendDetails") == (2 if category == "transient" else 0), "only isp.* looks up"


@pytest.mark.parametrize("code", sorted(GATEWAY))
def test_every_gateway_code(connector: AliyunSmsConnector, world: SmsWorld, code: str) -> None:
    world.fail_next(code, action="SendSms")
    status = GATEWAY[code][0]
    if code.startswith("Throttling") or code == "SignatureNonceUsed":  # refused unprocessed: retried at once
        result = connector.perform(send_action("ll-gw"))
        assert result.detail["biz_id"] and connector.client.stats.retries == 1
        assert len(world.messages) == 1
        if code.startswith("Throttling"):
            assert connector.client.stats.rate_limited == 1
        return
    if status >= 500:  # ambiguous for a send: looked up, not found, raised for dispatch to retry
        with pytest.raises(TransientError) as transient:
            connector.perform(send_action("ll-gw"))
        assert transient.value.http_status == status and transient.value.retryable
        assert calls(world, "QuerySendDetails") == 2  # today and yesterday
        assert world.messages == []
        return
    with pytest.raises(AuthFailed) as caught:
        connector.perform(send_action("ll-gw"))
    assert (caught.value.code, caught.value.http_status) == (code, status) and not caught.value.retryable


def test_throttling_waits_the_advertised_retry_after(connector: AliyunSmsConnector, world: SmsWorld) -> None:
    world.settings.retry_after_ms = 250
    world.fail_next("Throttling.User", action="QuerySendDetails")
    started = time.monotonic()
    assert list(connector.client.send_details("13812345678", time.strftime("%Y%m%d"))) == []
    assert time.monotonic() - started >= 0.25


def test_throttling_that_does_not_end_is_raised_as_rate_limited(connector: AliyunSmsConnector,
                                                                world: SmsWorld) -> None:
    world.fail_next("Throttling.User", times=10, action="SendSms")
    with pytest.raises(RateLimited) as caught:
        connector.perform(send_action("ll-busy"))
    assert caught.value.retryable and caught.value.retry_after == pytest.approx(0.01)
    assert world.messages == []


@pytest.mark.parametrize("code", ["MissingPhoneNumbers", "InvalidOutId"])
def test_request_shape_errors_are_invalid_requests(connector: AliyunSmsConnector, world: SmsWorld,
                                                   code: str) -> None:
    world.fail_next(code, action="SendSms")
    with pytest.raises(InvalidRequest) as caught:
        connector.perform(send_action("ll-shape"))
    assert (caught.value.code, caught.value.http_status, caught.value.retryable) == (code, 400, False)


@pytest.mark.parametrize(("window", "limits", "message"), [
    ("minute", {"minute": 1, "hour": 5, "day": 10}, "触发分钟级流控Permits:1"),
    ("hour", {"minute": None, "hour": 1, "day": 10}, "触发小时级流控Permits:1"),
    ("day", {"minute": None, "hour": None, "day": 1}, "触发天级流控Permits:1"),
])
def test_a_per_number_limit_is_a_failed_delivery_never_a_retry(connector: AliyunSmsConnector, world: SmsWorld,
                                                                window: str, limits: dict[str, int | None],
                                                                message: str) -> None:
    world.set_limits(**limits)
    assert connector.perform(send_action("ll-first")).detail["biz_id"]
    world.advance(61 if window != "minute" else 0)
    refused = connector.perform(send_action("ll-second"))
    notification, event = refused.records
    assert notification.status == DeliveryStatus.failed and notification.status_raw == "isv.BUSINESS_LIMIT_CONTROL"
    assert event.type == DeliveryType.failed and event.code == "isv.BUSINESS_LIMIT_CONTROL"
    assert message in refused.detail["error"]
    assert calls(world, "SendSms") == 2 and world.summary()["limit_refusals"] == 1
    assert len(world.messages) == 1
    # the limit is per signature + template + number: another template or number still goes out
    assert connector.perform(send_action("ll-other-template", template_code="SMS_900000002")).detail["biz_id"]
    assert connector.perform(send_action("ll-other-number", recipient="cand2")).detail["biz_id"]


def test_the_emulator_validates_templates_and_the_account(connector: AliyunSmsConnector, world: SmsWorld) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"params": {"name": "张三"}}, "isv.TEMPLATE_MISSING_PARAMETERS"),
        ({"params": {"name": "张三", "time": "https://evil.example.com"}}, "isv.PARAM_NOT_SUPPORT_URL"),
        ({"params": {"name": "张" * 40, "time": "10:00"}}, "isv.PARAM_LENGTH_LIMIT"),
        ({"template_code": "SMS_000000000"}, "isv.SMS_TEMPLATE_ILLEGAL"),
    ]
    for payload, code in cases:
        with pytest.raises(InvalidRequest) as caught:
            connector.perform(send_action(f"ll-{code}", **payload))
        assert caught.value.code == code
    world.set_balance(0)
    with pytest.raises(ChannelPaused) as paused:
        connector.perform(send_action("ll-broke"))
    assert paused.value.code == "isv.AMOUNT_NOT_ENOUGH"
    assert world.messages == []


def test_an_action_the_ram_user_may_not_call_is_permission_denied_until_granted(
        connector: AliyunSmsConnector, world: SmsWorld, emulator: str) -> None:
    """channels.md §1.7: `isp.RAM_PERMISSION_DENY` (HTTP 200) while the RAM policy lacks the action, on every call
    (not once, like `fail_next`); other actions still answer; nothing is sent."""
    drive(emulator, "deny_actions", actions=["SendSms"])
    for key in ("ll-ram-1", "ll-ram-2"):
        with pytest.raises(PermissionDenied) as caught:
            connector.perform(send_action(key))
        assert (caught.value.code, caught.value.http_status, caught.value.retryable) == (
            "isp.RAM_PERMISSION_DENY", 200, False)
        assert caught.value.scope == "AliyunDysmsFullAccess"
    assert connector.check().ok  # QuerySendDetails is still allowed
    drive(emulator, "deny_actions", actions=["*"])
    assert not connector.check().ok
    assert world.messages == []
    drive(emulator, "deny_actions", actions=[])
    assert connector.perform(send_action("ll-ram-3")).detail["biz_id"]


def test_an_unapproved_signature_is_refused(emulator: str, contacts: Store) -> None:
    connector = make_connector(emulator, contacts, sign_name="未报备签名")
    with pytest.raises(InvalidRequest) as caught:
        connector.perform(send_action("ll-sign"))
    assert caught.value.code == "isv.SMS_SIGNATURE_ILLEGAL"


def test_the_world_counts_api_calls_and_qps_breaches(contacts: Store) -> None:
    """`api_calls()`: every signed call, refused ones included; `quota_breaches()`: those over the per-API QPS."""
    world = SmsWorld(EmulatorSettings(push_background=False, qps_per_api=1, retry_after_ms=5), qps_clock=lambda: 0.0)
    with LoopbackServer(create_app(world=world)) as server:
        connector = make_connector(server.url, contacts)
        connector.client.backoff = 0.01
        connector.perform(send_action("ll-count-1"))
        with pytest.raises(VendorError):
            connector.perform(send_action("ll-count-2"))  # the frozen meter's second still holds the first send
    world.close()
    assert world.api_calls() == calls(world, "SendSms") + calls(world, "QuerySendDetails") > 1
    assert world.quota_breaches() == sum(world.quota.breaches.values()) >= 1


@pytest.mark.parametrize(("method", "path"), [("POST", "/no/such/path"), ("PUT", "/"), ("DELETE", "/")])
def test_an_unrouted_call_gets_the_gateway_error_envelope(emulator: str, method: str, path: str) -> None:
    """Not FastAPI's `{"detail": ...}`: the gateway's own 404 body, as for an unknown action."""
    answer = requests.request(method, emulator + path, timeout=5)
    body = answer.json()
    assert answer.status_code == 404 and body["Code"] == "InvalidAction.NotFound"
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert answer.headers["x-acs-request-id"] == body["RequestId"]


def test_a_form_body_that_is_not_utf8_is_a_400_not_a_500(emulator: str) -> None:
    answer = requests.post(emulator + "/", data=b"PhoneNumbers=\xff\xfe", timeout=5,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400 and answer.json()["Code"] == "InvalidParameter"
