"""The Official Account emulator over HTTP: both token flavours, envelopes and errcodes, numeric msgids, the
control endpoints, and what it served."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import requests

from lifeline_hub.connectors.wecom.oa_state import BIG_IDS, OaWorld
from lifeline_hub.core.emulator import free_port
from tests.conftest import BIN
from tests.wechat.oa_helpers import ACCOUNT, FOLLOWER1, drive

TEMPLATE = {"touser": FOLLOWER1, "template_id": "TPL-interview-reminder",
            "data": {"thing1": {"value": "面试"}, "time2": {"value": "10:00"}, "thing3": {"value": "线上"}}}


def token(url: str, stable: bool = True, **fields: Any) -> dict[str, Any]:
    body = {"grant_type": "client_credential", "appid": ACCOUNT.app_id, "secret": ACCOUNT.app_secret, **fields}
    if stable:
        answer = requests.post(f"{url}/cgi-bin/stable_token", json=body, timeout=10)
    else:
        answer = requests.get(f"{url}/cgi-bin/token", params=body, timeout=10)
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


def send(url: str, access_token: str, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.post(f"{url}/cgi-bin/message/template/send", params={"access_token": access_token},
                         json=TEMPLATE if body is None else body, timeout=10)


def test_a_stable_token_is_the_same_until_its_last_five_minutes(emulator: str, world: OaWorld) -> None:
    first = token(emulator)
    assert first["expires_in"] == 7200 and token(emulator)["access_token"] == first["access_token"]
    world.advance(7200 - 200)
    renewed = token(emulator)
    assert renewed["access_token"] != first["access_token"]
    assert send(emulator, first["access_token"]).json()["errcode"] == 0  # both work until the old one expires
    world.advance(300)
    assert send(emulator, first["access_token"]).json()["errcode"] == 42001
    assert send(emulator, renewed["access_token"]).json()["errcode"] == 0
    forced = token(emulator, force_refresh=True)["access_token"]
    assert send(emulator, renewed["access_token"]).json()["errcode"] == 40001  # "not latest", at once
    assert send(emulator, forced).json()["errcode"] == 0


def test_a_new_classic_token_ends_the_previous_after_five_minutes(emulator: str, world: OaWorld) -> None:
    old = token(emulator, stable=False)["access_token"]
    new = token(emulator, stable=False)["access_token"]
    assert old != new and send(emulator, old).json()["errcode"] == 0
    world.advance(301)
    assert send(emulator, old).json()["errcode"] == 40001 and send(emulator, new).json()["errcode"] == 0


def test_bad_credentials_and_tokens_get_their_errcodes(emulator: str) -> None:
    assert token(emulator, secret="wrong")["errcode"] == 40125
    assert token(emulator, stable=False, secret="wrong")["errcode"] == 40001
    assert token(emulator, appid="wxnobody")["errcode"] == 40013
    assert token(emulator, grant_type="password")["errcode"] == 40002
    assert send(emulator, "").json()["errcode"] == 41001
    assert send(emulator, "not-a-token").json()["errcode"] == 40001


def test_template_send_validates_like_wechat(emulator: str) -> None:
    t = token(emulator)["access_token"]
    cases = {40037: {**TEMPLATE, "template_id": "nope"}, 40003: {**TEMPLATE, "touser": ""},
             43004: {**TEMPLATE, "touser": "oSomeoneElse"},
             47003: {**TEMPLATE, "data": {"thing1": {"value": "x" * 21}, "time2": {"value": "1"},
                                          "thing3": {"value": "1"}}}}
    for code, body in cases.items():
        answer = send(emulator, t, body).json()
        assert answer["errcode"] == code, (code, answer)
        assert re.search(r" rid: [0-9a-f]{8}-[0-9a-f]{8}$", answer["errmsg"])
    assert "data.thing1.value invalid" in send(emulator, t, cases[47003]).json()["errmsg"]
    empty = requests.post(f"{emulator}/cgi-bin/message/template/send", params={"access_token": t}, timeout=10)
    assert empty.json()["errcode"] == 44002


def test_msgids_are_json_numbers_some_above_2_53_and_client_msg_id_dedupes(emulator: str, world: OaWorld) -> None:
    t = token(emulator)["access_token"]
    first = send(emulator, t, {**TEMPLATE, "client_msg_id": "a"})
    second = send(emulator, t, {**TEMPLATE, "client_msg_id": "b"})
    assert re.search(r'"msgid":\s*\d+\b', second.text) and f'"msgid":{BIG_IDS + 2}' in second.text.replace(" ", "")
    assert send(emulator, t, {**TEMPLATE, "client_msg_id": "a"}).text == first.text
    assert len(world.message_list()) == 2


def test_control_endpoints_drive_followers_and_credits(emulator: str, world: OaWorld) -> None:
    t = token(emulator)["access_token"]
    drive(emulator, "unfollow", openid=FOLLOWER1)
    assert send(emulator, t).json()["errcode"] == 43004
    drive(emulator, "block", openid=FOLLOWER1)
    assert send(emulator, t).json()["errcode"] == 0 and world.pushes[-1].event["Status"] == "failed:user block"
    assert drive(emulator, "grant_credits", openid=FOLLOWER1, template_id="SUB-interview-reminder", count=2) == 2
    bizsend = {"touser": FOLLOWER1, "template_id": "SUB-interview-reminder",
               "data": {"thing1": {"value": "面试"}, "time2": {"value": "10:00"}}}
    for expected in (0, 0, 43101):
        answer = requests.post(f"{emulator}/cgi-bin/message/subscribe/bizsend", params={"access_token": t},
                               json=bizsend, timeout=10)
        assert answer.json()["errcode"] == expected
    bad = requests.post(f"{emulator}/_emulator/drive/set_status", json={"openid": "x", "status": "failed"},
                        timeout=10)
    assert bad.status_code == 400
    state = requests.get(f"{emulator}/_emulator/state", timeout=10).json()
    assert state["messages"] == 3 and state["api_calls"] == 5
    kinds = [p["event"] for p in requests.get(f"{emulator}/_emulator/state/pushes", timeout=10).json()]
    assert kinds == ["unsubscribe", "TEMPLATESENDJOBFINISH", "subscribe_msg_sent_event", "subscribe_msg_sent_event"]


def test_denied_apis_answer_48001_and_every_answer_is_served(emulator: str, world: OaWorld) -> None:
    t = token(emulator)["access_token"]
    world.deny_apis(["*"])
    assert send(emulator, t).json()["errcode"] == 48001
    routes = [(s.route, s.status, s.body.get("errcode")) for s in world.served]
    assert routes == [("/cgi-bin/stable_token", 200, None), ("/cgi-bin/message/template/send", 200, 48001)]


def test_lifeline_emulate_wechat_serves_the_account() -> None:
    port = free_port()
    process = subprocess.Popen([str(BIN / "lifeline"), "emulate", "wechat", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"wechat emulator listening on http://127.0.0.1:{port}" in line, line
        assert token(f"http://127.0.0.1:{port}")["expires_in"] == 7200
    finally:
        process.terminate()
        process.wait(timeout=10)
