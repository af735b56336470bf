"""The WeCom emulator over HTTP, as the vendor answers (wecom-wechat.md §2-§5, §11): tokens, the errcode envelope,
message/send rules, the silent per-member drop, the duplicate check, card updates, recall, statistics, faults,
pushes of encrypted card clicks, and the `/_emulator` control surface."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fastapi import FastAPI, Request, Response

from lifeline_hub.connectors.wecom.crypto import WXBizMsgCrypt, parse_xml
from lifeline_hub.connectors.wecom.emulator_state import EmulatorSettings, WeComWorld
from lifeline_hub.connectors.wecom.testing import Emulated, emulated
from lifeline_hub.core.emulator import Faults, LoopbackServer
from lifeline_hub.core.http.testing import FakeClock

T0 = 1_800_000_000.0
TAIL = re.compile(r", hint: \[\d+\], from ip: [\d.]+, more info at https://open\.work\.weixin\.qq\.com/devtool/"
                  r"query\?e=-?\d+$")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def wc(clock: FakeClock) -> Iterator[Emulated]:
    with emulated(EmulatorSettings(users=["hr01", "iv01", "Zhang.San"]), now=clock.time) as running:
        yield running


def token(wc: Emulated, secret: str | None = None) -> str:
    s = wc.world.settings
    body = requests.get(f"{wc.url}/cgi-bin/gettoken", params={
        "corpid": s.corp_id, "corpsecret": secret or next(iter(s.apps.values()))}, timeout=5).json()
    return str(body["access_token"])


def post(wc: Emulated, path: str, body: Any, access_token: str | None) -> dict[str, Any]:
    params = {"access_token": access_token} if access_token is not None else {}
    response = requests.post(f"{wc.url}/cgi-bin/{path}", params=params, json=body, timeout=5)
    assert response.status_code == 200  # WeCom answers 200 whatever happened
    answer: dict[str, Any] = response.json()
    return answer


def text(to: str, content: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"touser": to, "agentid": 1000002, "msgtype": "text", "text": {"content": content}, **extra}


def card(to: str, task_id: str = "task-1") -> dict[str, Any]:
    return {"touser": to, "agentid": 1000002, "msgtype": "template_card", "template_card": {
        "card_type": "button_interaction", "task_id": task_id, "main_title": {"title": "Call the candidate"},
        "button_list": [{"text": "Done", "style": 1, "key": "done"}]}}


def test_gettoken_gives_the_same_token_within_its_lifetime_and_counts_calls(wc: Emulated, clock: FakeClock) -> None:
    s = wc.world.settings
    url, secret = f"{wc.url}/cgi-bin/gettoken", next(iter(s.apps.values()))
    first = requests.get(url, params={"corpid": s.corp_id, "corpsecret": secret}, timeout=5).json()
    clock.advance(100)
    second = requests.get(url, params={"corpid": s.corp_id, "corpsecret": secret}, timeout=5).json()
    assert first["access_token"] == second["access_token"]
    assert (first["expires_in"], second["expires_in"]) == (7200, 7100)
    clock.advance(7100)
    assert requests.get(url, params={"corpid": s.corp_id, "corpsecret": secret},
                        timeout=5).json()["access_token"] != first["access_token"]
    bad_secret = requests.get(url, params={"corpid": s.corp_id, "corpsecret": "nope"}, timeout=5)
    bad_corp = requests.get(url, params={"corpid": "wwother", "corpsecret": secret}, timeout=5)
    assert (bad_secret.status_code, bad_secret.json()["errcode"]) == (200, 40001)
    assert bad_corp.json()["errcode"] == 40013 and TAIL.search(bad_corp.json()["errmsg"])
    assert wc.world.gettoken_calls == 5


def test_tokens_are_checked_on_every_api(wc: Emulated, clock: FakeClock) -> None:
    assert post(wc, "message/send", text("iv01"), None)["errcode"] == 41001
    assert post(wc, "message/send", text("iv01"), "forged")["errcode"] == 40014
    good = token(wc)
    clock.advance(7200)
    expired = post(wc, "message/send", text("iv01"), good)
    assert expired["errcode"] == 42001 and expired["errmsg"].startswith("access_token expired, hint: [")
    contact = token(wc, wc.world.settings.contact_secret)
    assert post(wc, "message/send", text("iv01"), contact)["errcode"] == 48002  # not an app's token


def test_send_splits_recipients_and_answers_a_string_msgid(wc: Emulated) -> None:
    answer = post(wc, "message/send", text("IV01|Ghost|zhang.san|NoBody"), token(wc))
    assert answer["errcode"] == 0 and answer["invaliduser"] == "ghost|nobody"
    assert isinstance(answer["msgid"], str) and answer["msgid"] and "response_code" not in answer
    assert sorted(wc.world.deliveries()) == [("iv01", answer["msgid"]), ("zhang.san", answer["msgid"])]
    nobody = post(wc, "message/send", text("ghost"), token(wc))
    assert nobody["errcode"] == 81013 and TAIL.search(nobody["errmsg"])


@pytest.mark.parametrize(("body", "code"), [
    (text("iv01", " "), 44004),
    (text("iv01", "x" * 2049), 45002),
    ({"touser": "iv01", "agentid": 1000002, "msgtype": "textcard", "textcard": {"title": "t" * 129,
                                                                               "description": "d", "url": "https://a"}},
     45002),
    ({"touser": "iv01", "agentid": 1000002, "msgtype": "template_card", "template_card": {
        "card_type": "text_notice", "main_title": {"title": "t"}}}, 40058),  # text_notice needs card_action
    ({**card("iv01"), "template_card": {**card("iv01")["template_card"], "task_id": "bad id!"}}, 40058),
    (text("iv01", agentid=1000003), 301002),
    ({"touser": "iv01", "agentid": 1000002, "msgtype": "text"}, 44004),
])
def test_send_validates_the_body(wc: Emulated, body: dict[str, Any], code: int) -> None:
    assert post(wc, "message/send", body, token(wc))["errcode"] == code
    assert wc.world.messages == []


def test_an_unparseable_body_gets_a_warning_and_nothing_is_sent(wc: Emulated) -> None:
    response = requests.post(f"{wc.url}/cgi-bin/message/send", params={"access_token": token(wc)},
                             data=b"{oops", timeout=5)
    assert response.json() == {"errcode": 0, "errmsg": "ok. Warning: wrong json format. "}
    assert wc.world.messages == []


def test_over_30_a_minute_or_1000_an_hour_a_member_is_dropped_silently(clock: FakeClock) -> None:
    with emulated(EmulatorSettings(users=["iv01"], member_per_hour=40), now=clock.time) as wc:
        access = token(wc)
        answers = [post(wc, "message/send", text("iv01", f"m{i}"), access) for i in range(31)]
        assert {a["errcode"] for a in answers} == {0}  # the 31st "succeeds" too
        assert len(wc.world.deliveries()) == 30 and [d["member"] for d in wc.world.dropped] == ["iv01"]
        assert wc.world.quota_breaches() == 1
        clock.advance(60)
        for i in range(15):
            post(wc, "message/send", text("iv01", f"n{i}"), access)
        assert len(wc.world.deliveries()) == 40 and len(wc.world.dropped) == 6  # the hour's 40 are used
        assert wc.world.arrivals("IV01")[0] == T0


def test_the_duplicate_check_returns_the_first_msgid_within_its_window(wc: Emulated, clock: FakeClock) -> None:
    access = token(wc)
    body = text("iv01", enable_duplicate_check=1, duplicate_check_interval=600)
    first = post(wc, "message/send", body, access)["msgid"]
    clock.advance(599)
    assert post(wc, "message/send", body, access)["msgid"] == first
    assert post(wc, "message/send", {**body, "enable_duplicate_check": 0}, access)["msgid"] != first  # not asked
    clock.advance(2)
    assert post(wc, "message/send", text("iv01", "other", enable_duplicate_check=1), access)["msgid"] != first
    clock.advance(600)  # past the window of every earlier "hello"
    assert post(wc, "message/send", body, access)["msgid"] != first
    assert len(wc.world.deliveries()) == 4


def test_a_task_id_is_unique_per_app_and_response_codes_are_single_use(wc: Emulated, clock: FakeClock) -> None:
    access = token(wc)
    sent = post(wc, "message/send", card("iv01"), access)
    assert isinstance(sent["response_code"], str) and sent["response_code"]
    assert post(wc, "message/send", card("hr01"), access)["errcode"] == 40058
    update = {"userids": ["iv01"], "agentid": 1000002, "response_code": sent["response_code"],
              "button": {"replace_name": "Done"}}
    assert post(wc, "message/update_template_card", update, access) == {"errcode": 0, "errmsg": "ok",
                                                                         "invaliduser": []}
    assert post(wc, "message/update_template_card", update, access)["errcode"] == 40058
    later = post(wc, "message/send", card("iv01", "task-2"), access)
    clock.advance(72 * 3600 + 1)
    assert post(wc, "message/update_template_card", {**update, "response_code": later["response_code"]},
                token(wc))["errcode"] == 40058


def test_recall_takes_messages_of_the_last_24_hours_once(wc: Emulated, clock: FakeClock) -> None:
    access = token(wc)
    first = post(wc, "message/send", text("iv01", "a"), access)["msgid"]
    assert post(wc, "message/recall", {"msgid": first}, access) == {"errcode": 0, "errmsg": "ok"}
    assert post(wc, "message/recall", {"msgid": first}, access)["errcode"] == 40058
    old = post(wc, "message/send", text("iv01", "b"), access)["msgid"]
    clock.advance(24 * 3600 + 1)
    assert post(wc, "message/recall", {"msgid": old}, post_token := token(wc))["errcode"] == 40058
    assert post(wc, "message/recall", {"msgid": "unknown"}, post_token)["errcode"] == 40058


def test_statistics_count_todays_and_yesterdays_messages_per_app(wc: Emulated, clock: FakeClock) -> None:
    access = token(wc)
    post(wc, "message/send", text("iv01|hr01", "a"), access)
    clock.advance(86400)
    access = token(wc)
    post(wc, "message/send", text("iv01", "b"), access)
    counts = [post(wc, "message/get_statistics", {"time_type": t}, access)["statistics"] for t in (0, 1)]
    assert [c[0]["count"] for c in counts] == [1, 2] and counts[0][0]["agentid"] == 1000002


def test_faults_and_denied_permissions_answer_with_wecom_codes(wc: Emulated) -> None:
    access = token(wc)
    wc.world.configure_faults(Faults(rate_limit=1.0))
    assert post(wc, "message/send", text("iv01"), access)["errcode"] == 45009
    wc.world.configure_faults(Faults(server_error=1.0))
    assert post(wc, "message/send", text("iv01"), access)["errcode"] == -1
    wc.world.configure_faults(Faults(expire_token=1.0))
    assert post(wc, "message/send", text("iv01"), access)["errcode"] == 42001
    wc.world.configure_faults(Faults())
    wc.world.deny_actions(["message.send"], 60011)
    assert post(wc, "message/send", text("iv01"), access)["errcode"] == 60011
    assert wc.world.messages == []
    with pytest.raises(ValueError, match="48002"):
        wc.world.deny_actions(["*"], 40001)


def test_a_click_pushes_an_encrypted_signed_card_event(wc: Emulated) -> None:
    got: list[tuple[dict[str, str], bytes]] = []
    app = FastAPI()

    @app.post("/callback")
    async def callback(request: Request) -> Response:
        got.append((dict(request.query_params), await request.body()))
        return Response("")

    access = token(wc)
    post(wc, "message/send", card("iv01"), access)
    with LoopbackServer(app) as receiver:
        wc.world.settings.deliver_in_background = False
        wc.world.set_callback_url(f"{receiver.url}/callback")
        control = requests.post(f"{wc.url}/_emulator/drive/click", json={"userid": "IV01", "task_id": "task-1",
                                                                         "key": "done"}, timeout=5)
        assert control.status_code == 200
        assert wc.world.deliver_pending_events() == 1
    ((query, body),) = got
    s = wc.world.settings
    envelope = parse_xml(body)
    assert envelope["ToUserName"] == s.corp_id and envelope["AgentID"] == "1000002"
    plain = WXBizMsgCrypt(s.callback_token, s.callback_aes_key, s.corp_id).decrypt_message(
        body, query["msg_signature"], query["timestamp"], query["nonce"])
    event = parse_xml(plain)
    assert {k: event[k] for k in ("MsgType", "Event", "EventKey", "TaskId", "FromUserName", "CardType")} == {
        "MsgType": "event", "Event": "template_card_event", "EventKey": "done", "TaskId": "task-1",
        "FromUserName": "iv01", "CardType": "button_interaction"}
    assert event["ResponseCode"] == control.json()["result"]["response_code"]
    assert query["timestamp"] == str(int(T0))
    bad = requests.post(f"{wc.url}/_emulator/drive/click", json={"userid": "hr01", "task_id": "task-1",
                                                                 "key": "done"}, timeout=5)
    assert bad.status_code == 400  # hr01 got no such card


def test_a_failed_push_is_tried_three_times_in_all(clock: FakeClock) -> None:
    world = WeComWorld(EmulatorSettings(callback_url="http://127.0.0.1:9/nowhere", deliver_in_background=False,
                                        callback_timeout_seconds=0.5), now=clock.time)
    try:
        world.push_event({"MsgType": "event", "Event": "enter_agent"})
        for _ in range(3):
            assert world.deliver_pending_events() == 0
            clock.advance(60)
        assert [(p.status, p.attempts) for p in world.pushes] == [("failed", 3)]
    finally:
        world.close()


def test_state_shows_messages_drops_and_customer_contact(wc: Emulated) -> None:
    post(wc, "message/send", text("iv01"), token(wc))
    state = requests.get(f"{wc.url}/_emulator/state", timeout=5).json()
    assert state["messages"] == 1 and state["dropped"] == 0 and state["quota_breaches"] == 0
    assert "contacts" in state and state["api_calls"] == 2
    (message,) = requests.get(f"{wc.url}/_emulator/state/messages", timeout=5).json()
    assert message["reached"] == ["iv01"]
    assert any(s.route == "/cgi-bin/message/send" for s in wc.world.served)
