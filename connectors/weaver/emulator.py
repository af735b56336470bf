"""Emulator of a Weaver e-cology 9 server's OpenAPI (weaver-oa.md §2-§8, §13) on Lifeline's emulator base
(`lifeline emulate weaver`): the state and rules live in `emulator_state.WeaverWorld`, the workflow engine in
`emulator_workflow`, the message center and unified todo in `emulator_notices`.

Routes, each answering one of the four families (§3), HTTP 200 even for errors:
- A, EC dev auth: `POST /api/ec/dev/auth/regist`, `POST /api/ec/dev/auth/applytoken` (headers only), and the auth
  refusals of every `/api/*` call (`code -1` token body, `errorCode "002"`, "账号存在异常");
- B, paService: `POST doCreateRequest`, `submitRequest`, `rejectRequest` (form-encoded or JSON; `mainData`,
  `detailData`, `otherParams` JSON strings), `GET getRequestStatus`, `getRequestLog` (`requestId`),
  `getRequestOperatorInfo` (`requestid`);
- C, paService lists: `POST get{ToDo,BeReject,Handled,Processed,My,All}WorkflowRequestList` (a bare array) and `…Count`
  (a bare integer), `pageNo`/`pageSize`/`conditions`;
- message center (`/api/ec/dev/message/{send,alter,delete}CustomMessageSingle`, appid + token, `skipsession`);
- D, ofs: `POST /rest/ofs/{ReceiveRequestInfo,ReceiveTodoRequest,ProcessDoneRequest,ProcessOverRequest,
  deleteUserRequestInfo,deleteRequestInfo}ByJson` (JSON, no token).
Faults (`emulator_state`): gateway 429 and 502 and Resin 500 HTML pages, expired tokens, "not logged in",
a list answered with an error object, lost answers (act, then stall). `/_emulator` inspects (`requests`,
`notices`, `todos`) and drives (`approve`, `send_back`, `resubmit`, `view`, `force_archive`, `delete_request`,
`view_todo`, `fail_next`, `stall_next`, `expire_tokens`, `add_user`, `advance`) the world.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from lifeline_hub.connectors.weaver.emulator_notices import Refused
from lifeline_hub.connectors.weaver.emulator_settings import EmulatorSettings, Json, OaUser
from lifeline_hub.connectors.weaver.emulator_state import (
    NOT_LOGGED_IN,
    AuthError,
    Force,
    WeaverWorld,
    family_a,
    token_gone,
)
from lifeline_hub.connectors.weaver.emulator_workflow import LISTS, PaError
from lifeline_hub.core.emulator import add_vendor_middleware, control_router

__all__ = ["EmulatorSettings", "WeaverWorld", "create_app"]

PA = "/api/workflow/paService"
Auth = Literal["none", "app", "user"]
PAGES = {
    429: ("429 Too Many Requests", "nginx"),
    500: ("500 Internal Server Error", "Resin/4.0.58"),
    502: ("502 Bad Gateway", "nginx"),
}
"""HTML pages a site's gateway (nginx) or app server (Resin) answers instead of JSON (§3, §10)."""


def page(status: int) -> HTMLResponse:
    title, server = PAGES[status]
    detail = "<pre>java.lang.NullPointerException\n\tat weaver.workflow.request.RequestManager.saveMainTable" \
             "</pre>" if status == 500 else ""
    return HTMLResponse(f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center>"
                        f"{detail}<hr><center>{server}</center></body></html>", status_code=status)


@dataclass
class Call:
    """What a route acts on: the merged parameters (query + form or JSON body), the acting user, the client."""

    params: dict[str, str]
    body: Any
    user: OaUser | None
    forced: Force | None
    ip: str


async def read_params(request: Request) -> tuple[dict[str, str], Any]:
    """Query parameters merged with a form-encoded or JSON-object body (JSON values given as objects or arrays are
    kept as the JSON strings e-cology expects); also the parsed JSON body (ofs), else None."""
    out = dict(request.query_params)
    raw = await request.body()
    body: Any = None
    if raw:
        kind = request.headers.get("content-type", "")
        if "json" in kind or raw.lstrip()[:1] in (b"{", b"["):
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if isinstance(body, dict):
                out.update({k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                            for k, v in body.items()})
        else:
            out.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return out, body


async def serve(world: WeaverWorld, request: Request, api: str, auth: Auth,
                act: Callable[[Call], Any], operation: bool = False) -> Response:
    """One vendor call: forced faults and fault draws, the auth headers, the act under the world's lock (its
    refusals answered in their family's body), then a stall when one is due: act first, answer late."""
    params, body = await read_params(request)
    with world.lock:
        world.calls += 1
    forced = world.take_forced(api)
    kind = forced.kind if forced is not None else None
    if kind == "rate_limit" or world.faults.roll("rate_limit"):
        return page(429)
    if kind == "html_500" or world.faults.roll("server_error"):
        return page(500)
    if kind == "html_502":
        return page(502)
    headers = request.headers
    try:
        with world.lock:
            user = None
            if auth != "none":
                if kind == "not_logged_in":
                    raise AuthError(dict(NOT_LOGGED_IN))
                keys = world.authenticate(headers.get("appid", ""), headers.get("token", ""))
                if kind == "token_expired":
                    raise token_gone(headers.get("token", ""))
                if auth == "user":
                    user = world.acting_user(keys, headers.get("userid", ""))
            answer = act(Call(params, body, user, forced, request.client.host if request.client else "127.0.0.1"))
    except AuthError as exc:
        answer = exc.body
    except PaError as exc:
        answer = exc.body(operation)
    except Refused as exc:
        answer = exc.body
    stall = forced.stall if forced is not None else 0.0
    if world.faults.roll("timeout"):
        stall = max(stall, world.faults.faults.timeout_seconds)
    if stall:
        await asyncio.sleep(stall)
    return JSONResponse(answer)


def pa_user(call: Call) -> OaUser:
    """paService's acting user, or `USER_EXCEPTION` (§3)."""
    if call.user is None:
        raise PaError("USER_EXCEPTION", {"msg": "人员信息有误,请检查userid"})
    return call.user


def list_user(call: Call) -> OaUser:
    """A list's acting user, or the family-A account body (a list's own error shape is UNCONFIRMED, §3)."""
    if call.user is None:
        raise AuthError(family_a("该账号存在异常,单点登录失败"))
    return call.user


LIST_ERROR: Json = {"code": "SYSTEM_INNER_ERROR", "errMsg": {"msg": "系统内部错误,请联系管理员"}}
"""What a list answers instead of its array under the `list_error` fault (the shape is UNCONFIRMED, §3)."""


def create_app(settings: EmulatorSettings | None = None, world: WeaverWorld | None = None) -> FastAPI:
    """The emulator app; `app.state.world` is its state. A given `world` brings its own settings."""
    world = world or WeaverWorld(settings)
    app = FastAPI(title="Weaver e-cology emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.world = world
    add_vendor_middleware(app, world)
    engine = world.engine

    @app.post("/api/ec/dev/auth/regist")
    async def regist(request: Request) -> Response:
        return await serve(world, request, "regist", "none", lambda c: world.regist(
            request.headers.get("appid", ""), request.headers.get("cpk", "")))

    @app.post("/api/ec/dev/auth/applytoken")
    async def applytoken(request: Request) -> Response:
        return await serve(world, request, "applytoken", "none", lambda c: world.applytoken(
            request.headers.get("appid", ""), request.headers.get("secret", ""), request.headers.get("time", "")))

    def operation(name: str, act: Callable[[OaUser, dict[str, str]], Json]) -> None:
        async def route(request: Request) -> Response:
            return await serve(world, request, name, "user", lambda c: act(pa_user(c), c.params), operation=True)

        app.post(f"{PA}/{name}", name=name)(route)

    def read(name: str, act: Callable[[OaUser, dict[str, str]], Json]) -> None:
        async def route(request: Request) -> Response:
            return await serve(world, request, name, "user", lambda c: act(pa_user(c), c.params))

        app.get(f"{PA}/{name}", name=name)(route)

    operation("doCreateRequest", engine.create)
    operation("submitRequest", engine.submit)
    operation("rejectRequest", engine.reject)
    read("getRequestStatus", engine.status)
    read("getRequestLog", engine.log)
    read("getRequestOperatorInfo", engine.operators)

    def listing(kind: str, count: bool) -> None:
        name = f"get{kind}WorkflowRequest{'Count' if count else 'List'}"

        def act(call: Call) -> Any:
            user = list_user(call)
            if call.forced is not None and call.forced.kind == "list_error":
                return dict(LIST_ERROR)
            return engine.count(user, kind, call.params) if count else engine.listing(user, kind, call.params)

        async def route(request: Request) -> Response:
            return await serve(world, request, name, "user", act)

        app.post(f"{PA}/{name}", name=name)(route)

    for kind in LISTS:
        listing(kind, count=False)
        listing(kind, count=True)

    def message(name: str, act: Callable[[dict[str, str]], Json]) -> None:
        async def route(request: Request) -> Response:
            return await serve(world, request, name, "app", lambda c: act(c.params))

        app.post(f"/api/ec/dev/message/{name}", name=name)(route)

    message("sendCustomMessageSingle", world.messages.send)
    message("alterCustomMessageSingle", world.messages.alter)
    message("deleteCustomMessageSingle", world.messages.delete)

    def ofs(name: str, act: Callable[[Json, str], Json]) -> None:
        def checked(call: Call) -> Json:
            if not isinstance(call.body, dict):
                return {"syscode": "", "dataType": "WfData", "operType": "Check", "operResult": "0",
                        "message": "请求数据不是JSON对象"}
            return act(call.body, call.ip)

        async def route(request: Request) -> Response:
            return await serve(world, request, name, "none", checked)

        app.post(f"/rest/ofs/{name}", name=name)(route)

    def upsert(endpoint: str) -> Callable[[Json, str], Json]:
        return lambda body, ip: world.ofs.receive(endpoint, body, ip)

    for name in ("ReceiveRequestInfoByJson", "ReceiveTodoRequestByJson", "ProcessDoneRequestByJson",
                 "ProcessOverRequestByJson"):
        ofs(name, upsert(name))
    ofs("deleteUserRequestInfoByJson", world.ofs.delete_user)
    ofs("deleteRequestInfoByJson", world.ofs.delete_flow)

    inspect: dict[str, Callable[[], Any]] = {"requests": engine.inspect, "notices": world.messages.inspect,
                                             "todos": world.ofs.inspect}
    actions = ("advance", "approve", "send_back", "resubmit", "view", "force_archive", "delete_request", "view_todo",
               "fail_next", "stall_next", "expire_tokens", "add_user")
    app.include_router(control_router(world, actions, inspect))
    return app
