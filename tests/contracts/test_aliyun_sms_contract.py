"""Aliyun SMS emulator against the vendor's contract: every response it serves, every receipt it pushes.

Driven over loopback through the connector's own operations (check, sends, the receipts stream,
look-ups before a re-send) and direct calls for the error envelopes. HTTP 200 bodies are checked
against the official SDK models (`alibabacloud_dysmsapi20170525.models`: wire keys from `to_map`,
types from the model's annotations): no key the model lacks, the declared types, and the keys the
reference shows (channels.md §1.4, §1.5) present. Gateway errors and the SmsReport push have no SDK
model: they are checked against `aliyun_sms_schemas.json` (sources cited in it).
"""

from __future__ import annotations

import json
import re
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from alibabacloud_dysmsapi20170525 import models as sdk
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

from lifeline_hub.connectors.aliyun_sms.client import VERSION
from lifeline_hub.connectors.aliyun_sms.emulator import EmulatorSettings, SmsWorld, create_app
from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector
from lifeline_hub.connectors.aliyun_sms.receipts import with_sent
from lifeline_hub.core.connector import CallbackRequest, Checkpoint, Malformed
from lifeline_hub.core.emulator import Faults, LoopbackServer, Served
from lifeline_hub.core.http import VendorError
from lifeline_hub.core.models import DeliveryEvent, utcnow
from lifeline_hub.core.store import Store
from tests.aliyun_sms.sms_helpers import PUSH_TOKEN, make_connector, seed, send_action

SCHEMAS = json.loads((Path(__file__).with_name("aliyun_sms_schemas.json")).read_text(encoding="utf-8"))
MAINLAND, HONG_KONG = "13812345678", "85261234567"

# -- the SDK models as JSON Schema -----------------------------------------------------------------

REQUIRED: dict[type[Any], tuple[str, ...]] = {
    # channels.md §1.4 (the SendSms answer) and §1.2 (`resp.body.code/.message/.request_id`)
    sdk.SendSmsResponseBody: ("Code", "Message", "RequestId", "BizId"),
    # channels.md §1.5: the QuerySendDetails answer
    sdk.QuerySendDetailsResponseBody: ("Code", "Message", "RequestId", "TotalCount", "SmsSendDetailDTOs"),
    sdk.QuerySendDetailsResponseBodySmsSendDetailDTOs: ("SmsSendDetailDTO",),
    # channels.md §1.5 example row; `ReceiveDate` only once the carrier receipt arrived (SendStatus 2/3)
    sdk.QuerySendDetailsResponseBodySmsSendDetailDTOsSmsSendDetailDTO: (
        "PhoneNum",
        "SendStatus",
        "ErrCode",
        "TemplateCode",
        "Content",
        "SendDate",
        "OutId",
    ),
}
VALUES: dict[str, dict[str, Any]] = {
    "SendStatus": {"enum": [1, 2, 3]},  # channels.md §1.5: 1 waiting, 2 failed, 3 delivered
    "TotalCount": {"pattern": "^[0-9]+$"},  # channels.md §1.5: a count, sent as a string
    "SendDate": SCHEMAS["$defs"]["beijing_time"],
    "ReceiveDate": SCHEMAS["$defs"]["beijing_time"],
}
"""Value rules the reference adds to the SDK's types."""
SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


class _Mark:
    """Stands in for a field's value to find its wire key in `to_map()`."""

    def to_map(self) -> _Mark:
        return self


def wire_fields(model: type[Any]) -> dict[str, Any]:
    """{wire key: annotation} of an SDK model (`to_map` names the keys, `__init__` types them)."""
    hints = typing.get_type_hints(model.__init__, vars(sys.modules[model.__module__]))
    fields = {}
    for name, hint in hints.items():
        if name == "return":
            continue
        mark, instance = _Mark(), model()
        setattr(instance, name, [mark] if typing.get_origin(hint) is list else mark)
        (key,) = [k for k, v in instance.to_map().items() if v is mark or (isinstance(v, list) and mark in v)]
        fields[key] = hint
    return fields


def sdk_schema(model: type[Any], required: tuple[str, ...] | None = None) -> dict[str, Any]:
    """JSON Schema of an SDK model: its keys only, their declared types, `REQUIRED` (or `required`) present."""

    def of(hint: Any) -> dict[str, Any]:
        if typing.get_origin(hint) is list:
            return {"type": "array", "items": of(typing.get_args(hint)[0])}
        if hint in SCALARS:
            return {"type": SCALARS[hint]}
        return sdk_schema(hint)

    fields = wire_fields(model)
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(REQUIRED[model] if required is None else required),
        "properties": {key: {**of(hint), **VALUES.get(key, {})} for key, hint in fields.items()},
    }


OK_BODIES = [sdk_schema(sdk.SendSmsResponseBody), sdk_schema(sdk.QuerySendDetailsResponseBody)]
SHARED = set(wire_fields(sdk.SendSmsResponseBody)) & set(wire_fields(sdk.QuerySendDetailsResponseBody))
BUSINESS_ERROR = {
    **sdk_schema(sdk.SendSmsResponseBody, ("Code", "Message", "RequestId")),
    "properties": {k: {"type": "string"} for k in sorted(SHARED)},
}
"""An HTTP 200 `Code` != OK: the keys both models share (channels.md §1.1: the SDK returns it, no raise)."""


def with_defs(name: str) -> dict[str, Any]:
    return {"$defs": SCHEMAS["$defs"], **SCHEMAS[name]}


def problems(schema: dict[str, Any], body: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}" for e in validator.iter_errors(body)]


def rpc_problems(served: Served) -> list[str]:
    """What is wrong with one answer of the RPC endpoint (none: it keeps the contract)."""
    body = served.body
    if served.status >= 400:
        return problems(with_defs("gateway_error"), body)
    if served.status != 200:
        return [f"HTTP {served.status}: the API answers 200 or a gateway error"]
    if not isinstance(body, dict) or body.get("Code") != "OK":
        return problems(BUSINESS_ERROR, body)
    found = [problems(schema, body) for schema in OK_BODIES]
    if any(not p for p in found):
        # the SDK itself reads it back whole: `from_map` then `to_map` loses no key
        model = sdk.SendSmsResponseBody if "BizId" in body else sdk.QuerySendDetailsResponseBody
        round_trip = model().from_map(body).to_map()
        return [] if round_trip == body else [f"the SDK reads {body} back as {round_trip}"]
    return min(found, key=len)


CONTRACTS = {("GET", "/"): rpc_problems, ("POST", "/"): rpc_problems}
"""Per route of the emulator app (method, path template): the check of its answers."""
EXCEPTIONS: dict[str, str] = {}
"""Known differences still served, with their source: none. (The `malformed` fault breaks the contract on
purpose and is driven apart: `test_the_contract_catches_a_corrupted_row_and_a_key_the_model_lacks`.)"""

# -- driving the emulator --------------------------------------------------------------------------


@dataclass
class Pushes:
    """SmsReport pushes received: raw bodies and query strings."""

    bodies: list[bytes] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)


def recorder(pushes: Pushes) -> FastAPI:
    app = FastAPI()

    @app.post("/callbacks/acme.sms")
    async def receive(request: Request) -> dict[str, Any]:
        pushes.bodies.append(await request.body())
        pushes.queries.append(dict(request.query_params))
        return {"code": 0, "msg": "接收成功"}

    return app


@dataclass
class Run:
    world: SmsWorld
    app: FastAPI
    connector: AliyunSmsConnector
    pushes: Pushes
    receipts: list[Any]


def expect_error(call: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(VendorError):
        call(*args, **kwargs)


def drive_everything(url: str, world: SmsWorld, connector: AliyunSmsConnector, push_url: str) -> list[Any]:
    """Every operation of the connector and every error the endpoint answers; returns the receipts read."""
    assert connector.check().ok  # QuerySendDetails, nothing sent yet
    world.set_report_url(f"{push_url}?token={PUSH_TOKEN}")
    handoffs = []
    world.set_outcome(HONG_KONG, "failed", "MK:0001")
    for key, who in (("ll-contract-1", "cand1"), ("ll-contract-2", "cand2")):
        handoffs += connector.perform(send_action(key, who)).handoff["receipts"]["sent"]
    world.set_outcome(MAINLAND, "pending")
    handoffs += connector.perform(send_action("ll-contract-3")).handoff["receipts"]["sent"]
    items = list(connector.read("receipts", with_sent({}, handoffs)))  # rows waiting (1), failed (2), delivered (3)
    assert world.deliver_reports() >= 1  # the SmsReport push of the settled ones
    assert connector.perform(send_action("ll-contract-1", attempts=2)).records  # look-up before a re-send
    v2 = make_connector(url, connector.contacts, signature_version="v2")  # type: ignore[arg-type]
    assert v2.check().ok
    # business errors: HTTP 200 with a Code
    world.fail_next("isv.BUSINESS_LIMIT_CONTROL", action="SendSms")
    assert connector.perform(send_action("ll-contract-4")).detail["error"]
    world.deny_actions(["*"])  # the RAM user lacks the permission
    expect_error(connector.perform, send_action("ll-contract-5"))
    world.deny_actions([])
    client = connector.client
    expect_error(client.send_sms, MAINLAND, "面试助手", "SMS_900000001", {"name": "http://x.com", "time": "9"}, "o")
    expect_error(client.send_sms, MAINLAND, "无此签名", "SMS_900000001", {}, "o")
    # gateway errors: HTTP >= 400
    world.fail_next("Throttling.User", times=9, action="QuerySendDetails")
    expect_error(lambda: list(client.send_details(MAINLAND, "20200101")))
    world.forced.clear()
    world.fail_next("ServiceUnavailable", times=9)
    expect_error(lambda: list(client.send_details(MAINLAND, "20200101")))
    world.forced.clear()
    expect_error(lambda: list(client.send_details(MAINLAND, "20200101")))  # InvalidSendDate: older than 30 days
    expect_error(client.call, "QuerySendDetails", {"PhoneNumber": MAINLAND}, idempotent=True)  # MissingSendDate
    expect_error(client.request, "POST", "/", api="Nope", headers={"x-acs-action": "Nope", "x-acs-version": VERSION})
    assert not make_connector(url, None, secret="wrong-secret").check().ok  # SignatureDoesNotMatch
    assert not make_connector(url, None, key_id="LTAI5tNoSuchKey").check().ok  # InvalidAccessKeyId.NotFound
    for method, path in (("POST", "/"), ("GET", "/"), ("POST", "/no/such/path"), ("PUT", "/")):  # unsigned, unrouted
        assert requests.request(method, url + path, timeout=5).status_code in (400, 404)
    assert (
        requests.post(
            url, data=b"\xff", headers={"content-type": "application/x-www-form-urlencoded"}, timeout=5
        ).status_code
        == 400
    )
    return items


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    world = SmsWorld(EmulatorSettings(push_background=False, delivery_delay_seconds=0, retry_after_ms=10))
    app, pushes = create_app(world=world), Pushes()
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('sms') / 'contacts.db'}")
    store.upgrade()
    with LoopbackServer(app) as server, LoopbackServer(recorder(pushes)) as receiver:
        connector = make_connector(server.url, seed(store))
        items = drive_everything(server.url, world, connector, f"{receiver.url}/callbacks/acme.sms")
    # the servers have stopped: every answer is in `world.served` (it is kept after the body went out)
    yield Run(world, app, connector, pushes, items)
    world.close()
    store.engine.dispose()


def vendor_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and not route.path.startswith("/_emulator")
        for method in route.methods
    }


# -- the checks ------------------------------------------------------------------------------------


def test_every_route_of_the_emulator_has_a_contract_and_was_driven(run: Run) -> None:
    routes = vendor_routes(run.app)
    assert routes == set(CONTRACTS), f"routes without a contract: {sorted(routes - set(CONTRACTS))}"
    assert {(s.method, s.route) for s in run.world.served} >= routes


def test_every_response_served_keeps_the_contract(run: Run) -> None:
    served = list(run.world.served)
    codes = {(s.status, s.body.get("Code")) for s in served if isinstance(s.body, dict)}
    assert {
        (200, "OK"),
        (200, "isv.BUSINESS_LIMIT_CONTROL"),
        (200, "isp.RAM_PERMISSION_DENY"),
        (400, "Throttling.User"),
        (503, "ServiceUnavailable"),
        (400, "SignatureDoesNotMatch"),
        (404, "InvalidAccessKeyId.NotFound"),
        (404, "InvalidAction.NotFound"),
    } <= codes
    assert any(isinstance(s.body, dict) and s.body.get("SmsSendDetailDTOs", {}).get("SmsSendDetailDTO") for s in served)
    found = {}
    for s in served:
        check = CONTRACTS.get((s.method, s.route))
        wrong = (
            check(s) if check else [f"unrouted: {problem}" for problem in problems(with_defs("gateway_error"), s.body)]
        )
        if wrong:
            found[f"{s.method} {s.route} {s.status} {json.dumps(s.body, ensure_ascii=False)[:200]}"] = wrong
    assert found == EXCEPTIONS


def test_every_receipt_push_keeps_the_contract_and_the_connector_reads_it(run: Run) -> None:
    assert run.pushes.bodies, "no SmsReport push was made"
    pushed = []
    for body, query in zip(run.pushes.bodies, run.pushes.queries, strict=True):
        assert problems(with_defs("sms_report_push"), json.loads(body)) == []
        pushed += json.loads(body)
        result = run.connector.handle_callback(
            CallbackRequest({"content-type": "application/json"}, query, body, utcnow())
        )
        assert problems(SCHEMAS["push_reply"], result.reply) == []
        assert len(result.records) == len(json.loads(body))
    assert {r["success"] for r in pushed} == {True, False}


def test_the_receipts_read_back_from_the_query_are_receipts(run: Run) -> None:
    events = [i for i in run.receipts if isinstance(i, DeliveryEvent)]
    assert sorted(e.type.value for e in events) == ["delivered", "failed"]
    assert not [i for i in run.receipts if isinstance(i, Malformed)]
    assert isinstance(run.receipts[-1], Checkpoint) and len(run.receipts[-1].cursor["pending"]) == 1  # still waiting


def test_the_contract_catches_a_corrupted_row_and_a_key_the_model_lacks(tmp_path: Path) -> None:
    """The `malformed` fault breaks the contract on purpose (the connector quarantines such rows): the check
    must see it, as it sees a key the SDK does not model."""
    world = SmsWorld(EmulatorSettings(push_background=False, delivery_delay_seconds=0, faults=Faults(malformed=1.0)))
    store = Store(f"sqlite:///{tmp_path / 'contacts.db'}")
    store.upgrade()
    with LoopbackServer(create_app(world=world)) as server:
        connector = make_connector(server.url, seed(store))
        sent = connector.perform(send_action("ll-contract-9")).handoff["receipts"]["sent"]
        items = list(connector.read("receipts", with_sent({}, sent)))
    world.close()
    store.engine.dispose()
    assert [type(i) for i in items] == [Malformed, Checkpoint]
    rows = [s for s in world.served if isinstance(s.body, dict) and "SmsSendDetailDTOs" in s.body]
    assert rows and all(rpc_problems(s) for s in rows)
    ok = next(s for s in world.served if isinstance(s.body, dict) and "BizId" in s.body)
    assert rpc_problems(ok) == []
    assert rpc_problems(Served("POST", "/", 200, {**ok.body, "Extra": "x"}))
    assert rpc_problems(Served("POST", "/", 200, {**ok.body, "BizId": 1}))
    assert rpc_problems(Served("POST", "/", 400, {"Code": "Throttling.User", "Message": "m"}))


def test_the_connector_reads_no_field_the_models_lack() -> None:
    """Every key the connector reads (`.get("Key")`) from an answer or a push is in the SDK model or the
    reference table, once our own keys are set aside."""
    source = "\n".join(
        (Path(__file__).parents[2] / "connectors" / "aliyun_sms" / name).read_text(encoding="utf-8")
        for name in ("client.py", "records.py", "receipts.py", "send.py", "push.py")
    )
    read = set(re.findall(r"""\.get\(["'](\w+)["']""", source))
    known = (
        set(wire_fields(sdk.SendSmsResponseBody))
        | set(wire_fields(sdk.QuerySendDetailsResponseBody))
        | set(wire_fields(sdk.QuerySendDetailsResponseBodySmsSendDetailDTOs))
        | set(wire_fields(sdk.QuerySendDetailsResponseBodySmsSendDetailDTOsSmsSendDetailDTO))
        | set(SCHEMAS["sms_report_push"]["items"]["properties"])
    )
    ours = {
        "push_token",
        "security_token",
        "token",
        "out_id",
        "candidate_id",
        "send_date",
        "sent_at",
        "interview_id",
        "biz_id",
        "pending",
        "sent",
        "x-acs-retry-after",
        "Retry-After",
    }
    """Keys of our own: connection extras, the push URL's token, the receipts cursor, response headers."""
    assert read - ours <= known, sorted(read - ours - known)
