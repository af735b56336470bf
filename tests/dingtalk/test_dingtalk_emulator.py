"""The DingTalk emulator over real HTTP on loopback: tokens, envelopes, rules, QPS, faults, callbacks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import requests
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from lifeline_hub.connectors.dingtalk.crypto import DingTalkCrypto
from lifeline_hub.connectors.dingtalk.emulator import create_app
from lifeline_hub.connectors.dingtalk.emulator_state import DingTalkApp, DingTalkWorld, EmulatorSettings
from lifeline_hub.core.emulator import Faults, LoopbackServer

APPKEY, SECRET, AGENT = "dingapp01", "secret-01", 3001
OTHER_KEY, OTHER_SECRET = "dingapp02", "secret-02"
MSG = "/topapi/message/corpconversation"
T0 = 1_700_000_000.0  # 2023-11-15 06:13:20 +08:00


class Clock:
    """A settable clock; `step` advances it on every read (the QPS clock ticks so tests do not breach)."""

    def __init__(self, start: float, step: float = 0.0) -> None:
        self.t, self.step = start, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


@dataclass
class Env:
    url: str
    world: DingTalkWorld
    clock: Clock
    qps: Clock

    def token(self, appkey: str = APPKEY, secret: str = SECRET) -> str:
        body = requests.get(f"{self.url}/gettoken", params={"appkey": appkey, "appsecret": secret}, timeout=5).json()
        return str(body["access_token"])

    def old(self, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        params = {"access_token": token if token is not None else self.token()}
        reply = requests.post(self.url + path, params=params, json=body or {}, timeout=5)
        assert reply.status_code == 200, reply.text  # the old host answers 200 even on errors
        return dict(reply.json())

    def new(self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None,
            **kwargs: Any) -> requests.Response:
        headers = {"x-acs-dingtalk-access-token": token if token is not None else self.token()}
        headers.update(kwargs.pop("headers", {}))
        timeout = kwargs.pop("timeout", 5)
        return requests.request(method, self.url + path, json=body, headers=headers, timeout=timeout, **kwargs)

    def drive(self, action: str, **kwargs: Any) -> Any:
        reply = requests.post(f"{self.url}/_emulator/drive/{action}", json=kwargs, timeout=5)
        assert reply.status_code == 200, reply.text
        return reply.json()["result"]


Start = Callable[..., Env]


@pytest.fixture
def start() -> Iterator[Start]:
    with ExitStack() as stack:

        def _start(qps_step: float = 0.06, **overrides: Any) -> Env:
            settings = EmulatorSettings(
                apps=[DingTalkApp(appkey=APPKEY, appsecret=SECRET, agent_id=AGENT),
                      DingTalkApp(appkey=OTHER_KEY, appsecret=OTHER_SECRET, agent_id=3002)],
                **{"callback_background": False, **overrides},
            )
            clock, qps = Clock(T0), Clock(0.0, qps_step)
            world = DingTalkWorld(settings, now=clock, qps_clock=qps)
            stack.callback(world.close)
            server = stack.enter_context(LoopbackServer(create_app(world=world)))
            for i in range(1, 6):
                world.add_user(f"u{i}", union_id=f"union{i}", name=f"User {i}", mobile=f"1380000000{i}")
            return Env(server.url, world, clock, qps)

        yield _start


@pytest.fixture
def env(start: Start) -> Env:
    return start()


def card(title: str = "Interview tomorrow") -> dict[str, Any]:
    return {"msgtype": "action_card", "action_card": {
        "title": title, "markdown": "Please confirm", "btn_orientation": "1",
        "btn_json_list": [{"title": "Confirm", "action_url": "https://example.test/c"}]}}


def send(env: Env, users: list[str], title: str = "Interview tomorrow", token: str | None = None) -> int:
    body = env.old(f"{MSG}/asyncsend_v2", {"agent_id": AGENT, "userid_list": ",".join(users), "msg": card(title)},
                   token)
    assert body["errcode"] == 0, body
    return int(body["task_id"])


def todo_body(source_id: str = "", subject: str = "Reschedule interview") -> dict[str, Any]:
    body: dict[str, Any] = {"subject": subject, "executorIds": ["union2"],
                            "detailUrl": {"appUrl": "https://example.test/a", "pcUrl": "https://example.test/p"}}
    return {**body, "sourceId": source_id} if source_id else body


def event_body(start: str = "2023-11-20T10:00:00+08:00", end: str = "2023-11-20T11:00:00+08:00") -> dict[str, Any]:
    return {"summary": "Interview", "start": {"dateTime": start, "timeZone": "Asia/Shanghai"},
            "end": {"dateTime": end, "timeZone": "Asia/Shanghai"},
            "attendees": [{"id": "union2"}, {"id": "union3"}], "reminders": [{"method": "dingtalk", "minutes": 15}]}


# ---------------------------------------------------------------- tokens and envelopes


def test_both_token_flavours_share_the_app_token_and_expire(env: Env) -> None:
    old = requests.get(f"{env.url}/gettoken", params={"appkey": APPKEY, "appsecret": SECRET}, timeout=5).json()
    assert old["errcode"] == 0 and old["errmsg"] == "ok" and old["expires_in"] == 7200 and "request_id" not in old
    new = requests.post(f"{env.url}/v1.0/oauth2/accessToken", json={"appKey": APPKEY, "appSecret": SECRET}, timeout=5)
    assert new.status_code == 200 and new.json() == {"accessToken": old["access_token"], "expireIn": 7200}
    token = old["access_token"]
    env.clock.t += 7201
    expired = env.old(f"{MSG}/getsendprogress", {"agent_id": AGENT, "task_id": 1}, token)
    assert (expired["errcode"], expired["sub_code"]) == (88, "42001") and expired["request_id"]
    plain = env.old("/attendance/list", {}, token)
    assert plain["errcode"] == 42001 and "request_id" not in plain
    reply = env.new("POST", "/v1.0/todo/users/union1/tasks", todo_body(), token)
    assert reply.status_code == 401 and reply.json()["code"] == "InvalidAuthentication"
    assert env.token() != token


def test_bad_credentials_on_both_hosts(env: Env) -> None:
    bad = requests.get(f"{env.url}/gettoken", params={"appkey": APPKEY, "appsecret": "nope"}, timeout=5)
    assert bad.status_code == 200 and bad.json() == {"errcode": 40096, "errmsg": "不合法的appKey或appSecret"}
    missing = requests.get(f"{env.url}/gettoken", data={"appkey": APPKEY}, timeout=5).json()
    assert missing["errcode"] == 40035
    new = requests.post(f"{env.url}/v1.0/oauth2/accessToken", json={"appKey": APPKEY, "appSecret": "x"}, timeout=5)
    assert new.status_code == 400
    assert set(new.json()) == {"requestid", "code", "message"} and new.json()["code"] == "invalidClientIdOrSecret"


def test_missing_and_invalid_tokens_per_host(env: Env) -> None:
    token = env.token()
    blank = requests.post(f"{env.url}{MSG}/getsendresult", headers={"x-acs-dingtalk-access-token": token},
                          json={}, timeout=5).json()  # the old host ignores the header
    assert (blank["errcode"], blank["sub_code"], blank["sub_msg"]) == (88, "40000", "access_token is blank")
    assert blank["errmsg"] == "ding talk error[subcode=40000,submsg=access_token is blank]"
    invalid = env.old(f"{MSG}/getsendresult", {}, "bogus")
    assert (invalid["errcode"], invalid["sub_code"]) == (88, "40014")
    assert env.old("/attendance/listRecord", {}, "bogus")["errcode"] == 40014
    path = "/v1.0/workflow/processInstances?processInstanceId=x"
    bearer = requests.get(env.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    query = requests.get(env.url + path, params={"access_token": token}, timeout=5)
    for reply in (bearer, query):
        assert reply.status_code == 400 and reply.json()["code"] == "AuthenticationFailed.MissingParameter"
    reply = env.new("GET", path, token="bogus")
    assert reply.status_code == 400 and reply.json()["code"] == "InvalidAuthentication"


def test_unknown_routes_answer_like_each_host(env: Env) -> None:
    assert requests.post(f"{env.url}/topapi/nope", timeout=5).json()["errcode"] == 22
    assert requests.get(f"{env.url}/nope", timeout=5).json() == {"errcode": 404, "errmsg": "请求的URI地址不存在"}
    assert requests.get(f"{env.url}/v1.0/nope", timeout=5).status_code == 404


# ---------------------------------------------------------------- work notifications


def test_work_notification_receipts(env: Env) -> None:
    env.drive("set_delivery", userid="u4", outcome="failed")
    env.drive("set_delivery", userid="u5", outcome="forbidden")
    task_id = send(env, ["u1", "u2", "ghost", "u4", "u5"])
    env.drive("mark_read", task_id=task_id, userid="u1")
    result = env.old(f"{MSG}/getsendresult", {"agent_id": AGENT, "task_id": task_id})
    assert result["errcode"] == 0 and result["request_id"]
    assert result["send_result"] == {
        "read_user_id_list": ["u1"], "unread_user_id_list": ["u2"], "invalid_user_id_list": ["ghost"],
        "failed_user_id_list": ["u4"], "forbidden_user_id_list": ["u5"], "invalid_dept_id_list": [],
        "forbidden_list": [{"code": "1430004", "count": 0, "userid": "u5"}],
    }
    progress = env.old(f"{MSG}/getsendprogress", {"agent_id": AGENT, "task_id": task_id})
    assert progress["progress"] == {"progress_in_percent": 100, "status": 2}
    again = send(env, ["u2"])  # same content, same user, same day: filtered
    forbidden = env.old(f"{MSG}/getsendresult", {"agent_id": AGENT, "task_id": again})["send_result"]
    assert forbidden == {  # empty lists are answered as [] (the SDK's AsyncSendResult names all seven)
        "read_user_id_list": [], "unread_user_id_list": [], "invalid_user_id_list": [], "failed_user_id_list": [],
        "forbidden_user_id_list": ["u2"], "invalid_dept_id_list": [],
        "forbidden_list": [{"code": "143106", "count": 1, "userid": "u2"}]}
    assert env.old(f"{MSG}/recall", {"agent_id": AGENT, "msg_task_id": task_id})["errcode"] == 0
    assert env.world.messages()[0]["recalled"] is True
    assert env.world.receipts(task_id)["u1"] == "read"


def test_asyncsend_validation(env: Env) -> None:
    path = f"{MSG}/asyncsend_v2"
    assert env.old(path, {"userid_list": "u1", "msg": card()})["errcode"] == 40035
    assert env.old(path, {"agent_id": 1, "userid_list": "u1", "msg": card()})["errcode"] == 400002
    assert env.old(path, {"agent_id": AGENT, "userid_list": "u1", "msg": {"msgtype": "fax"}})["errcode"] == 400002
    no_buttons = {"msgtype": "action_card", "action_card": {"title": "t", "markdown": "m"}}
    assert env.old(path, {"agent_id": AGENT, "userid_list": "u1", "msg": no_buttons})["errcode"] == 40035
    assert env.old(path, {"agent_id": AGENT, "msg": card()})["errcode"] == 1430000
    form = requests.post(env.url + path, params={"access_token": env.token()}, timeout=5,
                         data={"agent_id": str(AGENT), "userid_list": "u1", "msg": json.dumps(card("form"))})
    assert form.json()["errcode"] == 0


def test_receipts_only_for_100_recipients_and_24_hours(start: Start) -> None:
    env = start(faults=Faults(timeout_seconds=0.2))
    for i in range(6, 102):
        env.world.add_user(f"u{i}")
    big = send(env, [f"u{i}" for i in range(1, 102)])
    reply = requests.post(f"{env.url}{MSG}/getsendresult", params={"access_token": env.token()},
                          json={"agent_id": AGENT, "task_id": big}, timeout=5)
    assert reply.status_code == 504 and reply.text == "Call timeout"
    with pytest.raises(requests.Timeout):
        requests.post(f"{env.url}{MSG}/getsendresult", params={"access_token": env.token()},
                      json={"agent_id": AGENT, "task_id": big}, timeout=0.05)
    small = send(env, [f"u{i}" for i in range(1, 101)], title="other")
    result = env.old(f"{MSG}/getsendresult", {"agent_id": AGENT, "task_id": small})
    assert len(result["send_result"]["unread_user_id_list"]) == 100
    env.drive("advance", seconds=86_401)
    assert env.old(f"{MSG}/getsendresult", {"agent_id": AGENT, "task_id": small})["send_result"] == {}


# ---------------------------------------------------------------- robot and DING


def test_robot_batch_send_and_read_status(env: Env) -> None:
    path = "/v1.0/robot/oToMessages/batchSend"
    body = {"robotCode": APPKEY, "userIds": ["u1", "u2", "ghost"], "msgKey": "sampleMarkdown",
            "msgParam": json.dumps({"title": "Interview", "text": "Tomorrow 10:00"})}
    too_many = env.new("POST", path, {**body, "userIds": [f"u{i}" for i in range(21)]})
    assert too_many.status_code == 400 and too_many.json()["code"] == "invalidParameter"
    sent = env.new("POST", path, body).json()
    assert sent["invalidStaffIdList"] == ["ghost"] and sent["flowControlledStaffIdList"] == []
    key = sent["processQueryKey"]
    assert key.endswith("=")
    env.drive("mark_push_read", key=key, userid="u1")
    status = env.new("GET", "/v1.0/robot/oToMessages/readStatus",
                     params={"robotCode": APPKEY, "processQueryKey": key}).json()
    assert status["sendStatus"] == "SUCCESS"
    infos = {i["userId"]: i for i in status["messageReadInfoList"]}
    assert infos["u1"]["readStatus"] == "READ" and infos["u1"]["readTimestamp"] == int(T0 * 1000)
    assert infos["u2"] == {"name": "User 2", "userId": "u2", "readStatus": "UNREAD", "readTimestamp": 0}
    recall = env.new("POST", "/v1.0/robot/otoMessages/batchRecall", {"robotCode": APPKEY, "processQueryKeys": [key]})
    assert recall.json() == {"successResult": [key], "failedResult": {}}


def test_ding_send_and_read_status(env: Env) -> None:
    path = "/v1.0/robot/ding/send"
    bad = env.new("POST", path, {"robotCode": "x", "remindType": 1, "receiverUserIdList": ["u1"], "content": "c"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid.chatbotId"
    empty = env.new("POST", path, {"robotCode": APPKEY, "remindType": 1, "receiverUserIdList": [], "content": "c"})
    assert empty.json()["code"] == "miss.staffId"
    sms = env.new("POST", path, {"robotCode": APPKEY, "remindType": 2, "content": "c",
                                 "receiverUserIdList": [f"u{i}" for i in range(21)]})
    assert sms.json()["code"] == "ding.receivercount.limit"
    ding = env.new("POST", path, {"robotCode": APPKEY, "remindType": 1, "receiverUserIdList": ["u1", "u2"],
                                  "content": "Your interview starts in 1 hour"}).json()
    assert set(ding) == {"openDingId"}
    env.drive("mark_push_read", key=ding["openDingId"], userid="u2")
    read = env.new("POST", "/v1.0/robot/ding/readStatuses/query", {"robotCode": APPKEY, **ding}).json()
    assert read["success"] is True
    assert read["result"]["robotDingReadInfoList"] == [{"userId": "u1", "readStatus": "UNREAD"},
                                                       {"userId": "u2", "readStatus": "READ"}]


# ---------------------------------------------------------------- todo


def test_todo_source_id_is_unique_per_user(env: Env) -> None:
    path = "/v1.0/todo/users/union1/tasks"
    created = env.new("POST", path, todo_body("interview:42:task"), params={"operatorId": "union1"})
    assert created.status_code == 200
    todo = created.json()
    assert todo["sourceId"] == "interview:42:task" and todo["done"] is False and todo["requestId"]
    again = env.new("POST", path, todo_body("interview:42:task"))
    assert again.status_code == 400
    assert again.json()["code"] == "todo.taskCreate.paramError" and again.json()["message"] == "task exist"
    found = env.new("GET", f"{path}/sources/interview:42:task").json()
    assert found["id"] == todo["id"] and found["tenantId"] == env.world.settings.corp_id
    assert env.new("GET", f"{path}/{todo['id']}").json()["subject"] == "Reschedule interview"
    assert env.new("POST", "/v1.0/todo/users/union2/tasks", todo_body("interview:42:task")).status_code == 200
    assert len(env.world.todo_list()) == 2
    oversize = env.new("POST", path, todo_body(subject="x" * 1025)).json()
    assert oversize["code"] == "todo.taskCreate.paramError" and oversize["message"] == "subject is oversize"
    missing = env.new("GET", f"{path}/sources/unknown")
    assert missing.status_code == 400 and missing.json()["message"] == "task not exist"


def test_todo_update_list_paging_and_completion(env: Env) -> None:
    ids = [env.new("POST", "/v1.0/todo/users/union1/tasks", todo_body(f"s{i}")).json()["id"] for i in range(25)]
    done = env.new("PUT", f"/v1.0/todo/users/union1/tasks/{ids[0]}", {"done": True}, params={"operatorId": "union1"})
    assert done.json() == {"result": True}
    env.drive("set_todo_done", task_id=ids[1], by="union2")
    other = env.new("PUT", f"/v1.0/todo/users/union1/tasks/{ids[2]}", {"done": True},
                    token=env.token(OTHER_KEY, OTHER_SECRET))
    assert other.json()["message"] == "task not belong to bizTag"
    first = env.new("POST", "/v1.0/todo/users/union2/tasks/list", {"isDone": False}).json()
    assert len(first["todoCards"]) == 20 and first["totalCount"] == 23 and first["nextToken"]
    rest = env.new("POST", "/v1.0/todo/users/union2/tasks/list", {"isDone": False, "nextToken": first["nextToken"]})
    assert len(rest.json()["todoCards"]) == 3 and "nextToken" not in rest.json()
    finished = env.new("POST", "/v1.0/todo/users/union2/org/tasks/query", {"isDone": True}).json()["todoCards"]
    assert {c["taskId"] for c in finished} == set(ids[:2])
    events = [c["event"] for c in env.world.callbacks()]
    assert [e["taskId"] for e in events] == ids[:2] and events[0]["EventType"] == "todo_task_change"


# ---------------------------------------------------------------- calendar


def test_calendar_client_token_dedupe_and_check_in(env: Env) -> None:
    path = "/v1.0/calendar/users/union1/calendars/primary/events"
    headers = {"x-client-token": "interview-42-v1"}
    first = env.new("POST", path, event_body(), headers=headers).json()
    second = env.new("POST", path, event_body(), headers=headers).json()
    assert first["id"] == second["id"] and len(env.world.events()) == 1
    assert first["organizer"]["self"] is True and first["reminders"] == [{"method": "dingtalk", "minutes": "15"}]
    assert env.new("POST", path, event_body(), headers={"x-client-token": "other"}).json()["id"] != first["id"]
    moved = env.new("PUT", f"{path}/{first['id']}", event_body("2023-11-21T10:00:00+08:00",
                                                               "2023-11-21T11:00:00+08:00")).json()
    assert moved["id"] == first["id"] and moved["start"]["dateTime"] == "2023-11-21T10:00:00+08:00"
    env.drive("set_attendee_response", event_id=first["id"], union_id="union2", status="declined")
    attendees = env.new("GET", f"/v1.0/calendar/users/union3/calendars/primary/events/{first['id']}/attendees").json()
    assert {a["id"]: (a["responseStatus"], a["self"]) for a in attendees["attendees"]} == {
        "union2": ("declined", False), "union3": ("needsAction", True)}
    assert env.new("POST", f"{path}/{first['id']}/checkIn").json() == {"checkInTime": int(T0 * 1000)}
    env.drive("check_in", event_id=first["id"], union_id="union3")
    signin = env.new("GET", f"{path}/{first['id']}/signin", params={"type": "check_in"}).json()
    assert {u["userId"] for u in signin["users"]} == {"union1", "union3"}
    missing = env.new("GET", f"{path}/{first['id']}/signin", params={"type": "not_yet_check_in"}).json()
    assert [u["userId"] for u in missing["users"]] == ["union2"]
    listed = env.new("GET", path, params={"timeMin": "2023-11-21T00:00:00+08:00", "maxResults": 1}).json()
    assert [e["id"] for e in listed["events"]] == [first["id"]] and "nextToken" not in listed  # last page
    naive = {**event_body(), "start": {"dateTime": "2023-11-22T10:00:00", "timeZone": "Asia/Shanghai"},
             "end": {"dateTime": "2023-11-22T11:00:00", "timeZone": "Asia/Shanghai"}}
    third = env.new("POST", path, naive).json()["id"]
    window = {"timeMin": "2023-11-22T01:59:00Z", "timeMax": "2023-11-22T02:01:00Z"}
    assert [e["id"] for e in env.new("GET", path, params=window).json()["events"]] == [third]
    env.clock.t += 86_401
    assert env.new("POST", path, event_body(), headers=headers).json()["id"] != first["id"]  # the token lived 1 day


# ---------------------------------------------------------------- approvals


def test_approvals_new_and_old_api_share_instances(env: Env) -> None:
    body = {"processCode": "PROC-INTERVIEW", "originatorUserId": "u1", "deptId": 1,
            "formComponentValues": [{"name": "Candidate", "value": "C-42"}],
            "approvers": [{"actionType": "AND", "userIds": ["u2", "u3"]}]}
    first = env.new("POST", "/v1.0/workflow/processInstances", body).json()["instanceId"]
    second = env.new("POST", "/v1.0/workflow/processInstances", body).json()["instanceId"]
    assert first != second  # no idempotency
    got = env.new("GET", "/v1.0/workflow/processInstances", params={"processInstanceId": first}).json()
    assert got["success"] is True and got["result"]["status"] == "RUNNING" and got["result"]["result"] == ""
    assert got["result"]["tasks"][0]["userId"] == "u2"
    env.drive("decide_approval", instance_id=first, result="agree")
    env.drive("decide_approval", instance_id=first, result="refuse", remark="no slot")
    old = env.old("/topapi/processinstance/get", {"process_instance_id": first})["process_instance"]
    assert (old["status"], old["result"], old["originator_userid"]) == ("COMPLETED", "refuse", "u1")
    assert [t["task_result"] for t in old["tasks"]] == ["AGREE", "REFUSE"]
    query = {"processCode": "PROC-INTERVIEW", "startTime": int(T0 * 1000) - 1, "maxResults": 1}
    page1 = env.new("POST", "/v1.0/workflow/processes/instanceIds/query", query).json()["result"]
    assert page1 == {"list": [first], "nextToken": 1}
    running = env.new("POST", "/v1.0/workflow/processes/instanceIds/query", {**query, "statuses": ["RUNNING"]})
    assert running.json()["result"]["list"] == [second]
    created = env.old("/topapi/processinstance/create", {
        "process_code": "PROC-INTERVIEW", "originator_user_id": "u1", "dept_id": -1,
        "form_component_values": [{"name": "Candidate", "value": "C-43"}], "approvers": "u2"})
    assert created["errcode"] == 0 and created["process_instance_id"]
    assert env.old("/topapi/processinstance/create", {"process_code": "P", "originator_user_id": "u1"})[
        "errcode"] == 40035
    ended = env.new("POST", "/v1.0/workflow/processInstances/terminate", {"processInstanceId": second})
    assert ended.json() == {"result": True, "success": True}
    kinds = [(c["event"]["EventType"], c["event"]["type"]) for c in env.world.callbacks()]
    assert kinds.count(("bpms_instance_change", "start")) == 3
    assert ("bpms_instance_change", "finish") in kinds and ("bpms_instance_change", "terminate") in kinds


# ---------------------------------------------------------------- recruiting, attendance, identity


def test_ats_interview_query_pages(env: Env) -> None:
    for day in range(3):
        env.world.add_interview("cand-1", T0 + day * 86400, T0 + day * 86400 + 3600, ["u2"])
    env.world.add_interview("cand-2", T0, T0 + 3600, ["u3"])
    path, body = "/v1.0/ats/interviews/query", {"candidateId": "cand-1", "startTimeBeginMillis": 0,
                                                "startTimeEndMillis": int((T0 + 10 * 86400) * 1000)}
    missing = env.new("POST", path, body, params={"size": 2})
    assert missing.status_code == 400
    first = env.new("POST", path, body, params={"bizCode": "ddats", "size": 2}).json()
    assert first["hasMore"] is True and first["totalCount"] == 3 and len(first["list"]) == 2
    assert set(first["list"][0]) == {"interviewId", "jobId", "creatorUserId", "startTimeMillis", "endTimeMillis",
                                     "cancelled", "interviewers"}
    rest = env.new("POST", path, body, params={"bizCode": "ddats", "size": 2, "nextToken": first["nextToken"]})
    assert rest.json()["hasMore"] is False and len(rest.json()["list"]) == 1
    signed = env.new("PUT", f"/v1.0/ats/interviews/{first['list'][0]['interviewId']}/signInInfos",
                     {"signInTimeMillis": int(T0 * 1000)}, params={"bizCode": "ddats"})
    assert signed.status_code == 200 and signed.content == b""


def test_ats_flows_search_by_modification_and_info(env: Env) -> None:
    first = env.world.add_interview("cand-1", T0 + 86400, T0 + 90000, ["u2"], job_id="job-1")
    env.clock.t += 60
    env.world.add_interview("cand-2", T0 + 86400, T0 + 90000, ["u3"], job_id="job-2")
    env.world.add_interview("cand-1", T0 + 2 * 86400, T0 + 2 * 86400 + 3600, ["u2"], job_id="job-1")  # same flow
    path, window = "/v1.0/ats/flows/search", {"minModifyTimeMills": 0, "maxModifyTimeMills": int(T0 * 1000) + 10}
    assert env.new("POST", path, window).status_code == 400  # opUserId is required
    early = env.new("POST", path, window, params={"opUserId": "u1"}).json()
    assert early["list"] == [] and early["hasMore"] is False
    both = env.new("POST", path, {**window, "maxModifyTimeMills": int(T0 * 1000) + 61_000, "size": 1},
                   params={"opUserId": "u1"}).json()
    assert both["totalCount"] == 2 and both["hasMore"] is True and len(both["list"]) == 1
    info = env.new("GET", f"/v1.0/ats/flows/{both['list'][0]}/info").json()
    assert (info["candidateId"], info["jobId"]) == ("cand-1", "job-1") and set(info) == {
        "flowId", "candidateId", "candidateName", "jobId", "currentStatus", "sourceName", "statId", "createTime"}
    env.clock.t += 60
    env.world.cancel_interview(first)  # a change to an interview modifies its flow
    late = env.new("POST", path, {"minModifyTimeMills": int(T0 * 1000) + 61_000,
                                  "maxModifyTimeMills": int(T0 * 1000) + 200_000}, params={"opUserId": "u1"}).json()
    assert late["list"] == [both["list"][0]]
    assert env.new("GET", "/v1.0/ats/flows/nope/info").status_code == 400


def test_attendance_list_records_and_leave(env: Env) -> None:
    for day in range(3):
        base = T0 + day * 86400
        env.world.add_attendance("u2", base, "OnDuty", "Late", user_check_time=base + 600)
    leave = env.world.add_leave("u3", T0 + 3600, T0 + 12 * 3600)
    body = {"workDateFrom": "2023-11-14 00:00:00", "workDateTo": "2023-11-20 00:00:00", "userIdList": ["u2", "u3"],
            "offset": 0, "limit": 2}
    first = env.old("/attendance/list", body)
    assert first["errcode"] == 0 and first["hasMore"] is True and len(first["recordresult"]) == 2
    assert "request_id" not in first and first["recordresult"][0]["timeResult"] == "Late"
    rows, offset = list(first["recordresult"]), 2
    while True:
        page = env.old("/attendance/list", {**body, "offset": offset})
        rows += page["recordresult"]
        if not page["hasMore"]:
            break
        offset += 2
    assert len(rows) == 5  # three punches of u2, the leave's OnDuty 09:00 and OffDuty 18:00 of u3
    assert [r["sourceType"] for r in rows if r["userId"] == "u3"] == ["APPROVE", "APPROVE"]
    assert {r.get("procInstId") for r in rows if r["userId"] == "u3"} == {leave}
    too_long = env.old("/attendance/list", {**body, "workDateTo": "2023-11-22 00:00:00"})
    assert too_long["errcode"] == 400002
    punches = env.old("/attendance/listRecord", {"userIds": ["u2"], "checkDateFrom": "2023-11-14 00:00:00",
                                                 "checkDateTo": "2023-11-20 00:00:00"})
    assert len(punches["recordresult"]) == 3 and punches["recordresult"][0]["isLegal"] == "Y"
    snapshot = env.old("/topapi/attendance/getupdatedata", {"userid": "u3", "work_date": "2023-11-15 00:00:00"})
    assert snapshot["result"]["approve_list"][0]["procInst_id"] == leave and snapshot["request_id"]
    assert [r["source_type"] for r in snapshot["result"]["attendance_result_list"]] == ["APPROVE", "APPROVE"]


def test_identity_lookups(env: Env) -> None:
    user = env.old("/topapi/v2/user/get", {"userid": "u1", "language": "zh_CN"})["result"]
    assert (user["userid"], user["unionid"], user["name"]) == ("u1", "union1", "User 1")
    assert env.old("/topapi/user/getbyunionid", {"unionid": "union2"})["result"] == {"userid": "u2",
                                                                                     "contact_type": 0}
    assert env.old("/topapi/v2/user/getbymobile", {"mobile": "13800000003"})["result"]["userid"] == "u3"
    assert env.old("/topapi/v2/user/get", {"userid": "ghost"})["errcode"] == 60121


# ---------------------------------------------------------------- QPS and faults


def test_qps_limit_per_app_per_api_answers_real_codes(start: Start) -> None:
    env = start(qps_step=0.0)  # a frozen QPS clock: every call lands in the same second
    old, new = env.token(), env.token()
    codes = [env.old(f"{MSG}/getsendprogress", {"agent_id": AGENT, "task_id": 1}, old)["errcode"] for _ in range(21)]
    assert codes == [0] * 20 + [90018]
    statuses = [env.new("GET", "/v1.0/workflow/processInstances", token=new,
                        params={"processInstanceId": "x"}) for _ in range(21)]
    assert [r.status_code for r in statuses[:20]] == [400] * 20
    assert statuses[20].status_code == 403
    assert statuses[20].json()["code"] == "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"
    other = env.token(OTHER_KEY, OTHER_SECRET)  # another app has its own quota
    assert env.old(f"{MSG}/getsendprogress", {"agent_id": 3002, "task_id": 1}, other)["errcode"] == 0
    breaches = env.world.qps_breaches()
    assert breaches == {(APPKEY, f"POST {MSG}/getsendprogress"): 1,
                        (APPKEY, "GET /v1.0/workflow/processInstances"): 1}
    assert env.world.call_counts()[(APPKEY, f"POST {MSG}/getsendprogress")] == 21
    assert env.world.quota_breaches() == 2 and env.world.api_calls() == sum(env.world.call_counts().values()) > 42
    env.qps.t += 1.0
    assert env.old(f"{MSG}/getsendprogress", {"agent_id": AGENT, "task_id": 1}, old)["errcode"] == 0


def test_rate_limit_and_server_error_faults(env: Env) -> None:
    token = env.token()
    env.world.configure_faults(Faults(rate_limit=1.0))
    assert env.old(f"{MSG}/getsendprogress", {"agent_id": AGENT, "task_id": 1}, token)["errcode"] == 90002
    reply = env.new("GET", "/v1.0/workflow/processInstances", token=token, params={"processInstanceId": "x"})
    assert reply.status_code == 403 and reply.json()["code"] == "Forbidden.AccessDenied.QpsLimitForApi"
    assert env.world.qps_breaches() == {} and env.world.faults.injected["rate_limit"] == 2
    env.world.configure_faults(Faults(server_error=1.0))
    reply = env.new("GET", "/v1.0/workflow/processInstances", token=token, params={"processInstanceId": "x"})
    assert reply.status_code == 500 and reply.json()["code"] == "system.error"
    old = [requests.post(f"{env.url}{MSG}/getsendprogress", params={"access_token": token}, json={}, timeout=5)
           for _ in range(2)]  # the old host alternates a gateway 502 page and errcode -1 "system busy"
    assert [r.status_code for r in old] == [502, 200] and old[1].json()["errcode"] == -1


def test_a_denied_api_answers_each_hosts_no_permission_error(env: Env) -> None:
    """Reference §2 'no permission': old host `errcode 88` + `sub_code "60011"` in an HTTP 200; new host HTTP 403
    `Forbidden.AccessDenied.*`. Only the denied API is refused; `*` refuses all but the token endpoints."""
    token = env.token()
    env.world.deny_apis([f"POST {MSG}/getsendprogress"])
    old = env.old(f"{MSG}/getsendprogress", {"agent_id": AGENT, "task_id": 1}, token)
    assert (old["errcode"], old["sub_code"], old["sub_msg"]) == (88, "60011", "没有调用该接口的权限")
    assert old["request_id"]
    allowed = env.new("GET", "/v1.0/workflow/processInstances", token=token, params={"processInstanceId": "x"})
    assert allowed.status_code == 400  # past the permission check: the instance is unknown
    env.world.deny_apis(["*"])
    denied = env.new("GET", "/v1.0/workflow/processInstances", token=token, params={"processInstanceId": "x"})
    assert denied.status_code == 403
    assert denied.json()["code"] == "Forbidden.AccessDenied.AccessTokenPermissionDenied"
    assert env.token()  # the token endpoints stay open
    env.world.deny_apis([])
    assert env.old(f"{MSG}/getsendprogress", {"agent_id": AGENT, "task_id": 1}, token)["errcode"] == 0


def test_timeout_fault_stalls_after_doing_the_work(start: Start) -> None:
    env = start(faults=Faults(timeout=1.0, timeout_seconds=0.4))
    token = env.token()  # token calls stall too, within the default client timeout
    with pytest.raises(requests.Timeout):
        env.new("POST", "/v1.0/todo/users/union1/tasks", todo_body("s-1"), token=token, timeout=0.1)
    env.world.configure_faults(Faults())
    retry = env.new("POST", "/v1.0/todo/users/union1/tasks", todo_body("s-1"), token=token)
    assert retry.json()["message"] == "task exist"  # the lost response still created the todo


def test_expire_token_fault(env: Env) -> None:
    token = env.token()
    env.world.configure_faults(Faults(expire_token=1.0))
    reply = env.old(f"{MSG}/getsendprogress", {"agent_id": AGENT, "task_id": 1}, token)
    assert (reply["errcode"], reply["sub_code"]) == (88, "42001")
    env.world.configure_faults(Faults())
    assert env.old(f"{MSG}/getsendprogress", {"agent_id": AGENT, "task_id": 1}, token)["sub_code"] == "42001"
    fresh = env.token()
    assert fresh != token
    assert env.old(f"{MSG}/getsendprogress", {"agent_id": AGENT, "task_id": 1}, fresh)["errcode"] == 0


def interviews_listing(env: Env, seed: int, **knobs: float) -> list[Any]:
    for i in range(5):
        env.world.add_interview("cand", T0 + i, T0 + i + 60, ["u1"])
    token = env.token()
    env.world.configure_faults(Faults(seed=seed, **knobs))
    body = {"candidateId": "cand", "startTimeBeginMillis": 0, "startTimeEndMillis": int(T0 * 2000)}
    return list(env.new("POST", "/v1.0/ats/interviews/query", body, token, params={"bizCode": "ddats"}).json()["list"])


def test_malformed_and_duplicate_faults_are_deterministic(start: Start) -> None:
    malformed = interviews_listing(start(), 7, malformed=1.0)
    required = {"interviewId", "startTimeMillis", "endTimeMillis", "cancelled"}
    broken = [r for r in malformed if not required <= set(r) or not isinstance(r["startTimeMillis"], int)
              or not isinstance(r["interviewId"], str) or not isinstance(r["cancelled"], bool)
              or not isinstance(r["endTimeMillis"], int)]
    assert len(malformed) == 5 and len(broken) == 1
    assert interviews_listing(start(), 7, malformed=1.0) == malformed  # same seed, same corruption
    duplicated = interviews_listing(start(), 3, duplicate=1.0)
    ids = [r["interviewId"] for r in duplicated]
    assert len(ids) == 6 and len(set(ids)) == 5


# ---------------------------------------------------------------- callbacks


def receiver(crypto: DingTalkCrypto, failures: int = 0) -> tuple[FastAPI, list[dict[str, Any]]]:
    """A minimal callback receiver: verifies, decrypts, answers the encrypted "success"."""
    app, got, left = FastAPI(), list[dict[str, Any]](), [failures]

    @app.post("/callback")
    async def callback(request: Request) -> Response:
        if left[0]:
            left[0] -= 1
            return JSONResponse({"error": "busy"}, 503)
        q = request.query_params
        body = await request.json()
        got.append(json.loads(crypto.decrypt(body["encrypt"], q["msg_signature"], q["timestamp"], q["nonce"])))
        return JSONResponse(crypto.reply_success())

    return app, got


def test_signed_callbacks_are_delivered_with_retry(start: Start) -> None:
    env = start(callback_owner_key="dingcorp", callback_token="tok", callback_attempts=3)
    crypto = DingTalkCrypto("tok", env.world.settings.callback_aes_key, "dingcorp")
    app, got = receiver(crypto, failures=1)
    with LoopbackServer(app) as server:
        env.drive("set_callback_url", url=f"{server.url}/callback")
        body = {"processCode": "PROC-1", "originatorUserId": "u1",
                "approvers": [{"actionType": "OR", "userIds": ["u2"]}],
                "formComponentValues": [{"name": "Candidate", "value": "C-1"}]}
        instance = env.new("POST", "/v1.0/workflow/processInstances", body).json()["instanceId"]
        assert env.world.deliver_pending_callbacks() == 0  # the receiver answered 503
        assert env.drive("deliver_pending_callbacks") == 1
        env.drive("decide_approval", instance_id=instance, result="agree")
        assert env.world.deliver_pending_callbacks() == 2
    start_event, task_event, finish_event = got
    assert start_event["EventType"] == "bpms_instance_change" and start_event["type"] == "start"
    assert start_event["processInstanceId"] == instance and start_event["corpId"] == env.world.settings.corp_id
    assert task_event["EventType"] == "bpms_task_change" and task_event["staffId"] == "u2"
    assert (finish_event["type"], finish_event["result"]) == ("finish", "agree") and "finishTime" in finish_event
    assert [c["attempts"] for c in env.world.callbacks()] == [2, 1, 1]


def test_duplicate_fault_repeats_callbacks_and_bad_replies_fail(start: Start) -> None:
    env = start(faults=Faults(duplicate=1.0), callback_attempts=2)
    crypto = DingTalkCrypto("lifeline-emulator", env.world.settings.callback_aes_key, APPKEY)
    app, got = receiver(crypto)
    with LoopbackServer(app) as server:
        env.world.set_callback_url(f"{server.url}/callback")
        env.world.send_check_url()
        todo = env.new("POST", "/v1.0/todo/users/union1/tasks", todo_body("dup")).json()
        env.world.set_todo_done(todo["id"])
        assert env.world.deliver_pending_callbacks() == 3
        env.world.set_callback_url(f"{server.url}/missing")
        env.world.set_todo_done(todo["id"], done=False)
        env.world.deliver_pending_callbacks()
        env.world.deliver_pending_callbacks()
    assert got[0] == {"EventType": "check_url"} and got[1] == got[2] and got[1]["done"] is True
    assert [c["state"] for c in env.world.callbacks()][-2:] == ["failed", "failed"]


def test_background_delivery(start: Start) -> None:
    env = start(callback_background=True)
    crypto = DingTalkCrypto("lifeline-emulator", env.world.settings.callback_aes_key, APPKEY)
    app, got = receiver(crypto)
    with LoopbackServer(app) as server:
        env.world.set_callback_url(f"{server.url}/callback")
        env.world.send_check_url()
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
    assert got == [{"EventType": "check_url"}]


# ---------------------------------------------------------------- control endpoints


def test_control_endpoints(env: Env) -> None:
    send(env, ["u1"])
    state = requests.get(f"{env.url}/_emulator/state", timeout=5).json()
    assert state["messages"] == 1 and state["users"] == 5 and state["now"] == T0
    assert {"app": APPKEY, "api": f"POST {MSG}/asyncsend_v2", "count": 1} in state["calls"]
    assert state["api_calls"] == env.world.api_calls() > 0 and state["quota_breaches"] == 0
    users = requests.get(f"{env.url}/_emulator/state/users", timeout=5).json()
    assert users[0] == {"userid": "u1", "unionId": "union1", "name": "User 1", "deptIds": [1]}  # no mobile
    assert requests.get(f"{env.url}/_emulator/state/nope", timeout=5).status_code == 404
    faults = requests.put(f"{env.url}/_emulator/faults", json={"duplicate": 0.5, "seed": 9}, timeout=5)
    assert faults.json()["duplicate"] == 0.5 and env.world.faults.faults.seed == 9
    assert requests.put(f"{env.url}/_emulator/faults", json={"duplicate": 2}, timeout=5).status_code == 422
    assert env.drive("advance", seconds=60) == T0 + 60
    assert env.drive("add_user", userid="u9", name="New")["unionId"].startswith("union")
    event_id = env.drive("add_calendar_event", organizer="union1", summary="Onsite", start=T0, end=T0 + 3600,
                         attendees=["union2"])
    assert env.world.events()[0]["id"] == event_id
    bad = requests.post(f"{env.url}/_emulator/drive/mark_read", json={"task_id": 1, "userid": "u1"}, timeout=5)
    assert bad.status_code == 400
    wrong = requests.post(f"{env.url}/_emulator/drive/set_delivery", json={"userid": "u1", "outcome": "x"},
                          timeout=5)
    assert wrong.status_code == 422
    assert requests.post(f"{env.url}/_emulator/drive/nope", json={}, timeout=5).status_code == 404


# ---------------------------------------------------------------- answers as the official SDK models have them


def test_todo_answers_have_the_sdk_models_keys_and_empty_values_not_nulls(env: Env) -> None:
    body = {**todo_body(), "contentFieldList": [{"fieldKey": "k", "fieldValue": "v"}]}
    created = env.new("POST", "/v1.0/todo/users/union1/tasks", body).json()
    assert created["contentFieldList"] == [{"fieldKey": "k", "fieldValue": "v"}]  # CreateTodoTaskResponseBody has it
    got = env.new("GET", f"/v1.0/todo/users/union1/tasks/{created['id']}").json()
    assert "contentFieldList" not in got and "notifyConfigs" not in got  # GetTodoTaskResponseBody has neither
    assert (got["dueTime"], got["finishTime"], got["sourceId"], got["cardTypeId"]) == (0, 0, "", "")
    assert None not in got.values()


def test_listings_leave_out_the_token_of_a_page_that_is_the_last(env: Env) -> None:
    path = "/v1.0/calendar/users/union1/calendars/primary/events"
    event = env.new("POST", path, event_body()).json()
    assert "status" not in event  # CreateEventResponseBody has none
    listed = env.new("GET", path).json()
    assert "nextToken" not in listed and listed["events"][0]["status"] == "confirmed"
    env.world.add_interview("cand-1", T0 + 60, T0 + 120, ["u2"])
    flows = env.new("POST", "/v1.0/ats/flows/search", {"minModifyTimeMills": 0, "maxModifyTimeMills": int(T0 * 2000)},
                    params={"opUserId": "u1"}).json()
    assert "nextCursor" not in flows and flows["hasMore"] is False


def test_flow_status_is_a_string_and_attendance_approve_id_a_number(env: Env) -> None:
    env.world.add_interview("cand-1", T0 + 60, T0 + 120, ["u2"])
    flow, = env.world.flows
    info = env.new("GET", f"/v1.0/ats/flows/{flow}/info").json()
    assert isinstance(info["currentStatus"], str)  # GetFlowByIdResponseBody.current_status: str
    env.world.add_leave("u2", T0, T0 + 12 * 3600)
    day = datetime.fromtimestamp(T0, env.world.tz).strftime("%Y-%m-%d")
    rows = env.old("/attendance/list", {"workDateFrom": f"{day} 00:00:00", "workDateTo": f"{day} 00:00:00",
                                        "userIdList": ["u2"], "offset": 0, "limit": 50})["recordresult"]
    assert rows and all(isinstance(r["approveId"], int) and isinstance(r["procInstId"], str) for r in rows)
