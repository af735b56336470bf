"""Reminders on IM channels (a plugin's, reached by `send_message` to the candidate's account id), contact
changes that take a channel away, fallback from a queued-then-failed IM send, and interviewers on any declared
staff platform; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifeline_hub.core.config import Config, ConfigError, load
from lifeline_hub.core.models import (
    Action,
    Candidate,
    Channel,
    ContactChange,
    ContactPoint,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Notification,
    canonical_id,
)
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.reminders import plan_reminders
from lifeline_hub.core.store import Store
from tests.reminders import im_plugin
from tests.reminders.reminder_helpers import ATS, NOW, TENANT, host, interview, make_config, outbox, purpose, purposes

START = NOW + timedelta(days=5)
IM = im_plugin.IM.channel
ACCOUNT = "wmExternal-42"


def im_config(directory: Path, store: Store, *, blocks: str = "", **policy: Any) -> Config:
    """The reminder tests' tenant (SMS, e-mail, DingTalk) plus an `imtest` instance and `blocks`."""
    path = make_config(directory, store.url).path
    header = f"[tenants.{TENANT}.policy]\n"
    settings = "".join(f"{key} = {json.dumps(value)}\n" for key, value in policy.items())
    text = path.read_text(encoding="utf-8").replace(header, header + settings)
    path.write_text(text + f'[tenants.{TENANT}.connectors.im]\nplugin = "imtest"\n' + blocks, encoding="utf-8")
    return load(path, _host_with_im())


def _host_with_im() -> PluginHost:
    plugins = host()
    plugins.register(im_plugin, "im_plugin")
    return plugins


def im_candidate(store: Store, preferred: tuple[Channel, ...] = (IM,)) -> None:
    store.write(TENANT, [Candidate(source=ATS, remote_id="c1", name="张三", preferred_channels=preferred,
                                   contacts=(ContactPoint.im(IM, ACCOUNT), ContactPoint.phone("13812345678")))])


def change(at: datetime, reachable: bool, remote_id: str) -> ContactChange:
    return ContactChange(source=f"{TENANT}.im", remote_id=remote_id, occurred_at=at, channel=IM, address=ACCOUNT,
                         reachable=reachable, reason="" if reachable else "del_follow_user")


def test_a_candidate_preferring_an_im_channel_gets_reminders_there_by_send_message(store: Store,
                                                                                 tmp_path: Path) -> None:
    config = im_config(tmp_path, store)
    im_candidate(store)
    iv = interview(store, "iv1", START)
    plan_reminders(store, TENANT, NOW, config)
    planned = outbox(store, iv.id)
    assert purposes(planned) == [("reminder_t3d", "send_message"), ("confirm_request", "send_message"),
                                 ("urgent", "send_message")]
    first = planned[0]
    assert first.connector == f"{TENANT}.im"
    assert first.payload["recipients"] == [ACCOUNT] and first.payload["audience"] == "candidate"
    assert first.payload["interview_id"] == iv.id and "面试提醒" in first.payload["title"]
    assert [link["label"] for link in first.payload["links"]] == ["进入面试", "确认 / 改期"]
    assert "/j/" in first.payload["links"][0]["url"] and "/c/" in first.payload["links"][1]["url"]
    assert "张三" in first.payload["text"]


def test_an_im_channel_is_a_reminder_channel_of_the_policy(store: Store, tmp_path: Path) -> None:
    config = im_config(tmp_path, store, reminder_channels=["imtest", "sms"])
    im_candidate(store, preferred=())
    iv = interview(store, "iv1", START)
    plan_reminders(store, TENANT, NOW, config)
    assert {a.kind for a in outbox(store, iv.id)} == {"send_message"}


def test_an_im_reminder_channel_needs_its_own_connector(store: Store, tmp_path: Path) -> None:
    """DingTalk performs send_message too, but it does not reach the `imtest` channel."""
    with pytest.raises(ConfigError, match=r"reminder_channels: no enabled connector instance .* 'imtest'"):
        load(make_config(tmp_path, store.url, reminder_channels=["imtest", "sms"]).path, _host_with_im())


def test_a_removed_contact_stops_reminders_there_and_they_go_out_on_sms(store: Store, tmp_path: Path) -> None:
    config = im_config(tmp_path, store)
    im_candidate(store)
    iv = interview(store, "iv1", START)
    store.write(TENANT, [change(NOW - timedelta(hours=1), False, "del-1")])
    plan_reminders(store, TENANT, NOW, config)
    assert {a.kind for a in outbox(store, iv.id)} == {"send_sms"}  # no reminder lost

    store.write(TENANT, [change(NOW + timedelta(minutes=5), True, "add-1")])  # added back
    iv2 = interview(store, "iv2", START + timedelta(days=1))
    plan_reminders(store, TENANT, NOW + timedelta(minutes=10), config)
    assert {a.kind for a in outbox(store, iv2.id)} == {"send_message"}


def _im_sent(store: Store, action: Action, at: datetime, receipt: DeliveryType | None) -> None:
    """What the IM connector leaves behind: a staged send is `queued` (awaiting the recruiter), then a receipt."""
    from tests.reminders.test_reminders_fallback import sent

    sent(store, action, at, DeliveryStatus.queued)  # its Notification is replaced below with the IM channel's
    records: list[Notification | DeliveryEvent] = [Notification(
        source=action.connector, remote_id=action.idempotency_key, interview_id=action.interview_id, occurred_at=at,
        purpose=purpose(action), channel=IM, recipient=ACCOUNT, status=DeliveryStatus.queued,
        idempotency_key=action.idempotency_key)]
    if receipt is not None:
        records.append(DeliveryEvent(
            source=action.connector, remote_id=f"{action.idempotency_key}/{receipt.value}",
            interview_id=action.interview_id, occurred_at=at + timedelta(minutes=3), type=receipt, channel=IM,
            notification_id=canonical_id(action.connector, action.idempotency_key), code="2"))
    store.write(TENANT, records)


def test_a_queued_im_send_that_fails_falls_back_to_sms(store: Store, tmp_path: Path) -> None:
    config = im_config(tmp_path, store, reminder_fallback_minutes=30)
    im_candidate(store)
    iv = interview(store, "iv1", START)
    plan_reminders(store, TENANT, NOW, config)
    t3d = outbox(store, iv.id)[0]
    _im_sent(store, t3d, t3d.due_at, DeliveryType.failed)
    summary = plan_reminders(store, TENANT, t3d.due_at + timedelta(minutes=5), config)
    assert summary.fallbacks == 3
    assert purposes(outbox(store, iv.id, "planned")) == [("reminder_t3d", "send_sms"), ("confirm_request", "send_sms"),
                                                         ("urgent", "send_sms")]


def test_a_queued_im_send_is_not_delivered_and_waits_for_its_verdict(store: Store, tmp_path: Path) -> None:
    """A staged send may still be released (the recruiter taps send hours later): falling back on time alone
    would reach the candidate twice. Only the connector's verdict (withdrawn: failed) moves the reminder on."""
    config = im_config(tmp_path, store, reminder_fallback_minutes=30)
    im_candidate(store)
    iv = interview(store, "iv1", START)
    plan_reminders(store, TENANT, NOW, config)
    t3d = outbox(store, iv.id)[0]
    _im_sent(store, t3d, t3d.due_at, None)
    assert plan_reminders(store, TENANT, t3d.due_at + timedelta(minutes=31), config).fallbacks == 0
    assert plan_reminders(store, TENANT, t3d.due_at + timedelta(hours=6), config).fallbacks == 0
    planned = outbox(store, iv.id, "planned")
    assert ("reminder_t3d", "send_sms") not in purposes(planned)
    assert ("urgent", "send_message") in purposes(planned)  # nothing reached the candidate: T-1h stays urgent
    _im_sent(store, t3d, t3d.due_at, DeliveryType.failed)  # withdrawn when the recruiter's window closed
    assert plan_reminders(store, TENANT, t3d.due_at + timedelta(hours=6, minutes=5), config).fallbacks >= 1
    assert ("reminder_t3d", "send_sms") in purposes(outbox(store, iv.id, "planned"))


STAFFCHAT = f'[tenants.{TENANT}.connectors.chat]\nplugin = "staffchat"\n'
NO_DINGTALK = (f'[tenants.{TENANT}.connectors.dt]\nplugin = "dingtalk"',
               f'[tenants.{TENANT}.connectors.dt]\nenabled = false\nplugin = "dingtalk"')


def staff_reminders(store: Store, config: Config, name: str) -> list[tuple[str, list[str]]]:
    iv = interview(store, name, START, interviewers=("userid-7",))
    plan_reminders(store, TENANT, NOW, config)
    return [(a.connector, a.payload["recipients"]) for a in outbox(store, iv.id)
            if a.payload.get("audience") == "staff"]


def test_interviewers_are_reminded_on_a_declared_staff_platform_never_a_candidate_one(store: Store,
                                                                                      tmp_path: Path) -> None:
    """`staffchat` declares it reaches staff (it has no task action); `imtest` sends messages to candidates
    only and is never used for them."""
    path = im_config(tmp_path, store, blocks=STAFFCHAT).path
    path.write_text(path.read_text(encoding="utf-8").replace(*NO_DINGTALK), encoding="utf-8")
    im_candidate(store)
    assert staff_reminders(store, load(path, _host_with_im()), "iv1") == [(f"{TENANT}.chat", ["userid-7"])] * 2
    path.write_text(path.read_text(encoding="utf-8").replace(STAFFCHAT, ""), encoding="utf-8")
    assert staff_reminders(store, load(path, _host_with_im()), "iv2") == []


def test_a_contact_removed_after_planning_moves_the_pending_reminders_to_the_next_channel(store: Store,
                                                                                         tmp_path: Path) -> None:
    config = im_config(tmp_path, store)
    im_candidate(store)
    iv = interview(store, "iv1", START)
    plan_reminders(store, TENANT, NOW, config)
    assert {a.kind for a in outbox(store, iv.id, "planned")} == {"send_message"}
    store.write(TENANT, [change(NOW + timedelta(minutes=5), False, "del-1")])
    summary = plan_reminders(store, TENANT, NOW + timedelta(minutes=10), config)
    assert summary.cancelled == 3
    assert purposes(outbox(store, iv.id, "planned")) == [("reminder_t3d", "send_sms"), ("confirm_request", "send_sms"),
                                                         ("urgent", "send_sms")]
    assert plan_reminders(store, TENANT, NOW + timedelta(minutes=20), config).planned == 0


def test_with_the_wecom_plugin_candidates_get_customer_contact_reminders_and_interviewers_app_messages(
        store: Store, tmp_path: Path) -> None:
    """The real `wecom` connector class: the `wecom` channel is a reminder channel, and the instance is the
    interviewers' staff platform (DingTalk switched off)."""
    from lifeline_hub.connectors.wecom import plugin as wecom_plugin

    path = make_config(tmp_path, store.url).path
    text = path.read_text(encoding="utf-8").replace(*NO_DINGTALK)
    path.write_text(text + f'[tenants.{TENANT}.connectors.wecom]\nplugin = "wecom"\nconnection_id = "ll_wecom"\n'
                    'corp_id = "ww0123456789abcdef"\nagent_id = 1000003\n', encoding="utf-8")
    plugins = host()
    plugins.register(wecom_plugin, "wecom")
    config = load(path, plugins)
    wecom = Channel("wecom")
    store.write(TENANT, [Candidate(source=ATS, remote_id="c1", name="张三", preferred_channels=(wecom,),
                                   contacts=(ContactPoint.im(wecom, "wmExt-1"), ContactPoint.phone("13812345678")))])
    iv = interview(store, "iv1", START, interviewers=("zhangwei",))
    plan_reminders(store, TENANT, NOW, config)
    planned = outbox(store, iv.id)
    assert {(a.connector, a.kind, tuple(a.payload["recipients"]), a.payload["audience"]) for a in planned} == {
        (f"{TENANT}.wecom", "send_message", ("wmExt-1",), "candidate"),
        (f"{TENANT}.wecom", "send_message", ("zhangwei",), "staff")}
