"""WeChat Official Account emulator against the vendor's contract: every answer it serves, every event it pushes.

Driven over loopback with plain HTTP through every route (both token flavours, template messages, subscription
notifications), with normal answers, business errors, token errors and injected faults, and through the world's
people (followers whose WeChat reports each documented `Status`, a follow and an unfollow, a subscription credit).
Answers are checked against `wechat_schemas.json` (written from wecom-wechat.md §9 and channels.md §3) and wechatpy's
fixture of the token answer; pushed events on the wire (query, envelope), opened with wechatpy's Official Account
`WeChatCrypto`, validated as events and parsed by wechatpy's parser. A `msgid` above 2^53 must reach the client
exact, as the integer the emulator recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import xmltodict
from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.events import SubscribeEvent, SubscribeMsgSentEvent, TemplateSendJobFinishEvent, UnsubscribeEvent
from wechatpy.utils import check_signature

from lifeline_hub.connectors.wecom.oa_emulator import create_app
from lifeline_hub.connectors.wecom.oa_state import EmulatorSettings, OaWorld
from lifeline_hub.core.emulator import LoopbackServer, Served

SCHEMAS = json.loads(Path(__file__).with_name("wechat_schemas.json").read_text(encoding="utf-8"))
START = 1_780_000_000.0
"""2026-05-28T20:26:40Z, any fixed instant: the world's clock is moved only by the test."""
TEMPLATE, SUBSCRIPTION = "TPL-interview-reminder", "SUB-interview-reminder"
WECHATPY_FIXTURES: dict[str, dict[str, Any]] = {
    # wechatpy tests/fixtures/token.json at commit 5b8502e (reference Q3)
    "GET /cgi-bin/token": {"access_token": "1234567890", "expires_in": 7200},
}
EVENT_SCHEMA = {"TEMPLATESENDJOBFINISH": "TEMPLATESENDJOBFINISH", "subscribe": "follow", "unsubscribe": "follow",
                "subscribe_msg_sent_event": "subscribe_msg_sent_event"}
EXCEPTIONS: dict[str, str] = {}
"""Known differences still served, with their source: none."""


def problems(body: Any, *path: str) -> list[str]:
    pointer = "/".join(part.replace("~", "~0").replace("/", "~1") for part in path)
    validator = jsonschema.Draft202012Validator({**SCHEMAS, "$ref": f"#/{pointer}"})
    return [f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}" for e in validator.iter_errors(body)]


def answer_problems(served: Served) -> list[str]:
    body = served.body
    if served.status != 200:
        return [f"HTTP {served.status}: the API answers HTTP 200"]
    if not isinstance(body, dict):
        return ["the answer is not a JSON object"]
    if "errcode" in body and body["errcode"] != 0:
        return problems(body, "error")
    route = f"{served.method} {served.route}"
    return problems(body, "success", route) if route in SCHEMAS["success"] else [f"no contract for {route}"]


# -- driving the emulator --------------------------------------------------------------------------


@dataclass
class Pushes:
    queries: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


def recorder(pushes: Pushes) -> FastAPI:
    app = FastAPI()

    @app.post("/callbacks/acme.wechat")
    async def receive(request: Request) -> Response:
        pushes.queries.append(dict(request.query_params))
        pushes.bodies.append(await request.body())
        return Response("success")

    return app


@dataclass
class Api:
    url: str
    token: str = ""

    def get(self, path: str, **params: str) -> dict[str, Any]:
        body: dict[str, Any] = requests.get(f"{self.url}/cgi-bin/{path}", params=params, timeout=10).json()
        return body

    def post(self, path: str, body: Any, token: str | None = None) -> dict[str, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        params = {"access_token": self.token if token is None else token} if token != "" else {}
        answer: dict[str, Any] = requests.post(f"{self.url}/cgi-bin/{path}", params=params, data=data, timeout=10,
                                               headers={"Content-Type": "application/json"}).json()
        return answer


def template(openid: str, client_msg_id: str | None = None, **changes: Any) -> dict[str, Any]:
    body = {"touser": openid, "template_id": TEMPLATE, "url": "https://hire.example.com/c/1",
            "data": {"thing1": {"value": "Java 工程师面试"}, "time2": {"value": "2026年6月1日 10:00"},
                     "thing3": {"value": "3 号会议室"}}, **changes}
    return {**body, "client_msg_id": client_msg_id} if client_msg_id else body


def drive_everything(api: Api, world: OaWorld) -> list[int]:
    """Every route, its normal answers and documented errors, and every event the followers cause; the msgids."""
    s = world.settings
    assert api.get("token", grant_type="client_credential", appid=s.app_id, secret="wrong")["errcode"] == 40001
    assert api.get("token", grant_type="client_credential", appid="wxother", secret=s.app_secret)["errcode"] == 40013
    assert api.get("token", grant_type="password", appid=s.app_id, secret=s.app_secret)["errcode"] == 40002
    assert api.get("token", grant_type="client_credential", appid=s.app_id, secret=s.app_secret)["access_token"]
    stable = {"grant_type": "client_credential", "appid": s.app_id, "secret": s.app_secret}
    assert api.post("stable_token", {**stable, "secret": "wrong"}, token="")["errcode"] != 0
    assert api.post("stable_token", b"not json", token="")["errcode"] == 47001
    api.token = api.post("stable_token", stable, token="")["access_token"]
    assert api.post("stable_token", {**stable, "force_refresh": True}, token="")["access_token"] != api.token
    api.token = api.post("stable_token", stable, token="")["access_token"]

    followers = sorted(s.followers)
    statuses = ("success", "failed:user block", "failed: system failed", "failed:freq limit")
    for openid, status in zip(followers, statuses, strict=False):
        world.set_status(openid, status)
    msgids = [api.post("message/template/send", template(openid, f"iv-1-remind-{n}"))["msgid"]
              for n, openid in enumerate(followers[:4])]
    assert api.post("message/template/send", template(followers[0], "iv-1-remind-0"))["msgid"] == msgids[0]
    assert api.post("message/template/send", template("oNotAFollower0001"))["errcode"] == 43004
    assert api.post("message/template/send", template(followers[0], template_id="TPL-nope"))["errcode"] == 40037
    assert api.post("message/template/send", template(followers[0], data={"thing1": {"value": "x" * 21}}))[
        "errcode"] == 47003
    assert api.post("message/template/send", template(""))["errcode"] == 40003
    assert api.post("message/template/send", template(followers[0]), token="")["errcode"] == 41001
    assert api.post("message/template/send", template(followers[0]), token="no-such-token")["errcode"] == 40001
    assert api.post("message/template/send", {})["errcode"] == 44002
    assert api.post("message/template/send", b"{not json")["errcode"] == 47001
    for code in (45009, 45011, -1, 42001):
        world.fail_next(code)
        assert api.post("message/template/send", template(followers[0]))["errcode"] == code
    world.deny_apis(["template.send"])
    assert api.post("message/template/send", template(followers[0]))["errcode"] == 48001
    world.deny_apis([])

    notice = {"touser": followers[0], "template_id": SUBSCRIPTION, "page": "https://hire.example.com/c/2",
              "data": {"thing1": {"value": "面试提醒"}, "time2": {"value": "2026年6月1日 10:00"}}}
    assert api.post("message/subscribe/bizsend", notice)["errcode"] == 43101  # no credit: switch channel
    world.grant_credits(followers[0], SUBSCRIPTION)
    assert api.post("message/subscribe/bizsend", notice)["errcode"] == 0
    world.follow("oNewFollower00001")
    world.unfollow(followers[-1])
    world.advance(5)
    return msgids


@dataclass
class Run:
    world: OaWorld
    app: FastAPI
    pushes: Pushes
    msgids: list[int]


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    pushes = Pushes()
    with LoopbackServer(recorder(pushes)) as receiver:
        settings = EmulatorSettings(callback_url=f"{receiver.url}/callbacks/acme.wechat", push_background=False)
        world = OaWorld(settings, now=lambda: START)
        app = create_app(world=world)
        with LoopbackServer(app) as server:
            msgids = drive_everything(Api(server.url), world)
    yield Run(world, app, pushes, msgids)
    world.close()


# -- the checks ------------------------------------------------------------------------------------


def test_every_route_of_the_emulator_has_a_contract_and_was_driven(run: Run) -> None:
    routes = {f"{method} {route.path}" for route in run.app.routes if isinstance(route, APIRoute)
              and not route.path.startswith("/_emulator") for method in route.methods}
    assert routes == set(SCHEMAS["success"]), sorted(routes ^ set(SCHEMAS["success"]))
    ok = {f"{s.method} {s.route}" for s in run.world.served if isinstance(s.body, dict) and not s.body.get("errcode")}
    assert ok == routes


def test_every_response_served_keeps_the_contract(run: Run) -> None:
    served = list(run.world.served)
    codes = {s.body.get("errcode") for s in served if isinstance(s.body, dict)}
    assert {None, 0, -1, 40001, 40002, 40003, 40013, 40037, 41001, 42001, 43004, 43101, 44002, 45009, 45011, 47001,
            47003, 48001} <= codes, sorted(str(c) for c in codes)
    found = {f"{s.method} {s.route} {json.dumps(s.body, ensure_ascii=False)[:200]}": wrong
             for s in served if (wrong := answer_problems(s))}
    assert found == EXCEPTIONS


def test_the_token_answer_holds_what_wechatpys_fixture_holds(run: Run) -> None:
    answers = [s.body for s in run.world.served if s.route == "/cgi-bin/token" and "access_token" in s.body]
    fixture = WECHATPY_FIXTURES["GET /cgi-bin/token"]
    assert answers and all({k: type(v) for k, v in a.items()} == {k: type(v) for k, v in fixture.items()}
                           for a in answers)


def test_msgids_above_two_to_the_53_reach_the_client_exact(run: Run) -> None:
    recorded = [m.msgid for m in run.world.messages if m.kind == "template"]
    assert run.msgids == recorded[:4] and any(m > 2**53 for m in run.msgids)
    assert all(isinstance(m, int) for m in run.msgids)


def test_every_event_pushed_keeps_the_contract_and_wechatpy_reads_it(run: Run) -> None:
    s = run.world.settings
    sdk = WeChatCrypto(s.callback_token, s.callback_aes_key, s.app_id)
    by_msgid = {str(m.msgid): m for m in run.world.messages}
    kinds: list[str] = []
    for query, body in zip(run.pushes.queries, run.pushes.bodies, strict=True):
        envelope = xmltodict.parse(body)["xml"]
        assert problems(query, "callback_query") == [] and problems(envelope, "callback_envelope") == []
        check_signature(s.callback_token, query["signature"], query["timestamp"], query["nonce"])  # raises if wrong
        plain = sdk.decrypt_message(body, query["msg_signature"], query["timestamp"], query["nonce"])
        event = xmltodict.parse(plain)["xml"]
        assert problems(event, "events", EVENT_SCHEMA.get(event.get("Event", ""), "?")) == [], event
        assert query.get("openid") == event["FromUserName"] and envelope["ToUserName"] == event["ToUserName"]
        message = parse_message(plain)
        if event["Event"] == "TEMPLATESENDJOBFINISH":
            assert isinstance(message, TemplateSendJobFinishEvent)
            sent = by_msgid[event["MsgID"]]
            assert (message.id, message.status, message.source) == (sent.msgid, sent.status, sent.openid)
            kinds.append(message.status)
        elif event["Event"] == "subscribe_msg_sent_event":
            assert isinstance(message, SubscribeMsgSentEvent)
            [result] = message.subscribes
            assert (result["TemplateId"], result["ErrorStatus"]) == (SUBSCRIPTION, "success")
            kinds.append(event["Event"])
        else:
            assert isinstance(message, SubscribeEvent | UnsubscribeEvent)
            kinds.append(event["Event"])
    assert sorted(kinds) == sorted(["success", "failed:user block", "failed: system failed", "failed:freq limit",
                                    "subscribe_msg_sent_event", "subscribe", "unsubscribe"])


def test_the_contract_catches_what_the_docs_do_not_show(run: Run) -> None:
    sent = next(s for s in run.world.served if s.route.endswith("template/send") and s.body.get("errcode") == 0)
    assert answer_problems(sent) == []
    assert answer_problems(Served(sent.method, sent.route, 200, {**sent.body, "msgid": str(sent.body["msgid"])}))
    assert answer_problems(Served(sent.method, sent.route, 200, {**sent.body, "extra": 1}))
    assert answer_problems(Served("GET", "/cgi-bin/token", 200, {"errcode": 0, "access_token": "t", "expires_in": 1}))
    assert problems({"ToUserName": "gh_x", "FromUserName": "o1", "CreateTime": "1", "MsgType": "event",
                     "Event": "TEMPLATESENDJOBFINISH", "MsgID": "1", "Status": "failed:system failed"},
                    "events", "TEMPLATESENDJOBFINISH")  # the documented literal has a space after the colon


def test_the_event_schemas_accept_the_documented_examples() -> None:
    """The schemas themselves against independent samples: the reference's §9.2 `TEMPLATESENDJOBFINISH` example and
    wechatpy's `subscribe_msg_sent_event` test XML (tests/test_events.py at 5b8502e)."""
    finish = ("<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcU"
              "rNb4]]></FromUserName><CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType>"
              "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID><Status><![CDATA[success]]>"
              "</Status></xml>")
    sent = ("<xml><ToUserName><![CDATA[gh_123456789abc]]></ToUserName><FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ"
            "8_4]]></FromUserName><CreateTime>1610969468</CreateTime><MsgType><![CDATA[event]]></MsgType><Event>"
            "<![CDATA[subscribe_msg_sent_event]]></Event><SubscribeMsgSentEvent><List><TemplateId><![CDATA[VRR0UEO9VJ"
            "OLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId><MsgID>1700827132819554304</MsgID><ErrorCode>0</ErrorCode>"
            "<ErrorStatus><![CDATA[success]]></ErrorStatus></List></SubscribeMsgSentEvent></xml>")
    assert problems(xmltodict.parse(finish)["xml"], "events", "TEMPLATESENDJOBFINISH") == []
    assert problems(xmltodict.parse(sent)["xml"], "events", "subscribe_msg_sent_event") == []


def test_the_connector_reads_no_field_the_contract_lacks() -> None:
    """Every key the connector's modules read (`.get("key")` or `["key"]`) from an answer, an event or a callback
    query is in a schema here, once the keys of its own are set aside."""
    source = "\n".join((Path(__file__).parents[2] / "connectors" / "wecom" / name).read_text(encoding="utf-8")
                       for name in ("oa_client.py", "oa_send.py", "oa_callbacks.py"))
    read = set(re.findall(r"""(?:\.get\(|\[)["'](\w+)["']""", source))
    known: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            known.update(node.get("properties", {}))
            for value in node.values():
                collect(value)

    collect(SCHEMAS)
    ours = {"params", "stable_token", "url", "echostr"}
    """Keys of our own: the request being built, the token API's name, a payload link, and the URL check's query
    (§9.5, a request WeChat makes)."""
    assert read - ours <= known, sorted(read - ours - known)
