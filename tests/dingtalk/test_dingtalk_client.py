"""DingTalk clients over real HTTP: every documented envelope and error body (reference §1, §2, §4-§8)
becomes the payload or the right typed error; token errors refresh once, QPS errors wait >= 1 s."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from lifeline_hub.connectors.dingtalk.client import DingTalkHttp
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.http import (
    AuthFailed,
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    RateLimiter,
    TokenExpired,
    TransientError,
    VendorError,
)
from lifeline_hub.core.http.testing import FakeClock

Answer = tuple[int, Any]  # status, JSON body (a str is sent as text/html or text/plain)


class Canned:
    """A vendor that answers queued bodies, issues tokens and records what it was sent."""

    def __init__(self) -> None:
        self.answers: deque[Answer] = deque()
        self.token_answers: deque[Answer] = deque()
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.issued = 0
        self.lock = threading.Lock()

    def token(self) -> str:
        with self.lock:
            self.issued += 1
            return f"tok{self.issued:030d}"


def reply(answer: Answer) -> Response:
    status, body = answer
    if isinstance(body, str):
        return PlainTextResponse(body, status, media_type="text/html" if body.startswith("<") else "text/plain")
    if body is None:
        return Response(status_code=status)
    return JSONResponse(body, status)


def make_app(vendor: Canned) -> FastAPI:
    app = FastAPI()

    @app.get("/gettoken")
    async def gettoken() -> Response:
        if vendor.token_answers:
            return reply(vendor.token_answers.popleft())
        return JSONResponse({"errcode": 0, "access_token": vendor.token(), "errmsg": "ok", "expires_in": 7200})

    @app.post("/v1.0/oauth2/accessToken")
    async def access_token() -> Response:
        if vendor.token_answers:
            return reply(vendor.token_answers.popleft())
        return JSONResponse({"accessToken": vendor.token(), "expireIn": 7200})

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def anything(path: str, request: Request) -> Response:
        token = request.query_params.get("access_token") or request.headers.get("x-acs-dingtalk-access-token", "")
        vendor.seen.append((request.method, "/" + path, {"token": token}))
        return reply(vendor.answers.popleft() if vendor.answers else (200, {"errcode": 0, "errmsg": "ok"}))

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Canned]]:
    vendor = Canned()
    with LoopbackServer(make_app(vendor)) as running:
        yield running.url, vendor


@pytest.fixture
def vendor(server: tuple[str, Canned]) -> Canned:
    state = server[1]
    state.answers.clear()
    state.token_answers.clear()
    state.seen.clear()
    state.issued = 0
    return state


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def clients(server: tuple[str, Canned], clock: FakeClock, attempts: int = 4) -> DingTalkHttp:
    return DingTalkHttp.build(oapi_url=server[0], api_url=server[0], appkey="dingappkey", appsecret="s3cret",
                              limiter=RateLimiter(clock=clock.time, sleep=clock.sleep), sleep=clock.sleep,
                              max_attempts=attempts, timeout=(1.0, 2.0))


OLD_PATH = "/topapi/message/corpconversation/getsendresult"
NEW_PATH = "/v1.0/todo/users/{unionId}/tasks"

# (old host?, HTTP status, body from the reference, expected error, expected code)
ERRORS: list[tuple[bool, int, Any, type[VendorError], Any]] = [
    (True, 200, {"errcode": 88, "errmsg": "ding talk error[subcode=40014,submsg=不合法的access_token]",
                 "sub_code": "40014", "sub_msg": "不合法的access_token", "request_id": "15r1m2lb5ai2q"},
     TokenExpired, "40014"),
    (True, 200, {"errcode": 42001, "errmsg": "access_token超时"}, TokenExpired, "42001"),
    (True, 200, {"errcode": 40014, "errmsg": "不合法的access_token"}, TokenExpired, "40014"),
    (True, 200, {"errcode": 88, "errmsg": "ding talk error[subcode=40000,submsg=access_token is blank]",
                 "sub_code": "40000", "sub_msg": "access_token is blank"}, AuthFailed, "40000"),
    (True, 200, {"errcode": 88, "errmsg": "ding talk error[subcode=60011,submsg=没有调用该接口的权限]",
                 "sub_code": "60011", "sub_msg": "没有调用该接口的权限"}, PermissionDenied, "60011"),
    (True, 200, {"errcode": 90018, "errmsg": "当前应用调用该接口的频率超过了限制"}, RateLimited, "90018"),
    (True, 200, {"errcode": 90002, "errmsg": "该接口的所有请求都被暂时禁用了, apiPath(/topapi/x), 请求总次数超过了 300 "
                                           "次, 处罚将在 2024-01-01 10:00:01 结束."}, RateLimited, "90002"),
    (True, 200, {"errcode": 90020, "errmsg": "月调用量超限"}, RateLimited, "90020"),
    (True, 200, {"errcode": -1, "errmsg": "系统繁忙"}, TransientError, "-1"),
    (True, 200, {"errcode": 22, "errmsg": "Invalid method", "request_id": "abc123def456"}, NotFound, "22"),
    (True, 200, {"errcode": 404, "errmsg": "请求的URI地址不存在"}, NotFound, "404"),
    (True, 200, {"errcode": 60121, "errmsg": "找不到该用户"}, NotFound, "60121"),
    (True, 200, {"errcode": 40035, "errmsg": "缺少参数 agent_id"}, InvalidRequest, "40035"),
    (True, 200, {"errcode": 1430000, "errmsg": "接受者为空"}, InvalidRequest, "1430000"),
    (True, 200, {"status": 1111, "wait": 5, "source": "x5", "punish": "deny", "uuid": "u-1"}, RateLimited, None),
    (True, 502, "<html><body><h1>502 Bad Gateway</h1></body></html>", TransientError, None),
    (True, 504, "Call timeout", TransientError, None),
    (False, 400, {"requestid": "A1B2", "code": "InvalidAuthentication", "message": "不合法的access_token"},
     TokenExpired, "InvalidAuthentication"),
    (False, 401, {"requestid": "A1B2", "code": "InvalidAuthentication", "message": "access_token已过期"},
     TokenExpired, "InvalidAuthentication"),
    (False, 400, {"requestid": "A1B2", "code": "AuthenticationFailed.MissingParameter", "message": "缺少参数"},
     AuthFailed, "AuthenticationFailed.MissingParameter"),
    (False, 403, {"requestid": "A1B2", "code": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
                  "message": "调用频率超过限制"}, RateLimited, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"),
    (False, 403, {"requestid": "A1B2", "code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "限流"},
     RateLimited, "Forbidden.AccessDenied.QpsLimitForApi"),
    (False, 403, {"requestid": "A1B2", "code": "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi", "message": "限流"},
     RateLimited, "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi"),
    (False, 403, {"requestid": "A1B2", "code": "Forbidden.AccessDenied.ApiCountLimitForOrg", "message": "超限"},
     RateLimited, "Forbidden.AccessDenied.ApiCountLimitForOrg"),
    (False, 403, {"requestid": "A1B2", "code": "Forbidden.AccessDenied.AccessTokenPermissionDenied",
                  "message": "没有调用该接口的权限", "accessdenieddetail": {"requiredScopes": ["Premium.Ding.Write"]}},
     PermissionDenied, "Forbidden.AccessDenied.AccessTokenPermissionDenied"),
    (False, 400, {"requestid": "A1B2", "code": "todo.taskCreate.paramError", "message": "task exist"}, Conflict,
     "todo.taskCreate.paramError"),
    (False, 400, {"requestid": "A1B2", "code": "todo.taskCreate.lockError", "message": "lock error"}, Conflict,
     "todo.taskCreate.lockError"),
    (False, 400, {"requestid": "A1B2", "code": "todo.taskCreate.flowControlError",
                  "message": "flowControl because of executorId or orgId"}, RateLimited,
     "todo.taskCreate.flowControlError"),
    (False, 400, {"requestid": "A1B2", "code": "todo.taskCreate.paramError", "message": "subject is oversize"},
     InvalidRequest, "todo.taskCreate.paramError"),
    (False, 400, {"requestid": "A1B2", "code": "todo.taskUpdate.paramError", "message": "task not exist"},
     NotFound, "todo.taskUpdate.paramError"),
    (False, 500, {"requestid": "A1B2", "code": "todo.taskCreate.systemError", "message": "system error"},
     TransientError, "todo.taskCreate.systemError"),
    (False, 500, {"requestid": "A1B2", "code": "system.error", "message": "系统错误"}, TransientError, "system.error"),
    (False, 404, {"requestid": "A1B2", "code": "InvalidAction.NotFound", "message": "Specified api is not found"},
     NotFound, "InvalidAction.NotFound"),
    (False, 400, {"requestid": "A1B2", "code": "invalid.chatbotId", "message": "robotCode is invalid"},
     InvalidRequest, "invalid.chatbotId"),
    (False, 400, {"requestid": "A1B2", "code": "ding.receivercount.limit", "message": "too many"}, InvalidRequest,
     "ding.receivercount.limit"),
    (False, 400, {"requestid": "A1B2", "code": "toomuch.msg", "message": "too much"}, RateLimited, "toomuch.msg"),
    (False, 502, "<html>bad gateway</html>", TransientError, None),
]


@pytest.mark.parametrize(("old", "status", "body", "kind", "code"), ERRORS)
def test_error_bodies_raise_typed_errors(server: tuple[str, Canned], vendor: Canned, clock: FakeClock, old: bool,
                                         status: int, body: Any, kind: type[VendorError], code: Any) -> None:
    http = clients(server, clock, attempts=1)
    vendor.answers.append((status, body))
    client, path = (http.oapi, OLD_PATH) if old else (http.api, NEW_PATH)
    with pytest.raises(kind) as info:
        client.call("POST", path, path={"unionId": "union1"}, json={"subject": "s"})
    assert info.value.code == code and info.value.vendor == "dingtalk"
    if isinstance(body, dict) and body.get("request_id"):
        assert info.value.request_id == body["request_id"]
    if isinstance(body, dict) and body.get("requestid"):
        assert info.value.request_id == body["requestid"]


def test_permission_errors_say_what_to_grant(server: tuple[str, Canned], vendor: Canned, clock: FakeClock) -> None:
    http = clients(server, clock)
    vendor.answers.append((403, {"requestid": "R", "code": "Forbidden.AccessDenied.AccessTokenPermissionDenied",
                                 "message": "没有调用该接口的权限",
                                 "accessdenieddetail": {"requiredScopes": ["Premium.Ding.Write"]}}))
    with pytest.raises(PermissionDenied, match=r"Premium\.Ding\.Write") as info:
        http.api.call("POST", "/v1.0/robot/ding/send", json={})
    assert not info.value.retryable and len(vendor.seen) == 1
    vendor.answers.append((200, {"errcode": 88, "sub_code": "60011", "sub_msg": "没有调用该接口的权限", "errmsg": "x"}))
    with pytest.raises(PermissionDenied, match="grant the app this API"):
        http.oapi.call("POST", OLD_PATH, json={})


SUCCESSES: list[tuple[bool, str, str, Any]] = [
    (True, "POST", "/topapi/message/corpconversation/asyncsend_v2",
     {"errcode": 0, "errmsg": "ok", "task_id": 256271667526, "request_id": "4jzllmte0wau"}),
    (True, "POST", "/attendance/list", {"errcode": 0, "errmsg": "ok", "hasMore": False, "recordresult": []}),
    (True, "POST", OLD_PATH, {"errcode": "0", "errmsg": "ok", "send_result": {}}),
    (False, "PUT", "/v1.0/todo/users/u/tasks/t", {"result": True}),
    (False, "GET", "/v1.0/workflow/processInstances", {"result": {"status": "RUNNING"}, "success": "true"}),
    (False, "PUT", "/v1.0/ats/interviews/i/signInInfos", None),
    (False, "POST", "/v1.0/robot/ding/send", {"openDingId": "ding-1"}),
]


@pytest.mark.parametrize(("old", "method", "path", "body"), SUCCESSES)
def test_documented_success_shapes_come_back_as_payloads(server: tuple[str, Canned], vendor: Canned,
                                                         clock: FakeClock, old: bool, method: str, path: str,
                                                         body: Any) -> None:
    http = clients(server, clock)
    vendor.answers.append((200, body))
    client = http.oapi if old else http.api
    assert client.call(method, path) == body


def test_token_flavours_go_where_each_host_wants_them(server: tuple[str, Canned], vendor: Canned,
                                                      clock: FakeClock) -> None:
    http = clients(server, clock)
    http.oapi.call("POST", OLD_PATH, json={})
    vendor.answers.append((200, {"result": True}))
    http.api.call("PUT", "/v1.0/todo/users/u/tasks/t", json={})
    (_, _, old), (_, _, new) = vendor.seen
    assert old["token"] == "tok" + "1".zfill(30) and new["token"] == "tok" + "2".zfill(30)
    assert http.oapi.stats.as_dict()["calls"] == {"GET /gettoken": 1, f"POST {OLD_PATH}": 1}
    assert http.api.stats.as_dict()["calls"] == {"POST /v1.0/oauth2/accessToken": 1,
                                                 "PUT /v1.0/todo/users/u/tasks/t": 1}


def test_token_errors_refresh_once_then_retry(server: tuple[str, Canned], vendor: Canned, clock: FakeClock) -> None:
    http = clients(server, clock)
    vendor.answers.extend([(200, {"errcode": 88, "sub_code": "42001", "sub_msg": "access_token超时", "errmsg": "x"}),
                           (200, {"errcode": 0, "errmsg": "ok", "send_result": {}})])
    assert http.oapi.call("POST", OLD_PATH, json={})["send_result"] == {}
    assert http.oapi.tokens is not None and http.oapi.tokens.refreshes == 2
    assert vendor.seen[0][2]["token"] != vendor.seen[1][2]["token"]
    expired = (401, {"requestid": "R", "code": "InvalidAuthentication", "message": "access_token已过期"})
    vendor.answers.extend([expired, expired])
    with pytest.raises(TokenExpired):
        http.api.call("GET", "/v1.0/workflow/processInstances")
    assert len(vendor.seen) == 4  # one refresh, one retry, then the error


def test_qps_errors_back_off_at_least_a_second(server: tuple[str, Canned], vendor: Canned, clock: FakeClock) -> None:
    http = clients(server, clock)
    vendor.answers.extend([(200, {"errcode": 90018, "errmsg": "qps"}), (200, {"errcode": 0, "errmsg": "ok"})])
    http.oapi.call("POST", OLD_PATH, json={})
    vendor.answers.extend([(403, {"requestid": "R", "code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "x"}),
                           (200, {"result": True})])
    assert http.api.call("PUT", "/v1.0/todo/users/u/tasks/t", json={}) == {"result": True}
    assert [s for s in clock.sleeps if s >= 1.0] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert http.oapi.stats.rate_limited == 1 and http.api.stats.rate_limited == 1


def test_monthly_quota_and_ip_block_are_not_retried_in_process(server: tuple[str, Canned], vendor: Canned,
                                                                clock: FakeClock) -> None:
    http = clients(server, clock)
    vendor.answers.append((200, {"errcode": 90020, "errmsg": "quota"}))
    with pytest.raises(RateLimited) as info:
        http.oapi.call("POST", OLD_PATH, json={})
    assert not info.value.retryable
    vendor.answers.append((200, {"status": 1111, "wait": 5, "source": "x5", "punish": "deny", "uuid": "u"}))
    with pytest.raises(RateLimited) as info:
        http.oapi.call("POST", OLD_PATH, json={})
    assert info.value.retry_after == 300.0 and len(vendor.seen) == 2


def test_bad_credentials_on_both_token_endpoints(server: tuple[str, Canned], vendor: Canned, clock: FakeClock) -> None:
    http = clients(server, clock)
    vendor.token_answers.append((200, {"errcode": 40096, "errmsg": "不合法的appKey或appSecret"}))
    assert http.oapi.tokens is not None and http.api.tokens is not None
    with pytest.raises(AuthFailed, match="credentials rejected"):
        http.oapi.tokens.get()
    vendor.token_answers.append((400, {"requestid": "R", "code": "invalidClientIdOrSecret",
                                       "message": "无效的clientId或者clientSecret"}))
    with pytest.raises(AuthFailed) as info:
        http.api.tokens.get()
    assert "s3cret" not in str(info.value)


def test_idempotent_reads_retry_server_errors_but_plain_writes_do_not(server: tuple[str, Canned], vendor: Canned,
                                                                      clock: FakeClock) -> None:
    http = clients(server, clock)
    vendor.answers.extend([(200, {"errcode": -1, "errmsg": "系统繁忙"}), (200, {"errcode": 0, "errmsg": "ok"})])
    assert http.oapi.call("POST", OLD_PATH, json={}, idempotent=True)["errcode"] == 0
    vendor.answers.extend([(500, {"requestid": "R", "code": "system.error", "message": "系统错误"})])
    with pytest.raises(TransientError):
        http.api.call("POST", "/v1.0/workflow/processInstances", json={})
    assert [m for m, p, _ in vendor.seen if p == "/v1.0/workflow/processInstances"] == ["POST"]
