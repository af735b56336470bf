"""WeCom emulator against the vendor's contract: every answer it serves, every callback it pushes.

Driven over loopback with plain HTTP through every route (app messages, template cards, recall, statistics,
customer contact), with normal answers, business errors, token errors and injected faults, and through the
world's people (a click on a card, a candidate adding and deleting a recruiter, a recruiter confirming a staged
send). Each answer in `world.served` is checked against `wecom_schemas.json` (written from wecom-wechat.md; no
official SDK models WeCom's answers), and against wechatpy's test fixtures where it has one. Each pushed callback
is checked on the wire (query, envelope), opened with wechatpy's own `WeChatCrypto`, validated as an event and
parsed by wechatpy's WeCom parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import xmltodict
from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from wechatpy.work.crypto import WeChatCrypto
from wechatpy.work.events import ChangeExternalContactEvent
from wechatpy.work.parser import parse_message

from lifeline_hub.connectors.wecom.emulator import create_app
from lifeline_hub.connectors.wecom.emulator_state import EmulatorSettings, WeComWorld
from lifeline_hub.connectors.wecom.testing import Emulated
from lifeline_hub.core.emulator import Faults, LoopbackServer, Served
from lifeline_hub.core.models import Action

SCHEMAS = json.loads(Path(__file__).with_name("wecom_schemas.json").read_text(encoding="utf-8"))
START = 1_780_000_000.0
"""2026-05-28T20:26:40Z, any fixed instant: the world's clock is moved only by the test."""
AGENT = 1000002
CARD_TASK = "ll-iv-1_attend"
WECHATPY_FIXTURES: dict[str, dict[str, Any]] = {
    # wechatpy tests/fixtures/work/*.json at commit 5b8502e (reference Q3): the keys and JSON types each holds
    "GET /cgi-bin/gettoken": {"access_token": "1234567890", "expires_in": 7200},  # gettoken.json
    "POST /cgi-bin/externalcontact/add_msg_template": {  # externalcontact_add_msg_template.json
        "errcode": 0, "errmsg": "ok", "fail_list": ["wmqfasd1e19278asdasdasd"],
        "msgid": "msgGCAAAXtWyujaWJHDDGi0mACas1w"},
    "POST /cgi-bin/externalcontact/send_welcome_msg": {"errcode": 0, "errmsg": "ok"},  # ..._send_welcome_msg.json
}
EXCEPTIONS: dict[str, str] = {}
"""Known differences still served, with their source: none. (The `malformed` fault breaks the contract on purpose
and is driven apart: `test_the_contract_catches_a_malformed_send_result`.)"""


def validator(*path: str) -> jsonschema.Draft202012Validator:
    """A validator for the schema at `path` inside wecom_schemas.json (its `$defs` resolve)."""
    pointer = "/".join(part.replace("~", "~0").replace("/", "~1") for part in path)
    return jsonschema.Draft202012Validator({**SCHEMAS, "$ref": f"#/{pointer}"})


def problems(body: Any, *path: str) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
            for e in validator(*path).iter_errors(body)]


def answer_problems(served: Served) -> list[str]:
    """What is wrong with one answer (none: it keeps the contract)."""
    body = served.body
    if served.status != 200:
        return [f"HTTP {served.status}: WeCom answers every call with HTTP 200"]
    if not isinstance(body, dict):
        return ["the answer is not a JSON object"]
    if body.get("errcode") != 0:
        return problems(body, "error")
    if "Warning" in str(body.get("errmsg")):
        return problems(body, "warning")
    route = f"{served.method} {served.route}"
    if route not in SCHEMAS["success"]:
        return [f"no contract for {route}"]
    return problems(body, "success", route)


def same_shape(fixture: Any, answer: Any, where: str = "") -> list[str]:
    """Every key of a wechatpy fixture is in the answer with the same JSON type (lists: their first items)."""
    if isinstance(fixture, dict):
        if not isinstance(answer, dict):
            return [f"{where or '<body>'}: an object in wechatpy's fixture, {type(answer).__name__} here"]
        found = [f"{where}/{key}: missing (wechatpy's fixture has it)" for key in fixture if key not in answer]
        return found + [p for key in fixture if key in answer for p in same_shape(fixture[key], answer[key],
                                                                                    f"{where}/{key}")]
    if isinstance(fixture, list):
        if not isinstance(answer, list):
            return [f"{where}: a list in wechatpy's fixture"]
        return same_shape(fixture[0], answer[0], f"{where}/0") if fixture and answer else []
    kinds = (bool, int, float, str)
    kind = next(k for k in kinds if isinstance(fixture, k))
    return [] if isinstance(answer, kind) and (kind is bool) == isinstance(answer, bool) else \
        [f"{where}: {type(answer).__name__}, wechatpy's fixture has {kind.__name__}"]


# -- driving the emulator --------------------------------------------------------------------------


@dataclass
class Pushes:
    """Callbacks received: query and raw body of each POST."""

    queries: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


def recorder(pushes: Pushes) -> FastAPI:
    app = FastAPI()

    @app.post("/callbacks/acme.wecom")
    async def receive(request: Request) -> Response:
        pushes.queries.append(dict(request.query_params))
        pushes.bodies.append(await request.body())
        return Response(status_code=200)

    return app


@dataclass
class Api:
    """Plain HTTP calls to the emulator, as WeCom's documented clients make them."""

    url: str
    token: str = ""

    def get_token(self, corpid: str, secret: str) -> dict[str, Any]:
        body: dict[str, Any] = requests.get(f"{self.url}/cgi-bin/gettoken", params={"corpid": corpid,
                                            "corpsecret": secret}, timeout=10).json()
        return body

    def post(self, path: str, body: Any, token: str | None = None) -> dict[str, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        params = {"access_token": self.token if token is None else token} if token != "" else {}
        answer: dict[str, Any] = requests.post(f"{self.url}/cgi-bin/{path}", params=params, data=data, timeout=10,
                                               headers={"Content-Type": "application/json"}).json()
        return answer


def send_body(to: str, kind: str = "text", **content: Any) -> dict[str, Any]:
    defaults = {"text": {"content": "明天 10:00 面试"},
                "textcard": {"title": "面试提醒", "description": "明天 10:00", "url": "https://hire.example.com/iv/1"},
                "template_card": {"card_type": "button_interaction", "task_id": CARD_TASK,
                                  "main_title": {"title": "张三 是否到场？"},
                                  "button_list": [{"text": "到场", "style": 1, "key": "attended"},
                                                  {"text": "未到", "style": 2, "key": "absent"}]}}
    return {"touser": to, "agentid": AGENT, "msgtype": kind, kind: {**defaults[kind], **content},
            "enable_duplicate_check": 1, "duplicate_check_interval": 14400}


def drive_everything(api: Api, world: WeComWorld) -> None:
    """Every route, its normal answers and its documented errors, and every push the people cause."""
    settings = world.settings
    app_secret = settings.apps[AGENT]
    assert api.get_token(settings.corp_id, "not-the-secret")["errcode"] == 40001
    assert api.get_token("wwsomeoneelse", app_secret)["errcode"] == 40013
    api.token = api.get_token(settings.corp_id, app_secret)["access_token"]
    contact_token = api.get_token(settings.corp_id, settings.contact_secret)["access_token"]

    # app messages
    text = api.post("message/send", send_body("hr01"))
    assert text["errcode"] == 0 and text["msgid"]
    assert api.post("message/send", send_body("HR01|ghost", "textcard"))["invaliduser"] == "ghost"
    card = api.post("message/send", send_body("iv01", "template_card"))
    assert card["response_code"]
    assert api.post("message/send", send_body("ghost"))["errcode"] == 81013
    assert api.post("message/send", send_body("hr01", content=""))["errcode"] == 44004
    assert api.post("message/send", send_body("hr01", content="面" * 700))["errcode"] != 0  # over 2048 bytes
    assert api.post("message/send", {**send_body("hr01"), "agentid": 1000009})["errcode"] != 0
    assert api.post("message/send", send_body("hr01"), token="")["errcode"] == 41001
    assert api.post("message/send", send_body("hr01"), token="no-such-token")["errcode"] == 40014
    assert api.post("message/send", send_body("hr01"), token=contact_token)["errcode"] == 48002
    assert "Warning" in api.post("message/send", b"{not json")["errmsg"]
    for code in (45009, -1, 42001, 60020, 48002):
        world.fail_next(code)
        assert api.post("message/send", send_body("hr01", content=f"fault {code}"))["errcode"] == code
    world.deny_actions(["message.send"], 60011)
    assert api.post("message/send", send_body("hr01", content="denied"))["errcode"] == 60011
    world.denied.clear()

    # the card: a click pushes template_card_event, the card is updated once, messages recalled, statistics
    world.click("iv01", CARD_TASK, "attended")
    update = {"userids": ["iv01"], "agentid": AGENT, "response_code": card["response_code"],
              "button": {"replace_name": "已确认到场"}}
    assert api.post("message/update_template_card", update)["errcode"] == 0
    assert api.post("message/update_template_card", update)["errcode"] != 0  # a response_code is used once
    assert api.post("message/recall", {"msgid": text["msgid"]})["errcode"] == 0
    assert api.post("message/recall", {"msgid": "no-such-msgid"})["errcode"] != 0
    assert api.post("message/get_statistics", {"time_type": 0})["statistics"]
    assert api.post("message/get_statistics", {"time_type": 7})["errcode"] != 0

    # customer contact: candidates add a recruiter, a staged send, its confirmation, a deletion, the monthly cap
    contact = world.contact
    added = contact.add_contact("hr01", "wmCandidate000001", state="cand-1")
    contact.add_contact("hr01", "wmCandidate000002", state="cand-2", welcome_code=False)
    welcome = {"welcome_code": added["welcome_code"], "text": {"content": "您好，面试安排如下"}}
    assert api.post("externalcontact/send_welcome_msg", welcome, token=contact_token)["errcode"] == 0
    assert api.post("externalcontact/send_welcome_msg", welcome, token=contact_token)["errcode"] == 41051
    staged = {"chat_type": "single", "sender": "hr01", "text": {"content": "明天 10:00 面试，请点链接确认"},
              "attachments": [{"msgtype": "link", "link": {"title": "确认面试", "url": "https://hire.example.com/c/1"}}],
              "external_userid": ["wmCandidate000001", "wmCandidate000002", "wmStranger000003"]}
    created = api.post("externalcontact/add_msg_template", staged, token=contact_token)
    assert created["fail_list"] == ["wmStranger000003"]
    assert api.post("externalcontact/add_msg_template", {**staged, "external_userid": ["not-an-id"]},
                    token=contact_token)["errcode"] == 40096
    listed = api.post("externalcontact/get_groupmsg_list_v2", {"chat_type": "single", "start_time": int(START) - 60,
                      "end_time": int(START) + 60, "filter_type": 2, "limit": 1}, token=contact_token)
    assert listed["group_msg_list"][0]["attachments"][0]["link"]["url"] == "https://hire.example.com/c/1"
    assert api.post("externalcontact/get_groupmsg_list_v2", {"start_time": 2, "end_time": 1})["errcode"] != 0
    by_member = {"msgid": created["msgid"], "userid": "hr01", "limit": 1}
    assert api.post("externalcontact/get_groupmsg_task", {"msgid": created["msgid"]})["task_list"][0]["status"] == 0
    assert api.post("externalcontact/get_groupmsg_send_result", by_member)["send_list"][0]["status"] == 0
    contact.delete_contact("hr01", "wmCandidate000002")  # del_follow_user: the candidate deleted the recruiter
    world.advance(30)
    contact.confirm(created["msgid"], "hr01")
    first = api.post("externalcontact/get_groupmsg_send_result", by_member)
    rest = api.post("externalcontact/get_groupmsg_send_result", {**by_member, "cursor": first["next_cursor"]})
    assert sorted(r["status"] for r in first["send_list"] + rest["send_list"]) == [1, 2]
    assert api.post("externalcontact/get_groupmsg_task", {"msgid": created["msgid"]})["task_list"][0]["status"] == 2
    assert api.post("externalcontact/get_groupmsg_send_result", {"msgid": "nope", "userid": "hr01"})["errcode"] != 0
    contact.set_monthly_cap(1)
    again = api.post("externalcontact/add_msg_template", {**staged, "external_userid": ["wmCandidate000001"]})
    contact.confirm(again["msgid"], "hr01")
    capped = api.post("externalcontact/get_groupmsg_send_result", {"msgid": again["msgid"], "userid": "hr01"})
    assert [r["status"] for r in capped["send_list"]] == [3]
    for _ in range(4):  # at most 3 reminders a day, then 45009
        answer = api.post("externalcontact/remind_groupmsg_send", {"msgid": again["msgid"]}, token=contact_token)
    assert answer["errcode"] == 45009
    assert api.post("externalcontact/cancel_groupmsg_send", {"msgid": again["msgid"]})["errcode"] == 0
    assert api.post("externalcontact/cancel_groupmsg_send", {"msgid": "no-such-msgid"})["errcode"] != 0
    contact.delete_contact("hr01", "wmCandidate000001", by="member")  # del_external_contact
    world.fail_next(45009)
    assert api.post("externalcontact/get_groupmsg_task", {"msgid": created["msgid"]})["errcode"] == 45009
    drive_the_connector(Emulated(world, api.url))
    assert world.deliver_pending_events() >= 4


def drive_the_connector(emulated: Emulated) -> None:
    """The connector's own staff calls (each message type, a task card, check): the answers to its real bodies."""
    def row(kind: str, key: str, payload: dict[str, Any]) -> Action:
        return Action(idempotency_key=key, tenant="acme", connector="acme.wecom", kind=kind, payload=payload,
                      due_at=datetime(2026, 3, 2, 9, tzinfo=UTC))

    links = [{"label": "进入面试", "url": "https://hire.example.com/j/1"},
             {"label": "改期", "url": "https://hire.example.com/r/1"}]
    for n, message_type in enumerate(("template_card", "textcard", "text")):
        connector = emulated.connector(message_type=message_type)
        assert connector.check().ok
        connector.perform(row("send_message", f"ll-staff-{n}", {
            "recipients": ["iv01", "ghost"], "title": "面试提醒", "text": f"今天 10:00 #{n}", "audience": "staff",
            "purpose": "reminder_t1h", "links": links}))
    connector.perform(row("create_task", "ll-task-1", {"assignees": ["hr01"], "title": "张三 未到场",
                                                       "description": "请联系候选人改期", "links": links[1:]}))


@dataclass
class Run:
    world: WeComWorld
    app: FastAPI
    pushes: Pushes


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    pushes = Pushes()
    with LoopbackServer(recorder(pushes)) as receiver:
        settings = EmulatorSettings(callback_url=f"{receiver.url}/callbacks/acme.wecom", deliver_in_background=False)
        world = WeComWorld(settings, now=lambda: START)
        app = create_app(world=world)
        with LoopbackServer(app) as server:
            drive_everything(Api(server.url), world)
    yield Run(world, app, pushes)
    world.close()


def vendor_routes(app: FastAPI) -> set[str]:
    return {f"{method} {route.path}" for route in app.routes
            if isinstance(route, APIRoute) and not route.path.startswith("/_emulator") for method in route.methods}


# -- the checks ------------------------------------------------------------------------------------


def test_every_route_of_the_emulator_has_a_contract_and_was_driven(run: Run) -> None:
    routes = vendor_routes(run.app)
    assert routes == set(SCHEMAS["success"]), f"routes without a contract: {sorted(routes - set(SCHEMAS['success']))}"
    served_ok = {f"{s.method} {s.route}" for s in run.world.served if isinstance(s.body, dict) and
                 s.body.get("errcode") == 0 and "Warning" not in str(s.body.get("errmsg"))}
    assert served_ok == routes


def test_every_response_served_keeps_the_contract(run: Run) -> None:
    served = list(run.world.served)
    codes = {s.body.get("errcode") for s in served if isinstance(s.body, dict)}
    assert {0, -1, 40001, 40013, 40014, 40096, 41001, 41051, 42001, 44004, 45009, 48002, 60011, 60020,
            81013} <= codes, sorted(c for c in codes if c is not None)
    found = {}
    for s in served:
        wrong = answer_problems(s)
        if wrong:
            found[f"{s.method} {s.route} {json.dumps(s.body, ensure_ascii=False)[:200]}"] = wrong
    assert found == EXCEPTIONS


def test_answers_hold_what_wechatpys_fixtures_hold(run: Run) -> None:
    checked = set()
    for s in run.world.served:
        route = f"{s.method} {s.route}"
        if route in WECHATPY_FIXTURES and isinstance(s.body, dict) and s.body.get("errcode") == 0:
            assert same_shape(WECHATPY_FIXTURES[route], s.body) == [], (route, s.body)
            checked.add(route)
    assert checked == set(WECHATPY_FIXTURES)


def opened(run: Run) -> list[tuple[dict[str, str], dict[str, Any], str]]:
    """Each push: its query, its envelope, and its plaintext as wechatpy's WeCom crypto opens it."""
    settings = run.world.settings
    sdk = WeChatCrypto(settings.callback_token, settings.callback_aes_key, settings.corp_id)
    out = []
    for query, body in zip(run.pushes.queries, run.pushes.bodies, strict=True):
        envelope = xmltodict.parse(body)["xml"]
        plain = sdk.decrypt_message(body, query["msg_signature"], query["timestamp"], query["nonce"])
        out.append((query, envelope, plain))
    return out


def test_every_callback_pushed_keeps_the_contract_and_wechatpy_reads_it(run: Run) -> None:
    pushed = opened(run)
    kinds = []
    for query, envelope, plain in pushed:
        assert problems(query, "callback_query") == [] and problems(envelope, "callback_envelope") == []
        assert envelope["ToUserName"] == run.world.settings.corp_id
        event = xmltodict.parse(plain)["xml"]
        assert problems(event, "events", event.get("Event", "?")) == [], event
        message = parse_message(plain)
        if event["Event"] == "change_external_contact":
            assert isinstance(message, ChangeExternalContactEvent)
            assert (message.change_type, message.user_id, message.external_user_id) == (
                event["ChangeType"], event["UserID"], event["ExternalUserID"])
            assert message.state == event.get("State") and message.welcome_code == event.get("WelcomeCode")
            assert envelope["AgentID"] is None  # a corp-level callback (§5.3)
        else:
            assert envelope["AgentID"] == str(AGENT) == event["AgentID"]
        kinds.append(event.get("ChangeType") or event["Event"])
    assert sorted(kinds) == ["add_external_contact", "add_external_contact", "del_external_contact",
                             "del_follow_user", "template_card_event"]


def test_the_contract_catches_a_malformed_send_result() -> None:
    """The `malformed` fault breaks the contract on purpose (the connector quarantines such rows): the check
    must see it, as it sees a key the docs do not show or a wrong type."""
    world = WeComWorld(EmulatorSettings(deliver_in_background=False, faults=Faults(malformed=1.0)), now=lambda: START)
    with LoopbackServer(create_app(world=world)) as server:
        api = Api(server.url)
        api.token = api.get_token(world.settings.corp_id, world.settings.contact_secret)["access_token"]
        world.contact.add_contact("hr01", "wmCandidate000001", welcome_code=False)
        created = api.post("externalcontact/add_msg_template", {"sender": "hr01", "text": {"content": "面试"},
                                                                "external_userid": ["wmCandidate000001"]})
        api.post("externalcontact/get_groupmsg_send_result", {"msgid": created["msgid"], "userid": "hr01"})
    world.close()
    [result] = [s for s in world.served if s.route.endswith("get_groupmsg_send_result")]
    assert answer_problems(result)
    ok = next(s for s in world.served if s.route.endswith("add_msg_template"))
    assert answer_problems(ok) == []
    assert answer_problems(Served(ok.method, ok.route, 200, {**ok.body, "extra": 1}))
    assert answer_problems(Served(ok.method, ok.route, 200, {**ok.body, "msgid": 7}))
    assert answer_problems(Served(ok.method, ok.route, 500, ok.body))
    assert answer_problems(Served("POST", "/cgi-bin/message/send", 200, {"errcode": 45009, "errmsg": "no tail"}))


def test_the_connector_reads_no_field_the_contract_lacks() -> None:
    """Every key the connector reads with `.get("key")` from an answer or an event is in a schema here, once the
    keys of its own are set aside: a connector tested against the emulator needs nothing WeCom does not send."""
    source = "\n".join((Path(__file__).parents[2] / "connectors" / "wecom" / name).read_text(encoding="utf-8")
                       for name in ("client.py", "staff.py", "contact.py", "callbacks.py"))
    read = set(re.findall(r"""\.get\(["'](\w+)["']""", source))
    known: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            known.update(node.get("properties", {}))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(SCHEMAS)
    ours = {"pending", "settled", "staged", "iv", "key", "audience", "reminded", "withdrawn", "echostr"}
    """Keys of our own: the contact_results cursor and the staged sends it carries, and the URL check's query
    (§5.2, a request WeCom makes, not an answer)."""
    assert read - ours <= known, sorted(read - ours - known)


def test_the_schemas_accept_the_documented_examples() -> None:
    """The schemas themselves against independent samples: the reference's §2.1 and §4.1 answers, the error example
    of §2.2, and wechatpy's fixtures (its gettoken fixture leaves out errcode/errmsg, which the doc shows)."""
    examples = {
        "GET /cgi-bin/gettoken": {"errcode": 0, "errmsg": "ok", "access_token": "accesstoken000001",
                                  "expires_in": 7200},
        "POST /cgi-bin/message/send": {"errcode": 0, "errmsg": "ok", "invaliduser": "userid1|userid2",
                                       "invalidparty": "partyid1|partyid2", "invalidtag": "tagid1|tagid2",
                                       "unlicenseduser": "userid3|userid4", "msgid": "xxxx",
                                       "response_code": "xyzxyz"},
        **{route: body for route, body in WECHATPY_FIXTURES.items() if "errcode" in body},
    }
    for route, body in examples.items():
        assert problems(body, "success", route) == [], route
    error = {"errcode": 42001, "errmsg": "access_token expired, hint: [1704941403120931704370802], from ip: "
             "203.0.113.10, more info at https://open.work.weixin.qq.com/devtool/query?e=42001"}
    assert problems(error, "error") == []
