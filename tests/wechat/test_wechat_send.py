"""`send_message` to candidates over loopback against the emulator: template and subscription messages, the
idempotency key as `client_msg_id`, msgids above 2^53, and the refusals that end a message for good."""

from __future__ import annotations

import pytest

from lifeline_hub.connectors.wecom.oa_plugin import WeChatConnector
from lifeline_hub.connectors.wecom.oa_state import BIG_IDS, OaWorld
from lifeline_hub.core.http import InvalidRequest, PermissionDenied
from lifeline_hub.core.models import ContactChange, DeliveryEvent, DeliveryStatus, Notification
from lifeline_hub.core.store import Store
from tests.wechat.oa_helpers import FOLLOWER1, FOLLOWER2, STRANGER, SUBSCRIBE_TEMPLATES, make_connector, send_action


def kinds(records: tuple[object, ...]) -> list[str]:
    return [type(r).__name__ for r in records]


def test_a_template_message_is_sent_with_the_key_and_recorded_as_sent(connector: WeChatConnector,
                                                                      world: OaWorld) -> None:
    result = connector.perform(send_action("ll-t1"))
    (message,) = world.message_list()
    assert message["client_msg_id"] == "ll-t1" and message["openid"] == FOLLOWER1
    assert message["template_id"] == "TPL-interview-reminder" and message["link"] == "https://lifeline.test/j/abc"
    assert message["data"] == {"thing1": {"value": "Java 工程师面试"}, "time2": {"value": "2026年3月3日 10:00"},
                               "thing3": {"value": "线上面试"}}
    (note,) = result.records
    assert isinstance(note, Notification)
    assert (note.remote_id, note.status, note.status_raw) == (message["msgid"], DeliveryStatus.sent, "accepted")
    assert note.recipient == FOLLOWER1 and note.idempotency_key == "ll-t1" and note.interview_id == "acme.ats/iv1"


def test_a_msgid_above_2_53_is_kept_exact(connector: WeChatConnector, world: OaWorld) -> None:
    connector.perform(send_action("ll-m1"))
    result = connector.perform(send_action("ll-m2"))
    big = str(BIG_IDS + 2)
    assert int(big) > 2**53 and str(int(float(big))) != big  # a float would have changed it
    assert result.remote_id == big == world.message_list()[1]["msgid"]
    assert result.records[0].remote_id == big


def test_a_retried_row_is_one_message(connector: WeChatConnector, world: OaWorld, emulator: str,
                                      contacts: Store) -> None:
    first = connector.perform(send_action("ll-r1"))
    again = make_connector(emulator, contacts).perform(send_action("ll-r1", attempts=2))
    assert len(world.message_list()) == 1 and again.remote_id == first.remote_id


def test_several_candidates_get_one_message_each_with_their_own_key(connector: WeChatConnector,
                                                                    world: OaWorld) -> None:
    connector.perform(send_action("ll-s1", FOLLOWER1, FOLLOWER2, FOLLOWER1))
    assert [m["client_msg_id"] for m in world.message_list()] == ["ll-s1", "ll-s1-1"]


def test_long_values_are_cut_to_the_keyword_limit(connector: WeChatConnector, world: OaWorld) -> None:
    connector.perform(send_action("ll-long", title="一" * 30))
    value = world.message_list()[0]["data"]["thing1"]["value"]
    assert len(value) == 20 and value.endswith("…")


def test_a_candidate_not_following_fails_for_good_and_is_unreachable(connector: WeChatConnector,
                                                                     world: OaWorld) -> None:
    result = connector.perform(send_action("ll-nf", STRANGER))
    assert world.message_list() == [] and world.quota.calls["template.send"] == 1  # refused, not retried
    note, event, change = result.records
    assert isinstance(note, Notification) and note.status == DeliveryStatus.failed and note.remote_id == "ll-nf"
    assert isinstance(event, DeliveryEvent) and (event.code, event.notification_id) == ("43004", "acme.wechat/ll-nf")
    assert isinstance(change, ContactChange) and not change.reachable and change.address == STRANGER


def test_the_daily_quota_fails_the_message_without_retrying(connector: WeChatConnector, world: OaWorld) -> None:
    world.fail_next(45009, api="template.send")
    result = connector.perform(send_action("ll-q"))
    assert kinds(result.records) == ["Notification", "DeliveryEvent"]
    assert result.records[1].code == "45009" and world.quota.calls["template.send"] == 1  # type: ignore[attr-defined]


def test_a_withdrawn_permission_is_permission_denied(connector: WeChatConnector, world: OaWorld) -> None:
    world.deny_apis(["template.send"])
    with pytest.raises(PermissionDenied):
        connector.perform(send_action("ll-p"))


def test_staff_and_unconfigured_purposes_are_refused(connector: WeChatConnector, world: OaWorld) -> None:
    with pytest.raises(InvalidRequest, match="candidates only"):
        connector.perform(send_action("ll-x1", audience="staff"))
    with pytest.raises(InvalidRequest, match="no template template configured for purpose 'invite'"):
        connector.perform(send_action("ll-x2", purpose="invite"))
    assert world.message_list() == []


def test_subscription_messages_spend_credits_and_43101_switches_channel(emulator: str, contacts: Store,
                                                                        world: OaWorld) -> None:
    connector = make_connector(emulator, contacts, mode="subscribe", templates=SUBSCRIBE_TEMPLATES)
    world.grant_credits(FOLLOWER1, "SUB-interview-reminder", 1)
    sent = connector.perform(send_action("ll-b1"))
    assert sent.remote_id == world.message_list()[0]["msgid"] and world.message_list()[0]["kind"] == "subscribe"
    refused = connector.perform(send_action("ll-b2"))
    assert kinds(refused.records) == ["Notification", "DeliveryEvent"]  # the channel stays usable: no ContactChange
    assert refused.records[1].code == "43101" and world.quota.calls["subscribe.bizsend"] == 2  # type: ignore[attr-defined]


def test_a_subscription_message_maybe_sent_before_is_not_sent_again(emulator: str, contacts: Store,
                                                                   world: OaWorld) -> None:
    connector = make_connector(emulator, contacts, mode="subscribe", templates=SUBSCRIBE_TEMPLATES)
    world.grant_credits(FOLLOWER1, "SUB-interview-reminder", 2)
    result = connector.perform(send_action("ll-b3", attempts=2))
    assert world.quota.calls["subscribe.bizsend"] == 0 and world.settings.credits[FOLLOWER1] == {
        "SUB-interview-reminder": 2}
    note, event = result.records
    assert isinstance(note, Notification) and note.status == DeliveryStatus.failed
    assert isinstance(event, DeliveryEvent) and event.code == "unconfirmed"
