"""WeCom callbacks through the real receiver on loopback (SQLite and PostgreSQL): the URL check, card clicks pushed
by the emulator, redeliveries stored once, late replays refused, contact changes and unknown events, every
rejection (nothing stored, a 4xx with its reason)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from lifeline_hub.connectors.wecom.callback_kit import AES_KEY, AGENT_ID, CORP_ID, TOKEN, card_click, kit
from lifeline_hub.connectors.wecom.callbacks import CONTACT_CHANGES
from lifeline_hub.connectors.wecom.crypto import WXBizMsgCrypt
from lifeline_hub.connectors.wecom.emulator import create_app
from lifeline_hub.connectors.wecom.emulator_state import EmulatorSettings, event_xml
from lifeline_hub.connectors.wecom.plugin import WeComConnector
from lifeline_hub.core.emulator import Faults, LoopbackServer
from lifeline_hub.core.models import Action, ContactChange, DeliveryEvent, utcnow
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import quarantine
from lifeline_hub.core.sync import build_connector
from tests.receiver.hostile import fuzz, texts
from tests.receiver.receiver_helpers import (
    NOW,
    Client,
    instance_table,
    load_config,
    plugin_host,
    running_receiver,
    stored_rows,
)

PATH = "/callbacks/acme.wecom"
BOX = WXBizMsgCrypt(TOKEN, AES_KEY, CORP_ID)
EMPTY = {"evidence": 0, "interviews": 0, "candidates": 0, "inbound_events": 0, "quarantine": 0}


class Clock:
    """The receiver's clock: NOW, moved by the test."""

    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


@contextmanager
def receiver(store: Store, directory: Path, monkeypatch: pytest.MonkeyPatch, clock: Callable[[], datetime],
             connection: dict[str, Any], settings: dict[str, Any], base_url: str | None = None) -> Iterator[Client]:
    """A receiver serving the instance `acme.wecom`."""
    monkeypatch.setenv("AIRFLOW_CONN_WECOM_ACME", json.dumps({"conn_type": "wecom", **connection}))
    host = plugin_host()
    table = instance_table("wecom", "wecom", settings, "wecom_acme", {"api": base_url} if base_url else None)
    with running_receiver(load_config(directory, table, host), store, host, clock) as url:
        client = Client(url)
        yield client
        client.session.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock) -> Iterator[Client]:
    """The receiver with the conformance kit's instance (corp CORP_ID, Token and EncodingAESKey of the kit)."""
    wecom_kit = kit()
    assert wecom_kit.connection is not None
    with receiver(store, tmp_path, monkeypatch, clock, json.loads(wecom_kit.connection),
                  dict(wecom_kit.settings)) as running:
        yield running


def stamp(at: datetime = NOW) -> str:
    return str(int(at.timestamp()))


def post(client: Client, plaintext: str, box: WXBizMsgCrypt = BOX, at: datetime = NOW, **query: str) -> Any:
    """`plaintext` sealed and signed as WeCom would, POSTed as XML; `query` overrides its query fields."""
    sealed = box.encrypt_message(plaintext, timestamp=stamp(at))
    return client.post(PATH, params=sealed.query | query, data=sealed.event_xml(CORP_ID, str(AGENT_ID)).encode(),
                       headers={"Content-Type": "text/xml"})


def event(**fields: str) -> str:
    return event_xml({"ToUserName": CORP_ID, "FromUserName": "hr01", "CreateTime": stamp(), "MsgType": "event",
                      **fields})


# ---------------------------------------------------------------- URL check


def test_url_check_answers_the_decrypted_echostr_as_plain_text(client: Client, store: Store) -> None:
    sealed = BOX.encrypt_message("1288432023552776189", timestamp=stamp())
    answer = client.get(PATH, params=sealed.query | {"echostr": sealed.encrypt})  # `+/=` URL-encoded, as WeCom does
    assert answer.status_code == 200 and answer.content == b"1288432023552776189"
    assert answer.headers["content-type"].startswith("text/plain")
    forged = client.get(PATH, params=sealed.query | {"echostr": sealed.encrypt, "nonce": "1"})
    assert forged.status_code == 401 and forged.json()["reason"].startswith("signature (-40001)")
    other = WXBizMsgCrypt(TOKEN, AES_KEY, "wwanothercorp").encrypt_message("1", timestamp=stamp())
    foreign = client.get(PATH, params=other.query | {"echostr": other.encrypt})
    assert foreign.status_code == 401 and foreign.json()["reason"].startswith("receive_id (-40005)")
    late = BOX.encrypt_message("1", timestamp=stamp(NOW - timedelta(hours=1)))
    assert client.get(PATH, params=late.query | {"echostr": late.encrypt}).status_code == 401
    assert client.get(PATH).status_code == 401
    assert stored_rows(store) == EMPTY


# ---------------------------------------------------------------- events


def test_a_redelivery_is_stored_once_and_a_late_replay_refused(client: Client, store: Store, clock: Clock) -> None:
    click = card_click("c1")
    first = post(client, click)
    assert first.status_code == 200 and first.content == b""
    again = post(client, click, at=NOW + timedelta(seconds=5))  # WeCom's retry: new timestamp, nonce, signature
    assert again.status_code == 200
    rows = stored_rows(store)
    assert rows == EMPTY | {"evidence": 1, "inbound_events": 1}
    sealed = BOX.encrypt_message(click, timestamp=stamp())
    body = sealed.event_xml(CORP_ID).encode()
    clock.at = NOW + timedelta(hours=1)
    late = client.post(PATH, params=sealed.query, data=body)
    assert late.status_code == 401 and late.json()["reason"] == "timestamp: stale by 3600 s"
    clock.at = NOW - timedelta(minutes=6)
    assert client.post(PATH, params=sealed.query, data=body).json()["reason"] == "timestamp: future by 360 s"
    assert stored_rows(store) == rows


def test_a_json_envelope_is_read_too(client: Client, store: Store) -> None:
    sealed = BOX.encrypt_message(card_click("j1"), timestamp=stamp())
    body = json.dumps({"tousername": CORP_ID, "encrypt": sealed.encrypt, "agentid": AGENT_ID})
    assert client.post(PATH, params=sealed.query, data=body).status_code == 200
    assert stored_rows(store) == EMPTY | {"evidence": 1, "inbound_events": 1}


def test_contact_changes_are_dispatched_to_contact_events(client: Client, store: Store) -> None:
    for change in ("del_follow_user", "del_external_contact"):
        answer = post(client, event(Event="change_external_contact", ChangeType=change, UserID="hr01",
                                    ExternalUserID="wmEXTERNAL01"))
        assert answer.status_code == 200, answer.text
    assert store.count("evidence", kind=ContactChange.record_type, type="unreachable", channel="wecom") == 2
    assert stored_rows(store) == EMPTY | {"evidence": 2, "inbound_events": 2}


def test_unknown_events_are_acknowledged_kept_for_inspection_and_only_their_kind_logged(
        client: Client, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "lifeline.wecom")
    unknown = [
        event(Event="enter_agent", EventKey=""),
        event_xml({"ToUserName": CORP_ID, "FromUserName": "hr01", "CreateTime": stamp(), "MsgType": "text",
                   "Content": "面试几点?", "MsgId": "1234"}),
        event(Event="change_external_contact", ChangeType="edit_external_contact", UserID="hr01",
              ExternalUserID="wmEXTERNAL01"),
        event(Event="template_card_event", EventKey="done", TaskId="not a lifeline task!"),
        event(Event="a_future_event", Nested="x").replace("<Nested>", "<Deep><Er>1</Er></Deep><Nested>"),
    ]
    for plaintext in unknown:
        answer = post(client, plaintext)
        assert answer.status_code == 200 and answer.content == b"", answer.text
    assert stored_rows(store) == EMPTY | {"inbound_events": len(unknown), "quarantine": len(unknown) - 1}
    with store.engine.connect() as db:
        found = db.execute(sa.select(quarantine).where(quarantine.c.stream == "callbacks"))
        kept = {r.reason: r.payload for r in found}
    assert set(kept) == {"unhandled event: event/enter_agent", "unhandled event: text",
                         "unhandled event: event/change_external_contact/edit_external_contact",
                         "unhandled event: event/a_future_event"}  # a click on a card not Lifeline's is no news
    assert kept["unhandled event: text"]["Content"] == "面试几点?"  # the store holds what came, for people to read
    assert kept["unhandled event: event/a_future_event"]["Deep"] == {"Er": "1"}
    for _ in range(2):  # WeCom's redelivery is stored once
        assert post(client, unknown[0]).status_code == 200
    assert store.quarantine_seen(stream="callbacks") == len(unknown) - 1
    logged = "\n".join(r.getMessage() for r in caplog.records if "not handled" in r.getMessage())
    assert "'enter_agent'" in logged and "'edit_external_contact'" in logged and "'a_future_event'" in logged
    assert "面试" not in caplog.text and "wmEXTERNAL01" not in logged


# ---------------------------------------------------------------- rejections


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
                  "<xml><MsgType>&b;</MsgType></xml>")


@pytest.mark.parametrize(("send", "status", "reason"), [
    (lambda c: post(c, card_click("f1"), msg_signature="0" * 40), 401, "signature (-40001)"),
    (lambda c: post(c, card_click("f2"), box=WXBizMsgCrypt("guessed", AES_KEY, CORP_ID)), 401, "signature"),
    (lambda c: post(c, card_click("f3"), box=WXBizMsgCrypt(TOKEN, AES_KEY, "wwanothercorp")), 401,
     "receive_id (-40005)"),
    (lambda c: post(c, event(Event="enter_agent").replace(CORP_ID, "wwanothercorp")), 401, "ToUserName"),
    (lambda c: post(c, card_click("f4"), at=NOW - timedelta(days=1)), 401, "timestamp: stale"),
    (lambda c: post(c, card_click("f5"), timestamp="1e9"), 401, "signature"),
    (lambda c: post(c, card_click("f6"), nonce=""), 401, "missing"),
    (lambda c: c.post(PATH, params={"msg_signature": "0" * 40, "timestamp": stamp(), "nonce": "1"},
                      data=BILLION_LAUGHS), 401, "envelope (-40002)"),
    (lambda c: c.post(PATH, params={"msg_signature": "0" * 40, "timestamp": stamp(), "nonce": "1"},
                      data=b"\xff" * 64), 401, "envelope"),
    (lambda c: post(c, "not xml"), 400, "event is not readable XML"),
    (lambda c: post(c, BILLION_LAUGHS), 400, "event is not readable XML"),
    (lambda c: post(c, "<xml>" * 40 + "</xml>" * 40), 400, "event is not readable XML"),
    (lambda c: post(c, "<xml></xml>"), 400, "event has no fields"),
])
def test_rejections_store_nothing(client: Client, store: Store, send: Callable[[Client], requests.Response],
                                  status: int, reason: str) -> None:
    answer = send(client)
    assert answer.status_code == status, answer.text
    assert answer.json()["reason"].startswith(reason)
    assert stored_rows(store) == EMPTY


def test_without_callback_secrets_every_callback_is_refused(store: Store, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    with receiver(store, tmp_path, monkeypatch, clock, {"password": "app-secret"},
                  {"corp_id": CORP_ID, "agent_id": AGENT_ID}) as bare:
        answer = post(bare, card_click("n1"))
    assert answer.status_code == 401 and answer.json()["reason"].startswith("callbacks are not configured")
    assert stored_rows(store) == EMPTY


# ---------------------------------------------------------------- from the emulator


def test_a_card_click_pushed_by_the_emulator_is_stored_once(store: Store, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A task card sent through the emulator, clicked; WeCom's push arrives twice (duplicate fault): one record,
    and the clicked card is updated with the click's response code."""
    emulated = EmulatorSettings(deliver_in_background=False, faults=Faults(duplicate=1.0))
    with LoopbackServer(create_app(emulated)) as vendor:
        world = vendor.app.state.world
        connection = WeComConnector.emulator_connection(world)
        settings = {"corp_id": world.settings.corp_id, "agent_id": next(iter(world.settings.apps))}
        with receiver(store, tmp_path, monkeypatch, utcnow, connection, settings, vendor.url) as running:
            config = load_config(tmp_path, instance_table("wecom", "wecom", settings, "wecom_acme",
                                                          {"api": vendor.url}))
            connector = build_connector(next(s for s in config.instances() if s.instance.name == "acme.wecom"))
            task = connector.perform(Action(
                idempotency_key="ll-task-1", tenant="acme", connector="acme.wecom", kind="create_task",
                interview_id="acme.ats/iv-1", due_at=utcnow(),
                payload={"assignees": ["hr01"], "title": "Confirm the panel", "description": "Tomorrow 10:00"}))
            world.set_callback_url(running.url + PATH)
            world.click("hr01", task.remote_id, "done")
            assert world.deliver_pending_events() == 1
    assert [p.posts for p in world.pushes] == [2]
    assert stored_rows(store) == EMPTY | {"evidence": 1, "inbound_events": 1}
    assert store.count("evidence", kind=DeliveryEvent.record_type, code="done",
                       ref=f"acme.wecom/task:{task.remote_id}") == 1
    updates = [s for s in world.served if s.route == "/cgi-bin/message/update_template_card"]
    assert updates and updates[0].body["errcode"] == 0  # the first delivery updated the clicked card


def xml_texts() -> st.SearchStrategy[str]:
    """Hostile texts XML can carry (no control characters, lone surrogates or non-characters)."""
    return texts().filter(lambda t: all(c in "\t\n" or (" " <= c <= "\ud7ff") or ("\ue000" <= c <= "\ufffd")
                                        or c > "\uffff" for c in t))


def test_authentic_events_of_any_shape_never_fail_the_receiver(client: Client, store: Store) -> None:
    """Card clicks and contact changes with any field values (no ResponseCode, so no vendor call): 200 or 400,
    never a 500, and a refused one stores nothing."""
    times = st.one_of(st.integers(min_value=-(10**20), max_value=10**20).map(str), xml_texts())
    events = st.fixed_dictionaries({"ToUserName": st.just(CORP_ID), "MsgType": st.sampled_from(["event", "text"])},
                                   optional={
        "Event": st.sampled_from(["template_card_event", "change_external_contact"]) | xml_texts(),
        "ChangeType": st.sampled_from(sorted(CONTACT_CHANGES)) | xml_texts(), "CreateTime": times,
        "FromUserName": xml_texts(), "EventKey": st.sampled_from(["done", "cannot"]) | xml_texts(),
        "TaskId": st.sampled_from(["task-1", "ll-2@x"]) | xml_texts(), "UserID": xml_texts(),
        "ExternalUserID": xml_texts(), "State": xml_texts(), "AgentID": xml_texts()})

    @fuzz(40)
    @given(fields=events)
    def authentic(fields: dict[str, str]) -> None:
        before = stored_rows(store)
        answer = post(client, event_xml(fields))
        assert answer.status_code in (200, 400), answer.text
        if answer.status_code != 200:
            assert stored_rows(store) == before

    authentic()
