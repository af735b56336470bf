"""The canonical model: instants, contact points, records, keys."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from lifeline_hub.core.actions import SendMessage
from lifeline_hub.core.connector import Connector
from lifeline_hub.core.models import (
    AppointmentThread,
    Audience,
    Candidate,
    Channel,
    ChannelInfo,
    ContactPoint,
    Interview,
    InterviewKind,
    LinkEvent,
    LinkEventType,
    Notification,
    channel_info,
    channels,
    from_epoch,
    from_epoch_millis,
    from_epoch_seconds,
    idempotency_key,
    parse_instant,
    to_epoch_millis,
)

THREAD = AppointmentThread(thread_id="t1", ical_uid="t1@lifeline", sequence=0)


def interview(**kw: object) -> Interview:
    base: dict[str, object] = dict(source="acme.hire", remote_id="iv1", kind=InterviewKind.video,
                                   start_at="2026-03-01T10:00:00+08:00", end_at="2026-03-01T11:00:00+08:00",
                                   thread=THREAD)
    return Interview(**(base | kw))


def test_instants_are_normalised_to_utc() -> None:
    iv = interview()
    assert iv.start_at == datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    assert iv.start_at.tzinfo is UTC
    assert iv.id == "acme.hire/iv1"


def test_naive_datetime_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="naive datetime"):
        interview(start_at=datetime(2026, 3, 1, 10, 0))


def test_window_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="ends before it starts"):
        interview(end_at="2026-03-01T09:00:00+08:00")


def test_epoch_helpers() -> None:
    assert from_epoch_seconds(1767225600) == datetime(2026, 1, 1, tzinfo=UTC)
    assert from_epoch_millis("1767225600000") == datetime(2026, 1, 1, tzinfo=UTC)
    assert from_epoch(1767225600) == from_epoch(1767225600000)
    assert to_epoch_millis(datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))) == 1767225600000


def test_parse_instant_needs_an_offset_or_a_zone() -> None:
    assert parse_instant("2026-01-01T08:00:00Z") == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert parse_instant("2026-01-01 08:00:00", "Asia/Shanghai") == datetime(2026, 1, 1, 0, tzinfo=UTC)
    # DST: 2026-03-08 is the US spring-forward day; New York is UTC-4 after 02:00 local.
    assert parse_instant("2026-03-08 12:00:00", "America/New_York") == datetime(2026, 3, 8, 16, tzinfo=UTC)
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_instant("2026-01-01 08:00:00")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        parse_instant("2026-01-01 08:00:00", "Mars/Base")


@pytest.mark.parametrize("raw", ["13812341234", "138 1234 1234", "+86 138-1234-1234", "008613812341234"])
def test_phone_numbers_normalise_mask_and_hash_alike(raw: str) -> None:
    cp = ContactPoint.phone(raw)
    assert cp.value.get_secret_value() == "+8613812341234"
    assert cp.masked == "138****1234"
    assert cp.lookup == ContactPoint.phone("13812341234").lookup


def test_phone_look_up_hash_is_keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    default = ContactPoint.phone("13812341234").lookup
    monkeypatch.setenv("LIFELINE_HASH_KEY", "another-tenant-key")
    assert ContactPoint.phone("13812341234").lookup != default


@pytest.mark.parametrize("raw", ["12345", "1381234123", "not a number", "+86 100 0000 0000"])
def test_invalid_phone_numbers_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        ContactPoint.phone(raw)


def test_foreign_numbers_use_their_own_region() -> None:
    cp = ContactPoint.phone("+44 20 7946 0958")
    assert cp.value.get_secret_value() == "+442079460958"
    assert "7946" not in cp.masked


def test_contact_points_never_show_the_raw_value() -> None:
    phone = ContactPoint.phone("13812341234")
    mail = ContactPoint.email("Li.Lei@Example.COM")
    cand = Candidate(source="acme.hire", remote_id="c1", name="李雷", contacts=(phone, mail))
    for text in (str(phone), repr(phone), repr(cand), str(cand), cand.model_dump_json()):
        assert "13812341234" not in text
        assert "Li.Lei" not in text
    assert mail.value.get_secret_value() == "Li.Lei@example.com"
    assert mail.masked.endswith("@example.com") and "Li.Lei" not in mail.masked
    assert str(phone) == "sms:138****1234"


def test_records_are_strict() -> None:
    with pytest.raises(ValidationError, match="extra"):
        LinkEvent(source="s", remote_id="r", occurred_at="2026-01-01T00:00:00Z", type=LinkEventType.open,
                  surprise=1)
    with pytest.raises(ValidationError):
        LinkEvent(source="s", remote_id="", occurred_at="2026-01-01T00:00:00Z", type=LinkEventType.open)
    ev = LinkEvent(source="s", remote_id="r", occurred_at="2026-01-01T00:00:00Z", type="join_attempt")
    assert ev.machine_made is False and ev.type is LinkEventType.join_attempt


def test_idempotency_keys_are_deterministic() -> None:
    key = idempotency_key("acme.hire/iv1", 1, "create_task", 0)
    assert key == idempotency_key("acme.hire/iv1", 1, "create_task", 0)
    assert key != idempotency_key("acme.hire/iv1", 2, "create_task", 0)
    assert key != idempotency_key("acme.hire/iv1", 1, "create_task", 1)
    assert len(key) <= 64


def test_channels_parse_by_kind() -> None:
    assert ContactPoint.parse(Channel.email, "a@b.cn").channel is Channel.email
    assert ContactPoint.parse(Channel.dingtalk, "manager4220").masked == "manager4220"


def test_built_in_channels_keep_their_stored_names_and_declare_what_they_observe() -> None:
    assert [c.value for c in channels()][:7] == ["sms", "email", "voice", "dingtalk", "feishu", "wechat", "platform"]
    assert Channel("sms") is Channel.sms and Channel.sms == "sms" and f"{Channel.email}" == "email"
    assert copy.deepcopy(Channel.feishu) is Channel.feishu
    sms, email, feishu = Channel.sms.info, channel_info("email"), channel_info("feishu")
    assert sms.delivery_known and not sms.read_known  # an SMS status report says delivered, never read
    assert email is not None and not email.delivery_known and not email.read_known  # SMTP acceptance; opens
    assert feishu is not None and feishu.read_known
    assert channel_info("pigeon") is None
    note = Notification(source="acme.sms", remote_id="n1", occurred_at="2026-03-01T09:00:00+08:00",
                        purpose="invite", channel="sms", recipient="138****1234")
    assert note.channel is Channel.sms and note.model_dump(mode="json")["channel"] == "sms"


def test_a_plugin_channel_validates_once_its_connector_is_declared() -> None:
    def sent(channel: str) -> Notification:
        return Notification(source="acme.loft", remote_id="n1", occurred_at="2026-03-01T09:00:00+08:00",
                            purpose="invite", channel=channel, recipient="loft-7")

    with pytest.raises(ValidationError, match=r"'pigeon_post' is not a channel \(known: sms, email, .*`channels`"):
        sent("pigeon_post")
    post = ChannelInfo("pigeon_post", "pigeon post", "account", delivery_known=False, read_known=False,
                       click_known=False, labels=(("zh-CN", "飞鸽"),))

    class Loft(Connector):  # what loading a plugin does: its connector class is defined
        name = "loft"
        channels = (post,)

    note = sent("pigeon_post")
    assert note.channel is Channel("pigeon_post") and note.channel.info is post
    assert Notification.model_validate_json(note.model_dump_json()) == note
    assert ContactPoint.parse(note.channel, "loft-7").masked == "loft-7"  # an account: shown as is
    assert Candidate(source="acme.loft", remote_id="c1", name="x", preferred_channels=("pigeon_post",))
    assert post.label_for("zh-CN") == "飞鸽" and post.label_for("en") == "pigeon post"
    with pytest.raises(ValidationError, match="is not a channel"):
        sent("pigeon")

    class SameLoft(Loft):  # declaring the same channel again is harmless
        name = "same_loft"

    readable = ChannelInfo("pigeon_post", "pigeon post", "account", delivery_known=False, read_known=True,
                           click_known=False)
    with pytest.raises(ValueError, match="'pigeon_post' is already declared with other capabilities"):
        type("Liar", (Connector,), {"name": "liar", "channels": (readable,)})
    assert Channel("pigeon_post").info is post  # the first declaration stands
    with pytest.raises(ValueError, match="lower-case identifier"):
        ChannelInfo("WeCom", "WeCom", "account", delivery_known=True, read_known=True, click_known=True)
    with pytest.raises(ValueError, match="address must be one of"):
        ChannelInfo("fax", "fax", "fax", delivery_known=True, read_known=False, click_known=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="send_action must be one of"):
        ChannelInfo("fax", "fax", "phone", delivery_known=True, read_known=False, click_known=False,
                    send_action="send_fax")  # type: ignore[arg-type]


def test_what_sends_candidates_messages_on_a_channel() -> None:
    """The channel's declared action, else `send_message` to an IM account; never where no link can go."""
    assert [Channel(c).info.candidate_action for c in ("sms", "email", "voice", "dingtalk", "wechat")] == [
        "send_sms", "send_email", None, "send_message", "send_message"]
    whatsapp = ChannelInfo("pigeon_phone", "pigeon phone", "phone", delivery_known=True, read_known=True,
                           click_known=True, send_action="send_message")
    assert whatsapp.candidate_action == "send_message"
    assert ChannelInfo("pigeon_talk", "talk", "account", delivery_known=True, read_known=True,
                       click_known=False).candidate_action is None


def test_a_contact_change_shows_its_address_only_masked() -> None:
    from lifeline_hub.core.models import ContactChange

    gone = ContactChange(source="acme.mail", remote_id="b1", occurred_at="2026-03-01T09:00:00+08:00",
                         channel="email", address="Zhang.San@Example.org", reachable=False, reason="5.1.1 bounce")
    assert gone.contact is not None and gone.contact.lookup == ContactPoint.email("Zhang.San@Example.org").lookup
    assert "Zhang" not in repr(gone) and "Zhang" not in gone.model_dump_json()
    assert gone.model_dump(mode="json")["address"] == "Z***@example.org"
    odd = ContactChange(source="acme.sms", remote_id="b2", occurred_at="2026-03-01T09:00:00+08:00", channel="sms",
                        address="not a number", reachable=False)
    assert odd.contact is None  # kept, matches nothing
    with pytest.raises(ValidationError):
        ContactChange(source="acme.sms", remote_id="b3", occurred_at="2026-03-01T09:00:00+08:00", channel="sms",
                      address="", reachable=False)


def test_a_notification_says_whom_it_went_to() -> None:
    def sent(purpose: str, **kw: object) -> Notification:
        return Notification(source="acme.dt", remote_id="n1", occurred_at="2026-03-01T09:00:00+08:00",
                            purpose=purpose, channel="dingtalk", recipient="u1", **kw)

    assert sent("invite").audience is Audience.candidate  # an ATS invitation, an SMS reminder: the candidate's
    assert sent("hr_task").audience is Audience.staff
    assert sent("reminder_t1h", audience="staff").audience is Audience.staff  # an interviewer's reminder
    assert sent("reminder_t1h", audience=None).audience is Audience.candidate
    staff = sent("reminder_t1d", audience=Audience.staff)
    assert Notification.model_validate(staff.model_dump(mode="json")) == staff
    with pytest.raises(ValidationError):
        sent("invite", audience="interviewer")


def test_a_message_payload_says_whom_it_is_for() -> None:
    def message(**kw: object) -> SendMessage:
        return SendMessage.model_validate({"recipients": ["u1"], "title": "t", "text": "x", **kw})

    assert message(purpose="reminder_t1h", audience="candidate").recipient_audience is Audience.candidate
    assert message(purpose="reschedule_offer", audience="staff").recipient_audience is Audience.staff
    # payloads planned before `audience` existed: HR tasks and interviewers' reminders were staff's
    assert message().recipient_audience is Audience.staff
    assert message(purpose="reminder_t1d").recipient_audience is Audience.staff
    assert message(purpose="reissued_link").recipient_audience is Audience.candidate


@pytest.mark.parametrize("convert", [
    lambda: from_epoch_millis("1e30"), lambda: from_epoch_millis(-1e20), lambda: from_epoch_seconds("inf"),
    lambda: from_epoch_seconds("nan"), lambda: parse_instant("0001-01-01T00:00:00", "Asia/Shanghai"),
    lambda: parse_instant("9999-12-31T23:59:59", "America/Los_Angeles"),
])
def test_times_out_of_range_are_a_value_error(convert: Any) -> None:
    """Vendor numbers and page input at the ends of the calendar are bad input (quarantine, 4xx), not a crash."""
    with pytest.raises(ValueError, match=r"range|NaN"):
        convert()
