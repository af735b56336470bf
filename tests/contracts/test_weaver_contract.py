"""Weaver e-cology emulator against the vendor's contract: every answer it serves.

Driven over loopback with plain HTTP through every route (auth, paService operations and reads, lists and counts,
message center, ofs), with normal answers, documented refusals, token errors and injected faults, and through the
world's people (an approver approving, sending back, viewing). Each answer in `world.served` is checked against
`weaver_schemas.json`, written from weaver-oa.md (no official SDK models e-cology's answers): the family its route
belongs to (§3), then the route's own schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from fastapi import FastAPI
from fastapi.routing import APIRoute

from lifeline_hub.connectors.weaver.emulator import create_app
from lifeline_hub.connectors.weaver.emulator_state import WeaverWorld
from lifeline_hub.connectors.weaver.emulator_workflow import LISTS
from lifeline_hub.core.emulator import Faults, LoopbackServer, Served
from tests.contracts.weaver_api import PA, Api, main_data, todo

SCHEMAS = json.loads(Path(__file__).with_name("weaver_schemas.json").read_text(encoding="utf-8"))
START = 1_780_000_000.0
"""2026-05-28T20:26:40Z, any fixed instant: the world's clock is moved only by the test."""
LIST_ROUTE = re.compile(rf"^{PA}/get\w+WorkflowRequest(List|Count)$")
OPERATIONS = {"doCreateRequest", "submitRequest", "rejectRequest"}


def problems(body: Any, *path: str) -> list[str]:
    pointer = "/".join(part.replace("~", "~0").replace("/", "~1") for part in path)
    validator = jsonschema.Draft202012Validator({**SCHEMAS, "$ref": f"#/{pointer}"})
    return [f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}" for e in validator.iter_errors(body)]


def auth_refusal(body: dict[str, Any]) -> list[str] | None:
    """The problems of a family-A refusal any `/api/*` call may answer (None: the body is not one)."""
    if "errorCode" in body:
        return problems(body, "not_logged_in")
    if "msgShowType" in body and body.get("status") is not True:
        return problems(body, "family_a_error")
    return None


def answer_problems(served: Served) -> list[str]:
    """What is wrong with one answer (none: it keeps the contract)."""
    body, route = served.body, served.route
    if served.status != 200:
        if served.status in SCHEMAS["html_statuses"]["enum"] and isinstance(body, bytes) and body.startswith(b"<html"):
            return []
        return [f"HTTP {served.status}: e-cology answers HTTP 200, or an HTML page on a server or gateway failure"]
    if route.startswith("/rest/ofs/"):
        return problems(body, "ofs")
    if route.startswith("/api/ec/dev/auth/"):
        if isinstance(body, dict) and body.get("status") is True:
            return problems(body, "auth", f"{served.method} {route}")
        return problems(body, "family_a_error")
    if route.startswith("/api/ec/dev/message/"):
        refusal = auth_refusal(body) if isinstance(body, dict) else None
        return refusal if refusal is not None else problems(body, "message")
    if LIST_ROUTE.match(route):
        if isinstance(body, dict):
            return problems(body, "list_error")
        return problems(body, "list" if route.endswith("List") else "count")
    if not isinstance(body, dict):
        return ["a paService answer is a JSON object"]
    refusal = auth_refusal(body)
    if refusal is not None:
        return refusal
    operation = route.rsplit("/", 1)[-1] in OPERATIONS
    if body.get("code", "SUCCESS" if "data" in body else None) != "SUCCESS":
        found = problems(body, "pa_error")
        if operation and "reqFailMsg" not in body:
            found.append("an operation's refusal carries reqFailMsg (§3)")
        if not operation and "reqFailMsg" in body:
            found.append("a read carries no reqFailMsg (§3: only operations)")
        return found
    key = f"{served.method} {route}"
    if key not in SCHEMAS["pa_success"]:
        return [f"no contract for {key}"]
    return problems(body, "pa_success", key)


# -- driving the emulator --------------------------------------------------------------------------


def drive_everything(api: Api, world: WeaverWorld) -> None:
    """Every route, its normal answers and its documented refusals, every auth failure and fault."""
    assert api.regist(appid="00000000-0000-0000-0000-000000000000")["status"] is False
    api.login()
    assert api.applytoken(secret="bm90IHJzYQ==")["status"] is False
    api.applytoken()

    # operations
    first = api.create("LL-1")["data"]["requestid"]
    second = api.create("LL-2")["data"]["requestid"]
    assert api.create("LL-1")["code"] == "SUCCESS"  # no idempotency: a duplicate
    for form in ({"workflowId": "0"}, {"requestName": ""}, {"mainData": ""}, {"mainData": main_data(xm="x")},
                 {"mainData": main_data(urgency="7")},
                 {"detailData": '[{"tableDBName":"nope","workflowRequestTableRecords":[]}]'}):
        base = {"workflowId": "1001", "requestName": "x", "mainData": main_data(lifeline_ref="LL-X")}
        assert api.post("doCreateRequest", **{**base, **form})["code"] == "PARAM_ERROR"
    assert api.create("LL-U", user="4242")["code"] == "USER_EXCEPTION"
    assert api.post("submitRequest", requestId=first)["code"] == "PARAM_ERROR"
    assert api.post("submitRequest", requestId=first, workflowId=1001)["code"] == "NO_PERMISSION"
    world.view(first, 102)
    assert api.post("submitRequest", user="102", requestId=first, workflowId=1001, remark="同意")["code"] == "SUCCESS"
    assert api.post("rejectRequest", user="103", requestId=second)["code"] == "NO_PERMISSION"
    assert api.post("rejectRequest", user="102", requestId=second, remark="改时间")["code"] == "SUCCESS"
    draft = api.post("doCreateRequest", workflowId=1001, requestName="LL-3", mainData=main_data(lifeline_ref="LL-3"),
                     otherParams='{"isnextflow":"0"}')["data"]["requestid"]
    world.settings.workflows[0].fields[2].mandatory = True
    assert api.post("submitRequest", requestId=draft, workflowId=1001,
                    otherParams='{"judgeFormMustInput":"1"}')["code"] == "FAIL"

    # reads
    for rid in (first, second, draft):
        assert api.get("getRequestStatus", requestId=rid)["code"] == "SUCCESS"
        assert api.get("getRequestLog", requestId=rid)["code"] == "SUCCESS"
        assert api.get("getRequestOperatorInfo", requestid=rid)["code"] == "SUCCESS"
    assert api.get("getRequestStatus", requestId=1)["code"] == "NO_PERMISSION"
    assert api.get("getRequestLog", requestId=first, user="4242")["code"] == "USER_EXCEPTION"

    # lists and counts: every family, as creator and approver
    for kind in LISTS:
        for user in ("101", "102"):
            assert isinstance(api.post(f"get{kind}WorkflowRequestList", user=user, pageNo=1, pageSize=5), list)
            assert isinstance(api.post(f"get{kind}WorkflowRequestCount", user=user), int)
    assert api.post("getMyWorkflowRequestList", user="199")["status"] is False
    world.fail_next("list_error", api="getToDoWorkflowRequestList")
    assert isinstance(api.post("getToDoWorkflowRequestList"), dict)
    world.configure_faults(Faults(duplicate=1.0))
    assert len(api.post("getMyWorkflowRequestList")) == 5

    # auth failures on every kind of call
    world.configure_faults(Faults())
    assert api.raw("POST", f"{PA}/doCreateRequest", headers={}).json()["errorCode"] == "002"
    world.expire_tokens()
    assert api.post("getMyWorkflowRequestCount")["code"] == -1
    assert api.get("getRequestStatus", requestId=first)["code"] == -1
    assert api.message("sendCustomMessageSingle", code="559", userIdList="102")["code"] == -1
    api.applytoken()
    world.fail_next("not_logged_in", times=2)
    assert api.post("doCreateRequest")["errorCode"] == "002"
    assert api.message("sendCustomMessageSingle", code="559", userIdList="102")["errorCode"] == "002"

    # message center
    assert api.message("sendCustomMessageSingle", code="559", userIdList="102", title="面试改期", context="请处理",
                       linkUrl="https://hub.example.com/r/1?a=1&b=2", targetId="559|iv-1", bizState="0")["status"]
    assert api.message("sendCustomMessageSingle", code="1", userIdList="102")["status"] is False
    assert api.message("alterCustomMessageSingle", targetId="559|iv-1", userIdList="102", bizState="1")["status"]
    assert api.message("alterCustomMessageSingle", targetId="559|none", userIdList="102", bizState="1")[
        "status"] is False
    assert api.message("deleteCustomMessageSingle", targetId="559|iv-1", userIdList="102")["status"]

    # ofs
    assert api.ofs("ReceiveRequestInfoByJson", todo())["operResult"] == "1"
    assert api.ofs("ReceiveTodoRequestByJson", todo(receiver="zhangwei"))["operResult"] == "1"
    assert api.ofs("ProcessDoneRequestByJson", todo(receivets=1_780_000_060_000))["operResult"] == "1"
    assert api.ofs("ProcessOverRequestByJson", todo(receivets=1_780_000_090_000))["operResult"] == "1"
    assert api.ofs("ReceiveRequestInfoByJson", todo(syscode="other"))["operResult"] == "0"
    assert api.ofs("ReceiveRequestInfoByJson", todo(receiver="nobody"))["operResult"] == "0"
    assert api.ofs("deleteUserRequestInfoByJson", {"syscode": "lifeline", "flowid": "iv-42", "userid": "zhangwei"})[
        "operResult"] == "1"
    assert api.ofs("deleteRequestInfoByJson", {"syscode": "lifeline", "flowid": "iv-42"})["operResult"] == "1"
    assert api.ofs("deleteRequestInfoByJson", {"syscode": "lifeline"})["operResult"] == "0"

    # transport faults: HTML pages, lost answers
    for kind in ("html_500", "html_502", "rate_limit"):
        world.fail_next(kind)  # type: ignore[arg-type]
        assert api.raw("POST", f"{PA}/doCreateRequest").status_code in (429, 500, 502)
    world.stall_next(0.6, api="doCreateRequest")
    api.timeout = 0.2
    with pytest.raises(requests.ReadTimeout):
        api.create("LL-LOST")
    api.timeout = 10.0


@dataclass
class Run:
    world: WeaverWorld
    app: FastAPI


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    world = WeaverWorld(now=lambda: START)
    app = create_app(world=world)
    with LoopbackServer(app) as server:
        drive_everything(Api(server.url, world.settings.appids[0]), world)
    yield Run(world, app)
    world.close()


def vendor_routes(app: FastAPI) -> set[str]:
    return {f"{method} {route.path}" for route in app.routes
            if isinstance(route, APIRoute) and not route.path.startswith("/_emulator") for method in route.methods}


def succeeded(served: Served) -> bool:
    body = served.body
    if served.status != 200:
        return False
    if isinstance(body, list | int) and not isinstance(body, bool):
        return True
    return isinstance(body, dict) and (body.get("status") is True or body.get("code") == "SUCCESS"
                                       or body.get("operResult") == "1")


# -- the checks ------------------------------------------------------------------------------------


def test_every_route_of_the_emulator_has_a_contract_and_answered_success(run: Run) -> None:
    routes = vendor_routes(run.app)
    contracted = {*SCHEMAS["auth"], *SCHEMAS["pa_success"]}
    others = {r for r in routes if r not in contracted}
    assert all(LIST_ROUTE.match(r.split(" ")[1]) or "/api/ec/dev/message/" in r or "/rest/ofs/" in r
               for r in others), sorted(others)
    assert {f"{s.method} {s.route}" for s in run.world.served if succeeded(s)} == routes


def test_every_response_served_keeps_the_contract(run: Run) -> None:
    served = list(run.world.served)
    assert {s.status for s in served} == {200, 429, 500, 502}
    families = {"A": 0, "002": 0, "B-error": 0, "list": 0, "count": 0, "D": 0}
    found = {}
    for s in served:
        body = s.body
        families["A"] += isinstance(body, dict) and body.get("code") == -1 and "msgShowType" in body
        families["002"] += isinstance(body, dict) and body.get("errorCode") == "002"
        families["B-error"] += isinstance(body, dict) and body.get("code") in ("PARAM_ERROR", "NO_PERMISSION", "FAIL",
                                                                                "USER_EXCEPTION", "SYSTEM_INNER_ERROR")
        families["list"] += isinstance(body, list)
        families["count"] += isinstance(body, int) and not isinstance(body, bool)
        families["D"] += isinstance(body, dict) and "operResult" in body
        wrong = answer_problems(s)
        if wrong:
            found[f"{s.method} {s.route} {json.dumps(s.body, ensure_ascii=False, default=str)[:200]}"] = wrong
    assert found == {}
    assert all(families.values()), families


def test_the_lost_answer_was_acted_on_and_duplicates_are_counted(run: Run) -> None:
    """The stalled create made its workflow (the answer was lost, not the effect); the plain retry made a
    duplicate, which the bench's `weaver_duplicate_workflows` counts."""
    assert run.world.workflows_created() == 5
    assert run.world.duplicate_workflows() == 1


def test_the_contract_catches_a_malformed_list_row_and_other_deviations() -> None:
    """The `malformed` fault breaks the contract on purpose (the connector quarantines such rows): the check must
    see it, as it sees a key the docs do not show, a wrong type or a JSON 500."""
    world = WeaverWorld(now=lambda: START, settings=None)
    world.configure_faults(Faults(malformed=1.0))
    with LoopbackServer(create_app(world=world)) as server:
        api = Api(server.url, world.settings.appids[0])
        with world.faults.paused():
            api.login()
            api.create("LL-M")
        api.post("getMyWorkflowRequestList")
    world.close()
    [listed] = [s for s in world.served if s.route.endswith("getMyWorkflowRequestList")]
    assert answer_problems(listed)
    ok = next(s for s in world.served if s.route.endswith("doCreateRequest"))
    assert answer_problems(ok) == []
    for body in ({**ok.body, "extra": 1}, {**ok.body, "data": {"requestid": "447473"}},
                 {"code": "SUCCESS", "errMsg": {}}):
        assert answer_problems(Served(ok.method, ok.route, 200, body)), body
    assert answer_problems(Served(ok.method, ok.route, 500, {"code": "SYSTEM_INNER_ERROR"}))
    assert answer_problems(Served(ok.method, ok.route, 200, {"code": "NO_PERMISSION", "errMsg": {"isremark": 2}}))
    assert answer_problems(Served("POST", f"{PA}/getMyWorkflowRequestCount", 200, "12"))
    assert answer_problems(Served("POST", "/rest/ofs/ReceiveTodoRequestByJson", 200, {
        "syscode": "lifeline", "dataType": "WfData", "operType": "AutoNew", "operResult": 1, "message": ""}))


def test_the_schemas_accept_the_documented_examples() -> None:
    """The schemas themselves against the reference's own samples (§2.2, §2.4, §4.2, §4.5, §5, §8.3)."""
    token = {"msg": "获取成功!", "code": 0, "msgShowType": "none", "status": True,
             "token": "e3d7e45b-805c-43c3-9c0c-e452135ae1ea"}
    assert problems(token, "auth", "POST /api/ec/dev/auth/applytoken") == []
    for refusal in ({"msg": "secret解密失败,请检查加密内容.", "code": -1, "msgShowType": "none", "status": False},
                    {"msg": "token不存在或者超时：e3d7e45b-805c-43c3-9c0c-e452135ae1ea", "code": -1,
                     "msgShowType": "none", "status": False},
                    {"msg": "该账号存在异常,单点登录失败", "code": -1, "msgShowType": "none", "status": False}):
        assert problems(refusal, "family_a_error") == []
    assert problems({"msg": "登录信息超时", "errorCode": "002", "status": False}, "not_logged_in") == []
    create = "POST /api/workflow/paService/doCreateRequest"
    official = {"code": "SUCCESS", "data": {"requestid": 2966060}, "errMsg": {}}
    real = {"code": "SUCCESS", "data": {"requestid": 447473}, "errMsg": {},
            "reqFailMsg": {"keyParameters": {}, "msgInfo": {}, "otherParams": {"doAutoApprove": "0"}}}
    assert problems(real, "pa_success", create) == []
    assert problems(official, "pa_success", create) == ["<body>: 'reqFailMsg' is a required property"]
    reject = {"code": "SUCCESS", "errMsg": {},
              "reqFailMsg": {"keyParameters": {}, "msgInfo": {}, "otherParams": {"doAutoApprove": "0"}}}
    assert problems(reject, "pa_success", "POST /api/workflow/paService/rejectRequest") == []
    no_permission = {"code": "NO_PERMISSION", "errMsg": {"isremark": 2}, "reqFailMsg": {
        "keyParameters": {}, "msgInfo": {}, "msgType": "NO_REQUEST_SUBMIT_PERMISSION", "otherParams": {}}}
    assert problems(no_permission, "pa_error") == []
    status = {"data": {"requestId": "447473", "requestName": "x", "workflowId": 1001, "creatorId": "101",
                       "currentNodeId": "10012", "currentNodeType": "1", "isremark": 0, "status": "出口1"},
              "errMsg": {}}  # the official example has no code (§3)
    assert problems(status, "pa_success", "GET /api/workflow/paService/getRequestStatus") == []
    ofs = {"syscode": "lifeline", "dataType": "WfData", "operType": "AutoNew", "operResult": "1", "message": ""}
    assert problems(ofs, "ofs") == []
    assert problems({**ofs, "operResult": "0"}, "ofs")  # a failure names its reason
    assert problems(12, "count") == [] and problems([], "list") == []


def test_the_connector_reads_no_field_the_contract_lacks() -> None:
    """Every key the connector reads with `.get("key")` is in a schema here, once the keys of its own are set aside:
    a connector tested against the emulator needs nothing e-cology does not send."""
    folder = Path(__file__).parents[2] / "connectors" / "weaver"
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.py"))
                       if not p.name.startswith(("emulator", "testing", "sandbox")))
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
    ours = {"requests", "listed_since", "at", "views", "spk", "secret"}
    """Keys of the connector's own: its `workflows` cursor (requests followed, the listing's day, when each was
    handed over, the read receipts already reported) and the connection's extras (a registration made by hand)."""
    assert read - ours <= known, sorted(read - ours - known)
