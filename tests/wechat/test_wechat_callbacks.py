"""Official Account callbacks end to end: sends dispatched from the outbox, the emulator's encrypted events
pushed to the real receiver, records in a real store (SQLite and PostgreSQL), and every rejection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from lifeline_hub.connectors.wecom.crypto import signature
from lifeline_hub.connectors.wecom.oa_state import OaWorld
from lifeline_hub.core.config import Config
from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.models import Channel, utcnow
from lifeline_hub.core.outbox.dispatch import dispatch
from lifeline_hub.core.outbox.queue import enqueue
from lifeline_hub.core.store import Store
from tests.receiver.receiver_helpers import instance_table, load_config, plugin_host, running_receiver, stored_rows
from tests.wechat.oa_helpers import (
    ACCOUNT,
    FOLLOWER1,
    FOLLOWER2,
    SOURCE,
    STRANGER,
    TEMPLATES,
    TENANT,
    seed,
    send_action,
)
from tests.wechat.oa_helpers import candidates as all_candidates

CONNECTION = json.dumps({"conn_type": "wechat", "login": ACCOUNT.app_id, "password": ACCOUNT.app_secret,
                         "extra": {"callback_token": ACCOUNT.callback_token,
                                   "callback_aes_key": ACCOUNT.callback_aes_key}})


@dataclass
class Hub:
    url: str
    """The instance's callback URL on the receiver."""
    config: Config
    store: Store
    world: OaWorld

    def send(self, key: str, *openids: str) -> None:
        """Plan a `send_message` row and dispatch it (the records land in the store)."""
        with self.store.begin() as conn:
            enqueue(conn, [send_action(key, *openids)], utcnow())
        summary = dispatch(self.store, self.config, TENANT)
        assert summary.done == 1, summary.problems

    def deliver(self) -> None:
        self.world.deliver_events()
        assert {p["status"] for p in self.world.push_list()} == {"delivered"}, self.world.push_list()

    def evidence(self, **where: object) -> int:
        return self.store.count("evidence", **where)

    def reachable(self, candidate: str) -> bool:
        return self.store.contact(f"acme.ats/{candidate}", Channel.wechat) is not None


@pytest.fixture
def hub(emulator: str, world: OaWorld, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    host = plugin_host()
    monkeypatch.setenv("AIRFLOW_CONN_WECHAT_TEST", CONNECTION)
    settings = {"app_id": ACCOUNT.app_id, "original_id": ACCOUNT.original_id, "templates": TEMPLATES}
    config = load_config(tmp_path, instance_table("wechat", "wechat", settings, "wechat_test", {"api": emulator}),
                         host)
    seed(store)
    with running_receiver(config, store, host) as url:
        world.set_callback_url(f"{url}/callbacks/{SOURCE}")
        yield Hub(f"{url}/callbacks/{SOURCE}", config, store, world)


def test_template_results_join_their_sends(hub: Hub) -> None:
    hub.world.set_status(FOLLOWER2, "failed: system failed")
    hub.send("ll-e1", FOLLOWER1)
    hub.send("ll-e2", FOLLOWER2)
    first, second = (m["msgid"] for m in hub.world.message_list())
    assert int(second) > 2**53
    assert hub.evidence(kind="notification", remote_id=second, channel="wechat") == 1
    hub.deliver()
    assert hub.evidence(kind="delivery_event", type="delivered", ref=f"{SOURCE}/{first}", audience="candidate") == 1
    assert hub.evidence(kind="delivery_event", type="failed", ref=f"{SOURCE}/{second}",
                        code="failed: system failed") == 1
    assert hub.store.count("inbound_events") == 2
    assert hub.reachable("cand1") and hub.reachable("cand2")  # a system failure says nothing about the candidate


def test_a_blocking_candidate_loses_the_channel(hub: Hub) -> None:
    hub.world.block(FOLLOWER1)
    hub.send("ll-b1", FOLLOWER1)
    hub.deliver()
    assert hub.evidence(kind="delivery_event", type="failed", code="failed:user block") == 1
    assert hub.evidence(kind="contact_change") == 1 and not hub.reachable("cand1")  # no reminder route there
    assert hub.reachable("cand2")


def test_a_send_to_someone_not_following_fails_and_makes_them_unreachable(hub: Hub) -> None:
    hub.send("ll-n1", STRANGER)
    assert hub.evidence(kind="notification", remote_id="ll-n1", channel="wechat") == 1
    assert hub.evidence(kind="delivery_event", type="failed", code="43004", ref=f"{SOURCE}/ll-n1") == 1
    assert not hub.reachable("cand3") and hub.reachable("cand1") and hub.world.message_list() == []


def test_unfollowing_and_following_again_move_reachability(hub: Hub) -> None:
    hub.world.unfollow(FOLLOWER2)
    hub.deliver()
    assert not hub.reachable("cand2")
    hub.world.advance(60)
    hub.world.follow(FOLLOWER2)
    hub.deliver()
    assert hub.reachable("cand2") and hub.evidence(kind="contact_change") == 2


def test_pushed_twice_is_stored_once(hub: Hub) -> None:
    hub.world.configure_faults(Faults(duplicate=1.0))
    hub.send("ll-d1", FOLLOWER1)
    hub.deliver()
    assert len(hub.world.push_list()) == 2 and hub.store.count("inbound_events") == 1
    assert hub.evidence(kind="delivery_event") == 1


def test_a_follower_event_retried_later_is_stored_once(hub: Hub) -> None:
    hub.world.set_callback_url(hub.url + "-gone")  # the first push fails: WeChat retries 5 s later
    made = str(int(hub.world.now()))
    hub.world.unfollow(FOLLOWER1)
    hub.world.deliver_events()
    hub.world.set_callback_url(hub.url)
    hub.world.advance(5)
    hub.world.push_event({"FromUserName": FOLLOWER1, "Event": "unsubscribe",
                          "CreateTime": hub.world.pushes[0].event["CreateTime"]})  # and once more, as a duplicate
    hub.deliver()
    assert hub.world.pushes[0].attempts == 2 and hub.world.event_xml(hub.world.pushes[0]).count(made) == 1
    assert hub.store.count("inbound_events") == 1 and hub.evidence(kind="contact_change") == 1


def test_an_unknown_event_is_acknowledged_and_kept_without_records(hub: Hub) -> None:
    hub.world.push_event({"FromUserName": FOLLOWER1, "Event": "VIEW", "EventKey": "https://lifeline.test/x"})
    hub.world.push_event({"FromUserName": FOLLOWER1, "Event": "TEMPLATESENDJOBFINISH", "MsgID": "12",
                          "Status": "pending"})  # an undocumented Status
    hub.deliver()
    assert hub.store.count("inbound_events") == 2 and hub.evidence() == 0


def safe_mode_query(token: str, timestamp: str, nonce: str, msg_signature: str) -> dict[str, str]:
    return {"signature": signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
            "encrypt_type": "aes", "msg_signature": msg_signature, "openid": FOLLOWER1}


def test_the_url_check_answers_echostr_as_received(hub: Hub) -> None:
    stamp, nonce, echostr = str(int(utcnow().timestamp())), "1320562132", "7312839413465371234"
    query = {"signature": signature(ACCOUNT.callback_token, stamp, nonce), "timestamp": stamp, "nonce": nonce,
             "echostr": echostr}
    answer = requests.get(hub.url, params=query, timeout=10)
    assert (answer.status_code, answer.text) == (200, echostr)
    forged = requests.get(hub.url, params={**query, "signature": signature("other", stamp, nonce)}, timeout=10)
    assert forged.status_code == 401 and echostr not in forged.text
    assert stored_rows(hub.store)["inbound_events"] == 0


def test_forged_stale_plaintext_and_foreign_callbacks_are_refused(hub: Hub) -> None:
    plaintext = ("<xml><ToUserName><![CDATA[gh_emulator00001]]></ToUserName><FromUserName><![CDATA[x]]>"
                 "</FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType>"
                 "<Event><![CDATA[unsubscribe]]></Event></xml>")
    query, body = hub.world.sealed_body(plaintext)
    forged = {**query, "msg_signature": signature("not-the-token", query["timestamp"], query["nonce"], "x")}
    plain = {k: v for k, v in query.items() if k not in ("encrypt_type", "msg_signature")}
    stale_at = str(int((utcnow() - timedelta(hours=1)).timestamp()))
    attempts = {"forged": (forged, body), "plaintext mode": (plain, plaintext.encode()),
                "unsigned": ({k: v for k, v in query.items() if k != "msg_signature"}, body)}
    hub.world.settings.app_id, real_app = "wxanotheraccount01", hub.world.settings.app_id
    attempts["another AppID"] = hub.world.sealed_body(plaintext)
    hub.world.settings.app_id = real_app
    hub.world.clock.advance(-3600)
    attempts["stale"] = hub.world.sealed_body(plaintext)
    hub.world.clock.advance(3600)
    assert attempts["stale"][0]["timestamp"] <= stale_at
    other = plaintext.replace("gh_emulator00001", "gh_another000001")
    attempts["another account"] = hub.world.sealed_body(other)
    for name, (q, b) in attempts.items():
        answer = requests.post(hub.url, params=q, data=b, timeout=10)
        assert answer.status_code == 401, (name, answer.status_code, answer.text)
    assert stored_rows(hub.store) == dict.fromkeys(stored_rows(hub.store), 0) | {
        "candidates": len(all_candidates())}
    answer = requests.post(hub.url, params=query, data=body, timeout=10)  # the genuine one passes
    assert (answer.status_code, answer.text) == (200, "success")


def test_authentic_but_unreadable_events_are_400_and_store_nothing(hub: Hub) -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            "<xml><ToUserName>gh_emulator00001</ToUserName><Event>&b;</Event></xml>")
    for plaintext in (bomb, "not xml at all", "<xml><a>" * 20 + "</a>" * 20 + "</xml>"):
        query, body = hub.world.sealed_body(plaintext)
        answer = requests.post(hub.url, params=query, data=body, timeout=10)
        assert answer.status_code == 400, (plaintext[:20], answer.status_code, answer.text)
    assert hub.store.count("inbound_events") == 0 and hub.evidence() == 0


def test_subscription_results_become_delivery_events(hub: Hub) -> None:
    template = "SUB-interview-reminder"
    body = {"template_id": template, "data": {"thing1": {"value": "面试"}, "time2": {"value": "10:00"}}}
    hub.world.grant_credits(FOLLOWER1, template, 1)
    hub.world.grant_credits(FOLLOWER2, template, 1)
    hub.world.set_status(FOLLOWER2, "failed: system failed")
    ok, bad = (str(hub.world.send_subscribe({**body, "touser": openid})) for openid in (FOLLOWER1, FOLLOWER2))
    hub.deliver()
    assert hub.evidence(kind="delivery_event", type="delivered", ref=f"{SOURCE}/{ok}") == 1
    assert hub.evidence(kind="delivery_event", type="failed", ref=f"{SOURCE}/{bad}", code="1") == 1
    assert hub.evidence(kind="contact_change") == 0
