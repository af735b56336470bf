"""The `wecom_notify` connector against the WeCom emulator over loopback HTTP (wire format per wecom-wechat.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from lifeline_hub.core.api import (
    Action,
    Channel,
    DeliveryEvent,
    DeliveryStatus,
    FakeClock,
    InvalidRequest,
    Notification,
    PermissionDenied,
)

from lifeline_wecom_notify.emulator import WeComWorld
from lifeline_wecom_notify.plugin import WeComNotifyConnector
from lifeline_wecom_notify.settings import WeComSettings

DUE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def send(key: str = "ll-0001", recipients: tuple[str, ...] = ("hr01", "iv01"), text: str = "明天 10:00 面试",
         links: tuple[tuple[str, str], ...] = (("查看", "https://hire.example.com/iv/1"),)) -> Action:
    payload = {"recipients": list(recipients), "title": "面试提醒", "text": text, "purpose": "reminder_t1d",
               "audience": "staff", "interview_id": "ats/iv-1",
               "links": [{"label": label, "url": url} for label, url in links]}
    return Action(idempotency_key=key, tenant="test", connector="test.wecom_notify", kind="send_message",
                  payload=payload, due_at=DUE)


def notifications(records: Any) -> dict[str, Notification]:
    return {r.recipient: r for r in records if isinstance(r, Notification)}


def test_settings_refuse_unknown_keys_wrong_types_and_windows_beyond_four_hours(world: WeComWorld) -> None:
    good = {"corp_id": "ww1", "agent_id": 1000002}
    assert WeComSettings.model_validate(good).duplicate_check_interval == 14400
    for bad, field in (({"agentid": 1}, "agentid"), ({"agent_id": "app"}, "agent_id"),
                       ({"duplicate_check_interval": 20000}, "duplicate_check_interval")):
        with pytest.raises(ValidationError, match=field):
            WeComSettings.model_validate({**good, **bad})


def test_check_tells_a_good_secret_from_a_bad_one(make_connector: Callable[..., WeComNotifyConnector]) -> None:
    assert make_connector().check().ok
    bad = make_connector(secret="not-the-secret").check()
    assert not bad.ok and "errcode 40001" in bad.message and "not-the-secret" not in bad.message
    wrong_corp = make_connector(corp_id="wwsomeoneelse").check()
    assert not wrong_corp.ok and "errcode 40013" in wrong_corp.message


def test_a_textcard_goes_to_each_member_with_the_duplicate_check_on(connector: WeComNotifyConnector,
                                                                      world: WeComWorld) -> None:
    result = connector.perform(send())
    [message] = world.messages
    assert message["kind"] == "textcard" and message["to"] == ["hr01", "iv01"]
    assert message["content"] == {"title": "面试提醒", "description": "明天 10:00 面试",
                                  "url": "https://hire.example.com/iv/1"}
    assert result.remote_id == message["msgid"]
    notes = notifications(result.records)
    sent = (DeliveryStatus.sent, Channel("wecom_notify"), "staff")
    assert {m: (n.status, n.channel, n.audience.value) for m, n in notes.items()} == {"hr01": sent, "iv01": sent}


def test_a_message_without_links_is_text(connector: WeComNotifyConnector, world: WeComWorld) -> None:
    connector.perform(send(links=()))
    assert world.messages[0]["kind"] == "text"
    assert world.messages[0]["content"] == {"content": "面试提醒\n明天 10:00 面试"}


def test_the_same_row_performed_twice_reaches_each_member_once(connector: WeComNotifyConnector, world: WeComWorld,
                                                               clock: FakeClock) -> None:
    first = connector.perform(send())
    clock.advance(3 * 3600)  # an outbox retry hours later, inside the 4 h duplicate-check window
    again = connector.perform(send())
    assert sorted(world.deliveries()) == [("hr01", first.remote_id), ("iv01", first.remote_id)]
    assert again.remote_id == first.remote_id
    assert [n.remote_id for n in notifications(again.records).values()] == ["ll-0001/hr01", "ll-0001/iv01"]


def test_a_lost_answer_is_retried_without_a_second_message(connector: WeComNotifyConnector, world: WeComWorld) -> None:
    connector.check()  # the token first: the stall is for the send
    world.stall_next(1.5)  # sent, answered after the client's 0.5 s read timeout
    connector.perform(send(recipients=("hr01",)))
    assert len(world.deliveries()) == 1 and world.messages[0]["duplicates"] >= 1  # the repeat was dropped
    assert connector.client.stats.retries >= 1  # the stalled call was repeated, and made nothing twice


def test_userids_wecom_refuses_fail_alone_and_case_does_not_matter(connector: WeComNotifyConnector,
                                                                   world: WeComWorld) -> None:
    result = connector.perform(send(recipients=("HR01", "ghost")))
    assert world.deliveries() == [("hr01", result.remote_id)]
    notes = notifications(result.records)
    assert (notes["HR01"].status, notes["ghost"].status) == (DeliveryStatus.sent, DeliveryStatus.failed)
    [failed] = [r for r in result.records if isinstance(r, DeliveryEvent)]
    assert (failed.notification_id, failed.code) == ("test.wecom_notify/ll-0001/ghost", "invaliduser")


def test_nobody_valid_is_a_failed_send_not_an_error(connector: WeComNotifyConnector, world: WeComWorld) -> None:
    result = connector.perform(send(recipients=("ghost", "nobody")))
    assert world.messages == [] and "81013" in result.detail["error"]
    assert {n.status for n in notifications(result.records).values()} == {DeliveryStatus.failed}
    assert len([r for r in result.records if isinstance(r, DeliveryEvent)]) == 2


def test_expired_tokens_are_refreshed_once(connector: WeComNotifyConnector, world: WeComWorld) -> None:
    connector.check()
    world.fail_next(42001)
    connector.perform(send(recipients=("hr01",)))
    assert world.gettoken_calls == 2 and len(world.deliveries()) == 1


def test_the_frequency_limit_waits_out_its_minute_on_the_fake_clock(connector: WeComNotifyConnector, world: WeComWorld,
                                                                    clock: FakeClock) -> None:
    connector.check()
    world.fail_next(45009)
    connector.perform(send(recipients=("hr01",)))
    assert 60.0 in clock.sleeps and len(world.deliveries()) == 1


def test_members_are_paced_so_wecom_drops_nothing(make_connector: Callable[..., WeComNotifyConnector],
                                                 world: WeComWorld, clock: FakeClock) -> None:
    connector = make_connector(member_per_minute=20)
    for n in range(45):
        connector.perform(send(key=f"ll-{n:04d}", recipients=("hr01",), text=f"第 {n} 条"))
    assert len(world.deliveries()) == 45 and world.dropped == []
    assert sum(clock.sleeps) >= 120  # 45 messages at 20 a minute: two minutes of waiting, none of it real


def test_the_emulator_drops_what_goes_over_the_member_limit_silently(
        make_connector: Callable[..., WeComNotifyConnector], world: WeComWorld) -> None:
    """Why the pacing matters: at 30 a minute WeCom answers ok and the 31st never arrives."""
    world.settings.member_per_minute = 3
    connector = make_connector()  # paces at 20 a minute: more than this emulated corp allows
    results = [connector.perform(send(key=f"ll-{n}", recipients=("hr01",), text=f"第 {n} 条")) for n in range(4)]
    assert all(r.detail["msgid"] for r in results) and len(world.dropped) == 1


def test_content_over_the_byte_limit_is_refused_before_sending(connector: WeComNotifyConnector,
                                                               world: WeComWorld) -> None:
    with pytest.raises(InvalidRequest, match="description is 513 bytes"):
        connector.perform(send(text="面" * 171))
    assert world.messages == [] and world.api_calls() == 0


def test_an_app_without_permission_is_not_retried(connector: WeComNotifyConnector, world: WeComWorld) -> None:
    connector.check()
    world.fail_next(48002)
    with pytest.raises(PermissionDenied, match="48002"):
        connector.perform(send())
    assert world.messages == [] and connector.client.stats.retries == 0


def test_the_wecom_notify_channel_knows_no_delivery_and_no_reads() -> None:
    info = Channel("wecom_notify").info
    assert (info.delivery_known, info.read_known, info.click_known) == (False, False, True)
    assert info.label_for("zh-CN") == "企业微信应用消息"
