"""WeChat Official Account emulator (`lifeline emulate wechat`): the API Lifeline calls, as documented in
wecom-wechat.md §9 and channels.md §3.

`GET /cgi-bin/token` and `POST /cgi-bin/stable_token` (access tokens), `POST /cgi-bin/message/template/send`
(template messages: followers only, 43004 otherwise; `client_msg_id` dedupe; numeric `msgid`, some above 2^53)
and `POST /cgi-bin/message/subscribe/bizsend` (one-time subscription notifications: a credit each, 43101
without). Every answer is HTTP 200 with `errcode`/`errmsg` (errmsg ends with WeChat's ` rid: ...`); the token
calls answer without errcode on success. Faults: `rate_limit` 45011, `server_error` -1, `expire_token` 42001,
`timeout` a stall after acting, `duplicate` an event pushed twice. Result events (`TEMPLATESENDJOBFINISH`,
`subscribe_msg_sent_event`) and follower events are pushed, encrypted, to the world's `callback_url`.
`/_emulator` inspects (`messages`, `pushes`) and drives the world.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from lifeline_hub.connectors.wecom.oa_state import EmulatorSettings, Json, OaError, OaWorld
from lifeline_hub.core.emulator import add_vendor_middleware, control_router, json_object

__all__ = ["EmulatorSettings", "OaWorld", "create_app"]


def error_body(exc: OaError) -> Json:
    return {"errcode": exc.code, "errmsg": f"{exc.message} rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}"}


def answer(world: OaWorld, act: Callable[[], Json], stall: bool = True) -> Awaitable[Response]:
    """Run `act` and answer its body (or the error's); a `timeout` fault stalls after acting."""

    async def run() -> Response:
        try:
            body: Json = act()
        except OaError as exc:
            body = error_body(exc)
        if stall and world.faults.roll("timeout"):
            await world.clock.stall(world.faults.faults.timeout_seconds)
        return JSONResponse(body)

    return run()


def api_call(world: OaWorld, api: str, handler: Callable[[Json], Json]) -> Callable[[Request], Awaitable[Response]]:
    """An authenticated JSON POST API: token, quota, faults and permission, then `handler(body)`."""

    async def serve(request: Request) -> Response:
        raw = await json_object(request)

        def act() -> Json:
            world.authenticate(request.query_params.get("access_token"))
            world.gate(api)
            if raw is None:
                raise OaError(47001)
            if not raw:
                raise OaError(44002)
            return handler(raw)

        return await answer(world, act)

    return serve


def vendor_routes(world: OaWorld) -> APIRouter:
    router = APIRouter()

    @router.get("/cgi-bin/token")
    async def token(request: Request) -> Response:
        q = request.query_params

        def act() -> Json:
            if q.get("grant_type") != "client_credential":
                raise OaError(40002)
            value, ttl = world.issue_token(q.get("appid", ""), q.get("secret", ""), stable=False)
            return {"access_token": value, "expires_in": ttl}

        return await answer(world, act, stall=False)

    @router.post("/cgi-bin/stable_token")
    async def stable_token(request: Request) -> Response:
        body = await json_object(request)

        def act() -> Json:
            if body is None:
                raise OaError(47001)
            if body.get("grant_type") != "client_credential":
                raise OaError(40002)
            value, ttl = world.issue_token(str(body.get("appid") or ""), str(body.get("secret") or ""), stable=True,
                                           force_refresh=body.get("force_refresh") is True)
            return {"access_token": value, "expires_in": ttl}

        return await answer(world, act, stall=False)

    router.add_api_route("/cgi-bin/message/template/send", api_call(
        world, "template.send", lambda body: {"errcode": 0, "errmsg": "ok", "msgid": world.send_template(body)}),
        methods=["POST"])
    router.add_api_route("/cgi-bin/message/subscribe/bizsend", api_call(
        world, "subscribe.bizsend", lambda body: {"errcode": 0, "errmsg": "ok", "msgid": world.send_subscribe(body)}),
        methods=["POST"])
    return router


def control(world: OaWorld) -> APIRouter:
    """`/_emulator/*`: inspect and drive the world (never faulted or metered)."""
    inspect: dict[str, Callable[[], Any]] = {"messages": world.message_list, "pushes": world.push_list}
    actions = ("advance", "follow", "unfollow", "block", "set_status", "grant_credits", "push_event",
               "set_callback_url", "deny_apis", "fail_next", "deliver_events")
    return control_router(world, actions, inspect)


def create_app(settings: EmulatorSettings | None = None, world: OaWorld | None = None) -> FastAPI:
    """The emulator app; `app.state.world` is its state. A given `world` brings its own settings."""
    world = world or OaWorld(settings)
    app = FastAPI(title="WeChat Official Account emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.world = world
    add_vendor_middleware(app, world)
    app.include_router(vendor_routes(world))
    app.include_router(control(world))
    return app
