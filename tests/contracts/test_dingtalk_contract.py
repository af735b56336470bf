"""DingTalk emulator vs the vendor's contracts: every answer it served checked against the official model.

The connector's own streams, actions and check, plus direct calls for what it never calls, drive the
emulator over loopback HTTP through every route, with normal answers, business errors, token errors and
injected faults. Each answer in `world.served` is then checked: new host (`/v1.0`) against the official
SDK model of that call (`dingtalk_sdk`), old host against a JSON Schema written from the reference docs
(`dingtalk_oapi_schemas`), errors against each host's error envelope. A route without a contract fails.
Since the emulator answers no key its contract lacks, the connector's own tests against it show that the
connector needs no field the real API does not return.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import jsonschema
import pytest
import requests
from fastapi.routing import APIRoute

from lifeline_hub.connectors.dingtalk.emulator import create_app
from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector
from lifeline_hub.connectors.dingtalk.testing import Emulated, emulated, handoff
from lifeline_hub.core.connector import ActionResult
from lifeline_hub.core.emulator import Faults, Served
from lifeline_hub.core.http import VendorError
from lifeline_hub.core.models import Action, utcnow
from tests.contracts.dingtalk_oapi_schemas import API_ERROR, OAPI, OAPI_ERROR, TOPAPI_ERROR
from tests.contracts.dingtalk_sdk import calls, check, template

HOUR = 3600.0
GATEWAY_TEXT = {502, 504}
"""Old-host answers that are not JSON: a gateway's 502 page, 504 "Call timeout" (reference §2 IP flood / HTML
answers, §4c: getsendresult of a task with more than 100 recipients times out, S7)."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "POST /v1.0/oauth2/accessToken": ("accessToken", "expireIn"),  # reference §1b
    "POST /v1.0/robot/oToMessages/batchSend": ("processQueryKey",),  # §4e
    "GET /v1.0/robot/oToMessages/readStatus": ("sendStatus", "messageReadInfoList"),  # §4e
    "POST /v1.0/robot/ding/send": ("openDingId",),  # §4f
    "POST /v1.0/robot/ding/readStatuses/query": ("result",),  # §4f
    "POST /v1.0/todo/users/{}/tasks": ("id",),  # §5a
    "GET /v1.0/todo/users/{}/tasks/{}": ("id", "done", "createdTime", "creatorId"),  # §5b
    "GET /v1.0/todo/users/{}/tasks/sources/{}": ("id",),  # §5a
    "PUT /v1.0/todo/users/{}/tasks/{}": ("result",),  # §5b
    "POST /v1.0/todo/users/{}/tasks/list": ("todoCards",),  # §5b
    "POST /v1.0/calendar/users/{}/calendars/{}/events": ("id", "start", "end"),  # §7a
    "GET /v1.0/calendar/users/{}/calendars/{}/events": ("events",),  # §7b
    "GET /v1.0/calendar/users/{}/calendars/{}/events/{}": ("id", "start", "end"),  # §7b
    "GET /v1.0/calendar/users/{}/calendars/{}/events/{}/signin": ("users",),  # §7b
    "POST /v1.0/workflow/processInstances": ("instanceId",),  # §8a
    "GET /v1.0/workflow/processInstances": ("result",),  # §8a
    "POST /v1.0/workflow/processes/instanceIds/query": ("result",),  # §8a
    "POST /v1.0/ats/interviews/query": ("hasMore", "list"),  # §9
    "POST /v1.0/ats/flows/search": ("hasMore", "list"),  # §9
    "GET /v1.0/ats/flows/{}/info": ("flowId", "candidateId"),  # §9
}
"""Keys the reference documents in a new-host answer (the SDK's response models mark none required)."""

EXCEPTIONS: dict[tuple[str, str], str] = {
    ("GET /v1.0/workflow/processInstances", "body.success: bool True, the model has str"):
        "the SDK's GetProcessInstanceResponseBody types `success` as a string, the official doc example answers a "
        "boolean (reference §8a, S1 vs the doc); the emulator follows the doc, the connector reads neither",
}
"""(route, difference) pairs still accepted, each with its source."""

STREAM: dict[str, dict[str, Any]] = {
    "POST /v1.0/gateway/connections/open": {  # §10b (S4/S5): the Stream mode gateway is in no API SDK
        "type": "object", "required": ["endpoint", "ticket"],
        "properties": {"endpoint": {"type": "string", "pattern": "^wss?://"}, "ticket": {"type": "string"}}},
}
"""Contracts of new-host routes the SDK's models do not cover, from the reference."""


def routes() -> list[tuple[str, str]]:
    """(method, path template) of every vendor route the emulator app serves."""
    app = create_app()
    try:
        return [(method, route.path) for route in app.routes if isinstance(route, APIRoute)
                and not route.path.startswith("/_emulator") for method in sorted(route.methods)]
    finally:
        app.state.world.close()


def differences(served: Served) -> list[str]:
    """What in one served answer its contract does not allow."""
    key = f"{served.method} {template(served.route)}"
    if served.route.startswith("/v1.0/"):
        if served.status >= 400:
            return schema_errors(served.body, API_ERROR)
        if key in STREAM:
            return schema_errors(served.body, STREAM[key])
        model = calls()[key].body_model()
        if model is None:
            return [] if served.body is None else ["a body where the SDK expects none"]
        missing = [f"body.{k}: missing" for k in REQUIRED.get(key, ()) if not (
            isinstance(served.body, dict) and k in served.body)]
        return missing + check(served.body, model)
    if isinstance(served.body, bytes) or served.body is None:
        return [] if served.status in GATEWAY_TEXT else [f"HTTP {served.status} without a JSON body"]
    if served.status != 200:
        return [f"HTTP {served.status}: the old host answers 200"]
    if isinstance(served.body, dict) and served.body.get("errcode") == 0:
        return schema_errors(served.body, OAPI[key])
    return schema_errors(served.body, TOPAPI_ERROR if served.route.startswith("/topapi/") else OAPI_ERROR)


def schema_errors(body: Any, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"body{''.join(f'[{p}]' if isinstance(p, int) else f'.{p}' for p in e.absolute_path)}: {e.message:.120}"
            for e in validator.iter_errors(body)]


def has_contract(method: str, path: str) -> bool:
    key = f"{method} {template(path)}"
    return (key in calls() or key in STREAM) if path.startswith("/v1.0/") else f"{method} {path}" in OAPI


# ---------------------------------------------------------------- driving the emulator


def action(kind: str, key: str, payload: dict[str, Any], **extra: Any) -> Action:
    return Action(idempotency_key=key, tenant="acme", connector="acme.dt", kind=kind, interview_id="acme.ats/iv-1",
                  due_at=utcnow(), payload=payload, **extra)


def message(recipients: list[str], key: str, **extra: Any) -> Action:
    return action("send_message", key, {"recipients": recipients, "title": "Interview tomorrow", "text": "Confirm",
                                        "links": [{"label": "Confirm", "url": "https://lifeline.test/c/1"}],
                                        "purpose": "reminder_t1d", **extra})


def drain(connector: DingTalkConnector, stream: str, cursor: dict[str, Any]) -> dict[str, Any]:
    """Read a stream once; the last checkpoint's cursor."""
    last: dict[str, Any] = {}
    for item in connector.read(stream, cursor):
        last = dict(getattr(item, "cursor", None) or last)
    return last


def at(t: float) -> str:
    return datetime.fromtimestamp(t).astimezone().isoformat()


def run_connector(dt: Emulated) -> DingTalkConnector:
    """The connector's own operations: check, every action, every stream (normal answers, business errors)."""
    world, now = dt.world, time.time()
    connector = dt.connector(
        operator_union_id="union1", calendar_owners=["union1"], ats_op_user_id="u1", approval_process_codes=["P"],
        attendance_user_ids=["u2", "u3"], lookback_days=2, horizon_days=5)
    assert connector.check().ok
    world.set_delivery("u4", "failed")
    world.set_delivery("u5", "forbidden")
    work = connector.perform(message(["u1", "u2", "u4", "u5", "ghost"], "ll-msg-1"))
    world.mark_read(int(work.remote_id.split(":")[1]), "u1")
    robot_conn = dt.connector(message_channel="robot")
    robot = robot_conn.perform(message(["u1", "u2", "ghost"], "ll-msg-2"))
    world.mark_push_read(robot.remote_id.split(":", 1)[1], "u1")
    ding = connector.perform(message(["u1", "ghost"], "ll-msg-3", urgent=True))
    sent: list[ActionResult] = [work, robot, ding]
    drain(connector, "receipts", handoff({}, "receipts", *sent))

    task = {"assignees": ["union2"], "title": "Call the candidate", "description": "Did not join.",
            "links": [{"label": "Evidence", "url": "https://lifeline.test/e/1"}]}
    todo = connector.perform(action("create_task", "ll-task-1", task))
    connector.perform(action("create_task", "ll-task-1", task))  # "task exist", then found by its sourceId
    approval = connector.perform(action("create_approval", "ll-appr-1", {
        "originator": "u1", "approvers": ["u2"], "process_code": "P", "title": "Reschedule",
        "fields": {"Reason": "sick"}}))
    connector.perform(action("create_approval", "ll-appr-1", {"originator": "u1", "process_code": "P", "title": "t"},
                             maybe_sent=True))  # looked up first
    cursor = drain(connector, "tasks", handoff({}, "tasks", todo, approval))
    world.set_todo_done(todo.remote_id, by="union2")
    world.decide_approval(approval.remote_id, "agree")
    drain(connector, "tasks", cursor)

    event = {"organizer": "union1", "attendees": ["union2", "union3"], "summary": "Video interview",
             "start_at": at(now - 600), "end_at": at(now + HOUR), "ical_uid": "iv-1@lifeline"}
    made = connector.perform(action("create_calendar_event", "ll-cal-1", event))
    connector.perform(action("update_calendar_event", "ll-cal-2", {**event, "remote_event_id": made.remote_id,
                                                                    "sequence": 1}))
    plain = world.add_calendar_event("union1", "面试", now + 2 * HOUR, now + 3 * HOUR, ["union4"])
    world.check_in(made.remote_id, "union2")
    world.set_attendee_response(made.remote_id, "union3", "declined")
    drain(connector, "calendar", {})
    connector.perform(action("update_calendar_event", "ll-cal-3", {**event, "remote_event_id": plain,
                                                                    "status": "cancelled"}))
    drain(connector, "calendar", {})

    world.add_interview("cand-1", now + HOUR, now + 2 * HOUR, ["u2"], job_id="job-1")
    world.add_interview("cand-2", now - HOUR, now, ["u3"], cancelled=True)
    time.sleep(0.01)
    drain(connector, "interviews", {})

    today = datetime.now(world.tz).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    world.add_leave("u2", today + 8 * HOUR, today + 19 * HOUR)
    world.add_attendance("u3", today + 9 * HOUR, "OnDuty", "Absenteeism")
    world.add_attendance("u3", today + 18 * HOUR, "OffDuty", user_check_time=today + 18 * HOUR + 60)
    drain(connector, "attendance", {})
    return connector


def direct_calls(dt: Emulated, connector: DingTalkConnector) -> None:
    """Routes the connector never calls, with a normal answer and a business error each where there is one."""
    oapi, api, world = connector.http.oapi, connector.http.api, dt.world
    app = world.settings.apps[0]
    requests.post(dt.url + "/v1.0/gateway/connections/open", timeout=5, json={
        "clientId": app.appkey, "clientSecret": app.appsecret, "subscriptions": [{"type": "EVENT", "topic": "*"}]})
    agent = world.settings.apps[0].agent_id
    msg = "/topapi/message/corpconversation"
    task_id = next(iter(world.notices))
    local = world.local(world.now())
    today, tomorrow = f"{local:%Y-%m-%d}", f"{local + timedelta(days=1):%Y-%m-%d}"
    for path, body in ((f"{msg}/getsendprogress", {"agent_id": agent, "task_id": task_id}),
                       (f"{msg}/recall", {"agent_id": agent, "msg_task_id": task_id}),
                       (f"{msg}/recall", {"agent_id": agent, "msg_task_id": 1}),
                       (f"{msg}/asyncsend_v2", {"agent_id": agent, "userid_list": "u1", "msg": {"msgtype": "x"}}),
                       ("/topapi/processinstance/create", {
                           "process_code": "P", "originator_user_id": "u1", "dept_id": -1,
                           "form_component_values": [{"name": "Reason", "value": "old api"}]}),
                       ("/topapi/v2/user/get", {"userid": "u1"}), ("/topapi/v2/user/get", {"userid": "ghost"}),
                       ("/topapi/user/getbyunionid", {"unionid": "union2"}),
                       ("/topapi/v2/user/getbymobile", {"mobile": "13800000003"}),
                       ("/topapi/attendance/getupdatedata", {"userid": "u2", "work_date": f"{today} 00:00:00"}),
                       ("/attendance/listRecord", {"userIds": ["u3"], "checkDateFrom": f"{today} 00:00:00",
                                                   "checkDateTo": f"{tomorrow} 00:00:00"})):
        with contextlib.suppress(VendorError):
            oapi.call("POST", path, json=body)
    instance = next(iter(world.approvals))
    oapi.call("POST", "/topapi/processinstance/get", json={"process_instance_id": instance})
    todo = next(iter(world.todos))
    event = next(iter(world.calendar))
    interview = next(iter(world.interviews_by_id))
    robot_key = next(p.key for p in world.pushes.values() if p.kind == "robot")
    ding_key = next(p.key for p in world.pushes.values() if p.kind == "ding")
    cal = "/v1.0/calendar/users/{unionId}/calendars/primary/events"
    running = world.create_approval(world.apps[world.settings.apps[0].appkey], "P", "u2", -1,
                                    [{"name": "Reason", "value": "x"}], ["u3"], []).instance_id
    for method, path, where, kwargs in (
            ("PUT", "/v1.0/todo/users/{unionId}/tasks/{taskId}", {"unionId": "union1", "taskId": todo},
             {"json": {"done": False}, "params": {"operatorId": "union1"}}),
            ("PUT", "/v1.0/todo/users/{unionId}/tasks/{taskId}", {"unionId": "union1", "taskId": "nope"},
             {"json": {"done": True}}),
            ("GET", "/v1.0/todo/users/{unionId}/tasks/{taskId}", {"unionId": "union1", "taskId": "nope"}, {}),
            ("POST", "/v1.0/todo/users/{unionId}/org/tasks/query", {"unionId": "union2"}, {"json": {"isDone": False}}),
            ("GET", cal + "/{eventId}", {"unionId": "union1", "eventId": event}, {}),
            ("GET", cal + "/{eventId}", {"unionId": "union1", "eventId": "nope"}, {}),
            ("GET", cal + "/{eventId}/attendees", {"unionId": "union1", "eventId": event}, {}),
            ("GET", cal + "/{eventId}/signin", {"unionId": "union1", "eventId": event},
             {"params": {"type": "not_yet_check_in"}}),
            ("POST", cal + "/{eventId}/checkIn", {"unionId": "union2", "eventId": event}, {}),
            ("POST", "/v1.0/workflow/processInstances/terminate", {}, {"json": {
                "processInstanceId": running, "isSystem": False, "remark": "withdrawn", "operatingUserId": "u2"}}),
            ("POST", "/v1.0/workflow/processInstances/terminate", {}, {"json": {"processInstanceId": running}}),
            ("POST", "/v1.0/workflow/processInstances", {}, {"json": {"processCode": "P", "originatorUserId": "x"}}),
            ("PUT", "/v1.0/ats/interviews/{interviewId}/signInInfos", {"interviewId": interview},
             {"params": {"bizCode": "ddats"}, "json": {"signInTimeMillis": world.now_ms()}}),
            ("GET", "/v1.0/robot/oToMessages/readStatus", {}, {"params": {
                "robotCode": connector.robot_code, "processQueryKey": "nope"}}),
            ("POST", "/v1.0/robot/otoMessages/batchRecall", {}, {"json": {
                "robotCode": connector.robot_code, "processQueryKeys": [robot_key, "nope"]}}),
            ("POST", "/v1.0/robot/ding/recall", {}, {"json": {"robotCode": connector.robot_code,
                                                              "openDingId": ding_key}}),
            ("POST", "/v1.0/robot/ding/send", {}, {"json": {"robotCode": "nope", "remindType": 1}}),
            ("POST", "/v1.0/oauth2/accessToken", {}, {"json": {"appKey": "nope", "appSecret": "nope"},
                                                      "auth": False})):
        with contextlib.suppress(VendorError):
            api.call(method, path, path=where, **kwargs)
    with pytest.raises(VendorError):
        oapi.call("GET", "/gettoken", params={"appkey": "nope", "appsecret": "nope"}, auth=False)
    for path in ("/v1.0/nope", "/topapi/nope", "/nope"):
        requests.post(dt.url + path, timeout=5)


def every_route_faulted(dt: Emulated, connector: DingTalkConnector) -> None:
    """Every route once with a made-up token, then without the permission for it, rate-limited, failing (both
    old-host kinds: `-1` and a 502 page), with its token expired: each host's error answers."""
    token = connector.http.api.tokens.get() if connector.http.api.tokens else ""

    def every_route(token: str) -> None:
        for method, path in routes():
            url = dt.url + re.sub(r"\{[^}]*\}", "x", path)
            if path.startswith("/v1.0/"):
                requests.request(method, url, headers={"x-acs-dingtalk-access-token": token}, json={}, timeout=5)
            else:
                requests.request(method, url, params={"access_token": token}, json={}, timeout=5)

    every_route("made-up")
    dt.world.deny_apis(["*"])
    every_route(token)
    dt.world.deny_apis([])
    for faults in (Faults(rate_limit=1.0), Faults(server_error=1.0, seed=1), Faults(server_error=1.0),
                   Faults(expire_token=1.0)):
        dt.world.configure_faults(faults)
        every_route(token)
    dt.world.configure_faults(Faults())


@pytest.fixture(scope="module")
def served() -> Iterator[list[Served]]:
    with emulated(users=5) as dt:
        for i in range(1, 6):
            dt.world.users[f"u{i}"].mobile = f"1380000000{i}"
        connector = run_connector(dt)
        direct_calls(dt, connector)
        every_route_faulted(dt, connector)
        yield list(dt.world.served)


# ---------------------------------------------------------------- the contract


def test_every_route_has_a_contract() -> None:
    missing = [f"{m} {p}" for m, p in routes() if not has_contract(m, p)]
    assert missing == [], f"routes without a contract (an SDK call or a schema in dingtalk_oapi_schemas): {missing}"


def test_a_route_without_a_contract_is_caught() -> None:
    assert not has_contract("POST", "/v1.0/todo/users/{unionId}/tasks/archive")
    assert not has_contract("POST", "/topapi/message/corpconversation/sendbytemplate")
    assert has_contract("GET", "/v1.0/todo/users/{unionId}/tasks/{taskId}")


def test_every_route_served_a_normal_answer_and_an_error(served: list[Served]) -> None:
    def ok(s: Served) -> bool:
        return s.status < 400 and not (isinstance(s.body, dict) and s.body.get("errcode", 0) != 0)

    for method, path in routes():
        answers = [s for s in served if (s.method, s.route) == (method, path)]
        assert any(ok(s) for s in answers), f"{method} {path}: no normal answer served"
        assert any(not ok(s) for s in answers), f"{method} {path}: no error answer served"


def test_every_answer_matches_its_contract(served: list[Served]) -> None:
    found: dict[tuple[str, str], int] = {}
    for answer in served:
        for difference in differences(answer):
            key = (f"{answer.method} {answer.route}", re.sub(r"\[\d+\]", "[]", difference))
            found[key] = found.get(key, 0) + 1
    unexplained = {k: n for k, n in found.items() if k not in EXCEPTIONS}
    assert unexplained == {}, "\n".join(f"{r}: {d} (x{n})" for (r, d), n in sorted(unexplained.items()))
    assert len(served) >= 6 * len(routes())  # each route at least once in every round of errors


def test_the_no_permission_answers_were_served(served: list[Served]) -> None:
    """Reference §2 'no permission', on both hosts (checked against their envelopes above)."""
    codes = {(s.body.get("sub_code") if s.body.get("errcode") == 88 else s.body.get("code"), s.status)
             for s in served if isinstance(s.body, dict)}
    assert {("60011", 200), ("Forbidden.AccessDenied.AccessTokenPermissionDenied", 403)} <= codes
