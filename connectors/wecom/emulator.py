"""Emulator of the WeCom server API (wecom-wechat.md §2-§5, §11) on Lifeline's emulator base (`lifeline emulate
wecom`): the state and rules live in `emulator_state.WeComWorld`, customer contact in `emulator_contact`.

Routes: `GET /cgi-bin/gettoken`, `POST /cgi-bin/message/send`, `message/update_template_card`, `message/recall`,
`message/get_statistics`, and customer contact's. Every answer is HTTP 200 with `errcode`/`errmsg`, errors with
WeCom's per-call tail (hint, caller IP, link). A body that is not a JSON object gets `errcode 0` with WeCom's
"Warning: wrong json format" and nothing done. Faults: `rate_limit` 45009, `server_error` -1, `expire_token`
42001, `timeout` a stall after acting, `duplicate` a callback posted twice. `/_emulator` inspects (`messages`,
`dropped`, `pushes`) and drives (`advance`, `click`, `fail_next`, `stall_next`, `deny_actions`, `add_user`,
`set_callback_url`, `deliver_pending_events`, and customer contact's) the world.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from lifeline_hub.connectors.wecom import emulator_contact
from lifeline_hub.connectors.wecom.emulator_state import (
    CONTACT,
    ERRMSG,
    EmulatorSettings,
    Forced,
    WeComError,
    WeComWorld,
)
from lifeline_hub.core.emulator import add_vendor_middleware, control_router

Json = dict[str, Any]
Act = Callable[[int, Json], Json]
"""What a route does: (the token's owner: AgentId or `CONTACT`, the JSON body) -> the answer."""


def errbody(code: int, request: Request, message: str | None = None) -> Json:
    """WeCom's error body: errmsg with the per-call tail the client must never decide on."""
    ip = request.client.host if request.client else "127.0.0.1"
    tail = (f", hint: [{secrets.randbelow(10**18):018d}], from ip: {ip}, more info at "
            f"https://open.work.weixin.qq.com/devtool/query?e={code}")
    return {"errcode": code, "errmsg": (message or ERRMSG.get(code, "error")) + tail}


def _code(exc: Exception) -> int | None:
    """The errcode of a refusal (`WeComError`, or customer contact's errors carrying an int `code`)."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


async def answer(world: WeComWorld, request: Request, api: str, act: Callable[[], Json]) -> JSONResponse:
    """Meter, fault and force one call, act on it under the world's lock, stall when told to; HTTP 200 always."""
    forced: Forced | None = None
    try:
        if not world.quota.hit(f"{world.settings.corp_id} {api}") or world.faults.roll("rate_limit"):
            raise WeComError(45009)
        if world.faults.roll("server_error"):
            raise WeComError(-1)
        forced = world.take_forced()
        if forced is not None and forced.code:
            raise WeComError(forced.code)
        with world.lock:
            world.check_allowed(api)
            body = act()
    except Exception as exc:
        code = _code(exc)
        if code is None:
            raise
        return JSONResponse(errbody(code, request, str(exc) or None))
    stall = forced.stall if forced is not None else 0.0
    if world.faults.roll("timeout"):
        stall = max(stall, world.faults.faults.timeout_seconds)
    await world.clock.stall(stall)
    return JSONResponse(body)


def vendor_route(app: FastAPI, world: WeComWorld, path: str, api: str, act: Act, contact: bool = False) -> None:
    """`POST path?access_token=` acting with `act`: the token checked first (a customer-contact route also takes
    the contact Secret's token; an app route only an app's), then the JSON body, then `answer`."""

    @app.post(path, name=api)
    async def route(request: Request, access_token: str | None = None) -> JSONResponse:
        try:
            owner = world.owner_of(access_token)
            if owner == CONTACT and not contact:
                raise WeComError(48002)
        except WeComError as exc:
            return JSONResponse(errbody(exc.code, request))
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):  # WeCom answers a body it cannot parse with a warning, and does nothing
            return JSONResponse({"errcode": 0, "errmsg": "ok. Warning: wrong json format. "})
        return await answer(world, request, api, lambda: act(owner, body))


def create_app(settings: EmulatorSettings | None = None, world: WeComWorld | None = None) -> FastAPI:
    """The emulator app; `app.state.world` is its state. A given `world` brings its own settings."""
    world = world or WeComWorld(settings)
    app = FastAPI(title="WeCom emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.world = world
    add_vendor_middleware(app, world)

    @app.get("/cgi-bin/gettoken")
    async def gettoken(request: Request, corpid: str = "", corpsecret: str = "") -> JSONResponse:
        return await answer(world, request, "gettoken", lambda: world.gettoken(corpid, corpsecret))

    vendor_route(app, world, "/cgi-bin/message/send", "message.send", world.send)
    vendor_route(app, world, "/cgi-bin/message/update_template_card", "message.update_template_card",
                 world.update_template_card)
    vendor_route(app, world, "/cgi-bin/message/recall", "message.recall", world.recall)
    vendor_route(app, world, "/cgi-bin/message/get_statistics", "message.get_statistics", world.get_statistics)

    emulator_contact.register(app, world)

    inspect: dict[str, Callable[[], Any]] = {
        "messages": world.inspect_messages, "dropped": lambda: list(world.dropped),
        "pushes": lambda: [{"event": p.event, "status": p.status, "attempts": p.attempts} for p in world.pushes],
        "contact": world.contact.inspect}
    actions = ("advance", "click", "fail_next", "stall_next", "deny_actions", "add_user", "set_callback_url",
               "deliver_pending_events", *emulator_contact.DRIVE)
    app.include_router(control_router(world, actions, inspect))
    return app
