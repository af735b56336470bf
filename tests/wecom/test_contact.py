"""Candidates on WeChat through WeCom customer contact: staged sends, their results and contact events, over
loopback against the WeCom emulator, landing in a real store (SQLite file and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lifeline_hub.connectors.wecom import contact
from lifeline_hub.connectors.wecom.emulator import create_app
from lifeline_hub.connectors.wecom.emulator_contact import ContactState
from lifeline_hub.connectors.wecom.emulator_state import EmulatorSettings, WeComWorld
from lifeline_hub.connectors.wecom.plugin import WeComConnector
from lifeline_hub.connectors.wecom.settings import WeComSettings
from lifeline_hub.core.config import ConnectorSetup, InstanceConfig
from lifeline_hub.core.conformance.clock import SuiteClock
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.connector import ActionResult, Instance
from lifeline_hub.core.emulator import Faults, LoopbackServer
from lifeline_hub.core.http import InvalidRequest, TransientError
from lifeline_hub.core.models import Action, Candidate, Channel, ContactPoint, utcnow
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import evidence
from lifeline_hub.core.sync import sync_stream
from tests.receiver.receiver_helpers import instance_table, load_config, plugin_host, running_receiver

TENANT, SENDER = "acme", "hr01"
SOURCE = f"{TENANT}.wecom"
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ZHANG, LI = "wmZhangSan0000000001", "wmLiSi00000000000002"
LINK = "https://lifeline.example/j/tok-123"


@pytest.fixture
def clock() -> Iterator[SuiteClock]:
    fake = SuiteClock(START)
    with fake.running():
        yield fake


@pytest.fixture
def world(clock: SuiteClock) -> Iterator[WeComWorld]:
    w = WeComWorld(EmulatorSettings(deliver_in_background=False), now=clock.time)
    yield w
    w.close()


@pytest.fixture
def url(world: WeComWorld) -> Iterator[str]:
    app = create_app(world=world)
    assert isinstance(world.contact, ContactState)
    with LoopbackServer(app) as server:
        yield server.url


def connector(world: WeComWorld, url: str, **settings: Any) -> WeComConnector:
    s = world.settings
    options = WeComSettings(corp_id=s.corp_id, agent_id=next(iter(s.apps)), contact_sender=SENDER,
                            http_timeout_seconds=0.5, **settings)
    credentials = Credentials("wecom_acme", password=next(iter(s.apps.values())),
                              extra={"contact_secret": s.contact_secret})
    return WeComConnector(Instance(TENANT, SOURCE, base_urls={"api": url}), options, credentials)


@pytest.fixture
def conn(world: WeComWorld, url: str) -> WeComConnector:
    world.contact.add_contact(SENDER, ZHANG)
    world.contact.add_contact(SENDER, LI)
    return connector(world, url)


def send(key: str, *recipients: str, text: str = "您的面试将于明天 10:00 开始。") -> Action:
    now = utcnow()
    return Action(idempotency_key=key, tenant=TENANT, connector=SOURCE, kind="send_message", due_at=now,
                  handed_at=now, attempts=1, payload={
                      "recipients": list(recipients), "title": "面试提醒", "text": text, "purpose": "reminder_t1d",
                      "audience": "candidate", "interview_id": "acme.ats/iv-1",
                      "links": [{"label": "进入面试", "url": LINK}]})


def dispatched(store: Store, result: ActionResult) -> None:
    """What dispatch does with an action's result: store its records, queue its handoff for the stream."""
    with store.begin() as db:
        store.write(TENANT, result.records, db)
        store.add_handoff(db, SOURCE, result.handoff)


def sync(store: Store, conn: WeComConnector) -> Any:
    setup = ConnectorSetup(TENANT, "wecom", InstanceConfig(plugin="wecom"), WeComConnector, conn.options,
                           conn.instance)
    summary = sync_stream(store, setup, contact.STREAM, connector=conn)
    assert summary.error is None
    return summary


def rows(store: Store, kind: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as db:
        return [tuple(r) for r in db.execute(
            sa.select(evidence.c.remote_id, evidence.c.type, evidence.c.code).where(evidence.c.kind == kind)
            .order_by(evidence.c.remote_id)).all()]


def notification_status(store: Store) -> dict[str, str]:
    return {remote.rsplit(":", 1)[1]: code for remote, _, code in rows(store, "notification")}


def test_staged_send_is_delivered_once_the_recruiter_confirms(world: WeComWorld, conn: WeComConnector,
                                                              store: Store, clock: SuiteClock) -> None:
    result = conn.perform(send("ll-1", ZHANG))
    msgid = result.remote_id
    message = world.contact.messages[msgid]
    assert message.sender == SENDER and message.tasks == {SENDER: {"status": 0, "send_time": 0}}
    assert message.attachments == [{"msgtype": "link", "link": {"title": "进入面试", "url": LINK}}]
    assert message.text["content"].startswith("面试提醒\n\n")
    dispatched(store, result)
    assert notification_status(store) == {ZHANG: "queued"}
    sync(store, conn)
    assert rows(store, "delivery_event") == [] and notification_status(store) == {ZHANG: "queued"}

    clock.advance(600)
    world.contact.confirm(msgid, SENDER)
    sync(store, conn)
    assert rows(store, "delivery_event") == [(f"{msgid}:{ZHANG}:delivered", "delivered", None)]
    assert notification_status(store) == {ZHANG: "delivered"}
    with store.engine.connect() as db:
        at = db.execute(sa.select(evidence.c.occurred_at).where(evidence.c.kind == "delivery_event")).scalar_one()
    assert at.replace(tzinfo=UTC) == datetime.fromtimestamp(clock.time(), UTC).replace(microsecond=0)
    assert store.stream_state(SOURCE, contact.STREAM).cursor["pending"] == {}
    assert world.contact.deliveries() == [(ZHANG, msgid)]


def test_the_recruiter_is_nudged_once_then_an_unconfirmed_send_is_withdrawn_and_fails(
        world: WeComWorld, conn: WeComConnector, store: Store, clock: SuiteClock) -> None:
    result = conn.perform(send("ll-2", ZHANG))
    message = world.contact.messages[result.remote_id]
    dispatched(store, result)
    clock.advance(conn.options.contact_confirm_hours * 1800 + 60)
    sync(store, conn)
    sync(store, conn)
    assert len(message.reminders) == 1 and message.cancelled_at is None  # nudged halfway, once
    clock.advance(conn.options.contact_confirm_hours * 1800 - 120)
    sync(store, conn)
    assert notification_status(store) == {ZHANG: "queued"}
    clock.advance(120)
    sync(store, conn)
    assert message.cancelled_at is not None  # withdrawn: the recruiter can no longer send it
    assert rows(store, "delivery_event") == [(f"{result.remote_id}:{ZHANG}:failed", "failed", "unconfirmed")]
    assert notification_status(store) == {ZHANG: "failed"}
    assert store.stream_state(SOURCE, contact.STREAM).cursor["pending"] == {}

    clock.advance(3600)  # the fallback went out on another channel: a late tap reaches nobody
    assert world.contact.confirm(result.remote_id, SENDER) == 0
    assert world.contact.deliveries() == []


def test_a_send_confirmed_just_before_the_window_closes_is_delivered(
        world: WeComWorld, conn: WeComConnector, store: Store, clock: SuiteClock) -> None:
    result = conn.perform(send("ll-2b", ZHANG))
    dispatched(store, result)
    clock.advance(conn.options.contact_confirm_hours * 3600 - 30)
    world.contact.confirm(result.remote_id, SENDER)
    clock.advance(60)
    sync(store, conn)
    assert notification_status(store) == {ZHANG: "delivered"}
    assert world.contact.messages[result.remote_id].cancelled_at is None


def test_not_confirmed_within_the_poll_window_is_dropped(world: WeComWorld, conn: WeComConnector, store: Store,
                                                         clock: SuiteClock) -> None:
    dispatched(store, conn.perform(send("ll-3", ZHANG)))
    clock.advance(conn.options.contact_poll_hours * 3600 + 1)
    sync(store, conn)
    assert notification_status(store) == {ZHANG: "failed"}
    assert store.stream_state(SOURCE, contact.STREAM).cursor["pending"] == {}


def test_fail_list_is_a_failed_notification_and_an_unreachable_contact(world: WeComWorld, conn: WeComConnector,
                                                                      store: Store) -> None:
    stranger = "wmStranger0000000003"
    store.write(TENANT, [Candidate(source="acme.ats", remote_id="c-9", name="王五",
                                   contacts=(ContactPoint.im(Channel("wecom"), stranger),))])
    result = conn.perform(send("ll-4", ZHANG, stranger))
    assert world.contact.messages[result.remote_id].fail_list == [stranger]
    dispatched(store, result)
    assert notification_status(store) == {ZHANG: "queued", stranger: "failed"}
    assert rows(store, "delivery_event") == [(f"{result.remote_id}:{stranger}:failed", "failed", "fail_list")]
    assert store.contact("acme.ats/c-9", Channel("wecom")) is None
    assert result.handoff[contact.STREAM]["staged"][0]["users"] == [ZHANG]


def test_monthly_cap_is_a_failed_delivery(world: WeComWorld, conn: WeComConnector, store: Store,
                                          clock: SuiteClock) -> None:
    world.contact.set_monthly_cap(1)
    first = conn.perform(send("ll-5", ZHANG, text="第一条"))
    second = conn.perform(send("ll-6", ZHANG, text="第二条"))
    for result in (first, second):
        dispatched(store, result)
        world.contact.confirm(result.remote_id, SENDER)
    sync(store, conn)
    assert rows(store, "delivery_event") == sorted([
        (f"{first.remote_id}:{ZHANG}:delivered", "delivered", None),
        (f"{second.remote_id}:{ZHANG}:failed", "failed", "3")])


def test_lost_response_and_retry_make_one_task(world: WeComWorld, url: str, conn: WeComConnector,
                                               store: Store) -> None:
    action = send("ll-7", ZHANG, LI)
    conn.check()
    world.configure_faults(Faults(timeout=1.0, timeout_seconds=1.0))  # WeCom acts; every answer comes too late
    with pytest.raises(TransientError):
        conn.perform(action)
    world.configure_faults(Faults())
    assert len(world.contact.messages) == 1
    again = action.model_copy(update={"attempts": 2, "maybe_sent": True})
    result = connector(world, url).perform(again)
    assert len(world.contact.messages) == 1 and result.remote_id in world.contact.messages
    assert result.handoff[contact.STREAM]["staged"][0]["users"] == [ZHANG, LI]
    dispatched(store, result)
    assert notification_status(store) == {ZHANG: "queued", LI: "queued"}


def test_an_answer_lost_once_is_recovered_by_the_look_up(world: WeComWorld, conn: WeComConnector) -> None:
    conn.check()
    world.stall_next(1.0)  # only add_msg_template's answer is lost; the look-up right after it finds the message
    result = conn.perform(send("ll-11", ZHANG))
    assert list(world.contact.messages) == [result.remote_id]


def test_a_look_up_adopts_no_other_message(world: WeComWorld, conn: WeComConnector) -> None:
    """Same text to another candidate, or other text to the same one, is a message of its own."""
    conn.perform(send("ll-8", LI))
    conn.perform(send("ll-9", ZHANG, text="另一条"))
    retried = send("ll-10", ZHANG).model_copy(update={"maybe_sent": True})
    result = conn.perform(retried)
    assert len(world.contact.messages) == 3 and result.remote_id in world.contact.messages


def test_a_deleted_contact_becomes_unreachable(world: WeComWorld, conn: WeComConnector, store: Store) -> None:
    store.write(TENANT, [Candidate(source="acme.ats", remote_id="c-1", name="张三",
                                   contacts=(ContactPoint.im(Channel("wecom"), ZHANG),))])
    world.contact.delete_contact(SENDER, ZHANG)
    event = world.pushes[-1].event
    assert event["ChangeType"] == "del_follow_user"
    records = contact.contact_event(conn, event)
    assert [(r.reachable, r.reason) for r in records] == [(False, "del_follow_user")]  # type: ignore[attr-defined]
    store.write(TENANT, records)
    assert store.contact("acme.ats/c-1", Channel("wecom")) is None
    other = {**event, "UserID": "hr02"}
    assert contact.contact_event(conn, other) == ()  # not the contact sender: nothing changes


def test_welcome_is_sent_once_and_the_add_binds_the_candidate(world: WeComWorld, conn: WeComConnector,
                                                              store: Store) -> None:
    new = "wmWangWu000000000004"
    world.contact.add_contact(SENDER, new, state="acme.ats/c-2")
    event = world.pushes[-1].event
    assert event["WelcomeCode"]
    records = contact.contact_event(conn, event)
    assert contact.contact_event(conn, event) == records  # a retried callback: 41051, no second greeting
    welcomes = [w for w in world.contact.welcomes.values() if w.used_at is not None]
    assert [(w.external_userid, w.text) for w in welcomes] == [(new, conn.options.contact_welcome_text)]
    assert [(r.reachable, r.candidate_id) for r in records] == [(True, "acme.ats/c-2")]  # type: ignore[attr-defined]
    store.write(TENANT, records)


def test_a_stale_welcome_code_is_refused(world: WeComWorld, conn: WeComConnector, clock: SuiteClock) -> None:
    world.contact.add_contact(SENDER, "wmLate00000000000005")
    event = world.pushes[-1].event
    clock.advance(21)
    contact.contact_event(conn, event)
    assert not any(w.used_at for w in world.contact.welcomes.values() if w.external_userid.startswith("wmLate"))


def test_a_contact_deleted_before_the_confirmation_fails_and_is_unreachable(world: WeComWorld,
                                                                           conn: WeComConnector,
                                                                           store: Store) -> None:
    result = conn.perform(send("ll-12", ZHANG, LI))
    dispatched(store, result)
    world.contact.delete_contact(SENDER, LI)
    world.contact.confirm(result.remote_id, SENDER)
    sync(store, conn)
    assert notification_status(store) == {ZHANG: "delivered", LI: "failed"}
    assert rows(store, "delivery_event") == sorted([(f"{result.remote_id}:{ZHANG}:delivered", "delivered", None),
                                                    (f"{result.remote_id}:{LI}:failed", "failed", "2")])
    assert [t for _, t, _ in rows(store, "contact_change")] == ["unreachable"]


def test_results_still_dispatching_are_asked_again(world: WeComWorld, conn: WeComConnector, store: Store,
                                                   clock: SuiteClock) -> None:
    result = conn.perform(send("ll-13", ZHANG))
    dispatched(store, result)
    world.contact.dispatch_seconds = 60
    world.contact.confirm(result.remote_id, SENDER)
    sync(store, conn)  # 41063: no result yet, no error
    assert notification_status(store) == {ZHANG: "queued"}
    clock.advance(61)
    sync(store, conn)
    assert notification_status(store) == {ZHANG: "delivered"}


def test_a_garbled_result_is_quarantined_and_polled_again(world: WeComWorld, conn: WeComConnector,
                                                          store: Store) -> None:
    result = conn.perform(send("ll-14", ZHANG))
    dispatched(store, result)
    world.contact.confirm(result.remote_id, SENDER)
    world.configure_faults(Faults(malformed=1.0))
    assert sync(store, conn).written.quarantined == 1
    assert notification_status(store) == {ZHANG: "queued"}
    world.configure_faults(Faults(duplicate=1.0))  # a row listed twice counts once
    sync(store, conn)
    assert rows(store, "delivery_event") == [(f"{result.remote_id}:{ZHANG}:delivered", "delivered", None)]


def test_a_failed_poll_keeps_the_message_pending_and_the_watermark(world: WeComWorld, conn: WeComConnector,
                                                                   store: Store) -> None:
    result = conn.perform(send("ll-15", ZHANG))
    dispatched(store, result)
    first = sync(store, conn)
    world.configure_faults(Faults(server_error=1.0))
    setup = ConnectorSetup(TENANT, "wecom", InstanceConfig(plugin="wecom"), WeComConnector, conn.options,
                           conn.instance)
    with pytest.raises(TransientError):
        sync_stream(store, setup, contact.STREAM, connector=conn)
    state = store.stream_state(SOURCE, contact.STREAM)
    assert result.remote_id in state.cursor["pending"] and state.watermark == first.watermark


def test_bad_recipients_and_a_missing_sender_are_refused(world: WeComWorld, url: str, conn: WeComConnector) -> None:
    with pytest.raises(InvalidRequest) as refused:
        conn.perform(send("ll-16", "13800138000"))
    assert refused.value.code == 40096 and world.contact.messages == {}
    with pytest.raises(InvalidRequest, match="contact_sender"):
        WeComConnector(conn.instance, conn.options.model_copy(update={"contact_sender": None}),
                       conn.credentials).perform(send("ll-17", ZHANG))


def test_a_candidate_adding_the_recruiter_is_greeted_once_through_the_receiver(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the emulator pushes `add_external_contact` (encrypted, twice: the duplicate fault) to the real
    receiver; the connector greets with the single-use code once and binds the candidate the state names."""
    with LoopbackServer(create_app(EmulatorSettings(deliver_in_background=False,
                                                    faults=Faults(duplicate=1.0)))) as vendor:
        world = vendor.app.state.world
        settings = {"corp_id": world.settings.corp_id, "agent_id": next(iter(world.settings.apps)),
                    "contact_sender": SENDER}
        monkeypatch.setenv("AIRFLOW_CONN_WECOM_ACME", json.dumps({"conn_type": "wecom",
                                                                 **WeComConnector.emulator_connection(world)}))
        host = plugin_host()
        table = instance_table("wecom", "wecom", settings, "wecom_acme", {"api": vendor.url})
        with running_receiver(load_config(tmp_path, table, host), store, host) as receiver_url:
            world.set_callback_url(f"{receiver_url}/callbacks/{SOURCE}")
            world.contact.add_contact(SENDER, ZHANG, state="acme.ats/c-1")
            assert world.deliver_pending_events() == 1
    assert [p.posts for p in world.pushes] == [2]
    assert [(w.external_userid, w.used_at is not None) for w in world.contact.welcomes.values()] == [(ZHANG, True)]
    refusals = [s.body["errcode"] for s in world.served if s.route.endswith("/send_welcome_msg")]
    assert refusals == [0, 41051]
    assert store.count("evidence", kind="contact_change", type="reachable", channel="wecom",
                       ref="acme.ats/c-1") == 1


def test_no_welcome_once_the_relation_is_gone(world: WeComWorld, conn: WeComConnector) -> None:
    world.contact.add_contact(SENDER, "wmGone00000000000006")
    added = world.pushes[-1].event
    world.contact.delete_contact(SENDER, "wmGone00000000000006")
    assert [r.reachable for r in contact.contact_event(conn, added)] == [True]  # type: ignore[attr-defined]
    assert [s.body["errcode"] for s in world.served if s.route.endswith("/send_welcome_msg")] == [84061]
