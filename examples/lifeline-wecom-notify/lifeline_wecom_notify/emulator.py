"""Emulator of the WeCom server API for app messages (wecom-wechat.md §2-§4, §11), on Lifeline's emulator base.

`GET /cgi-bin/gettoken` (per app Secret; the same token again within its 7200 s, `expires_in` counting down) and
`POST /cgi-bin/message/send` (token checks 41001/40014/42001, agentid of the token's app, text/textcard content,
recipients split into delivered and `invaliduser` (lower-cased, `|`-joined), 81013 when nobody is valid, a string
`msgid`, the duplicate check, and the per-member 30/min and 1000/h limits over which messages are dropped
*silently*: kept in `dropped` for tests). Every answer is HTTP 200 with `errcode`/`errmsg`, errors with WeCom's
tail (hint, caller IP, link). Faults: `rate_limit` 45009, `server_error` -1, `expire_token` 42001, `timeout` a
stall after acting. `/_emulator` inspects (`messages`, `dropped`) and drives (`advance`, `fail_next`,
`stall_next`, `forbid`, `add_user`) the world.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.core.api import EmulatorWorld, Faults, QuotaMeter, add_vendor_middleware, control_router

Json = dict[str, Any]
ERRMSG = {-1: "system busy", 40001: "invalid credential", 40013: "invalid corpid", 40014: "invalid access_token",
          41001: "access_token missing", 42001: "access_token expired", 44004: "empty content",
          45009: "api freq out of limit", 45033: "api concurrent out of limit", 48002: "api forbidden",
          60020: "not allow to access from your ip", 81013: "user & party & tag all invalid",
          301002: "not allow operate another agent with this accesstoken"}


class EmulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    corp_id: str = "wwemulatorcorp0001"
    apps: dict[int, str] = Field(default_factory=lambda: {1000002: "emulator-wecom-app-secret-0001"}, repr=False)
    """AgentId -> the app's Secret."""
    users: list[str] = Field(default_factory=lambda: ["hr01", "iv01", "iv02", "zhangsan", "lisi"])
    """Userids in the app's visibility (WeCom compares them case-insensitively)."""
    token_ttl_seconds: int = Field(7200, ge=1)
    member_per_minute: int = Field(30, ge=1)
    member_per_hour: int = Field(1000, ge=1)
    calls_per_minute: int = Field(10_000, ge=1, description="per corp and API")
    faults: Faults = Field(default_factory=Faults)


class WeComError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(ERRMSG.get(code, "error"))
        self.code = code


@dataclass
class Forced:
    code: int
    times: int
    stall: float = 0.0


class WeComWorld(EmulatorWorld[EmulatorSettings]):
    """One corp: its apps, tokens, members, and every app message with whom it reached."""

    def __init__(self, settings: EmulatorSettings | None = None, now: Callable[[], float] = time.time) -> None:
        super().__init__(settings or EmulatorSettings(), now)
        self.quota = QuotaMeter(self.settings.calls_per_minute, 60.0, clock=self.clock.pace)
        self.tokens: dict[str, tuple[int, float]] = {}  # token -> (agentid, expires at)
        self.gettoken_calls = 0
        self.messages: list[Json] = []
        self.dropped: list[Json] = []
        self.recent: dict[tuple[int, str], deque[float]] = defaultdict(deque)  # (agentid, member) -> send times
        self.forced: list[Forced] = []
        self.forbidden: set[int] = set()  # agentids whose app lost the message permission (48002)
        self._ids = itertools.count(1)

    # ---------------------------------------------------------------- the vendor API

    def gettoken(self, corpid: str, corpsecret: str) -> Json:
        self.gettoken_calls += 1
        if corpid != self.settings.corp_id:
            raise WeComError(40013)
        agent = next((a for a, s in self.settings.apps.items() if secrets.compare_digest(s, corpsecret)), None)
        if agent is None or not corpsecret:
            raise WeComError(40001)
        now = self.now()
        token = next((t for t, (a, exp) in self.tokens.items() if a == agent and exp > now), None)
        if token is None:
            token = secrets.token_urlsafe(48)
            self.tokens[token] = (agent, now + self.settings.token_ttl_seconds)
        return {"errcode": 0, "errmsg": "ok", "access_token": token,
                "expires_in": int(self.tokens[token][1] - now)}

    def agent_of(self, token: str | None) -> int:
        if not token:
            raise WeComError(41001)
        agent, expires_at = self.tokens.get(token, (0, 0.0))
        if not agent:
            raise WeComError(40014)
        if self.now() >= expires_at or self.faults.roll("expire_token"):
            raise WeComError(42001)
        return agent

    def send(self, agent: int, body: Json) -> Json:
        if body.get("agentid") != agent:
            raise WeComError(301002)
        if agent in self.forbidden:
            raise WeComError(48002)
        kind = body.get("msgtype")
        content = body.get(kind) if isinstance(kind, str) else None
        if kind not in ("text", "textcard") or not isinstance(content, dict) or not any(
                str(content.get(k) or "").strip() for k in ("content", "description")):
            raise WeComError(44004)
        named = [u for u in str(body.get("touser") or "").split("|") if u]
        known = {u.lower() for u in self.settings.users}
        valid = [u.lower() for u in named if u.lower() in known]
        invalid = [u.lower() for u in named if u.lower() not in known]
        if not valid:
            raise WeComError(81013)
        now = self.now()
        answer = {"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid), "invalidparty": "",
                  "invalidtag": "", "unlicenseduser": ""}
        if body.get("enable_duplicate_check") == 1:
            window = min(int(body.get("duplicate_check_interval") or 1800), 14400)
            same = next((m for m in reversed(self.messages) if m["agentid"] == agent and m["kind"] == kind
                         and m["content"] == content and m["to"] == sorted(valid) and now - m["at"] < window), None)
            if same is not None:
                same["duplicates"] += 1
                return {**answer, "msgid": same["msgid"]}
        msgid = f"{secrets.token_hex(12)}_{next(self._ids)}"
        reached = [u for u in valid if self._within_limits(agent, u, now, msgid)]
        self.messages.append({"msgid": msgid, "agentid": agent, "kind": kind, "content": content,
                              "to": sorted(valid), "reached": reached, "at": now, "duplicates": 0})
        return {**answer, "msgid": msgid}

    def _within_limits(self, agent: int, member: str, now: float, msgid: str) -> bool:
        """Count one message to `member`; over 30/min or 1000/h WeCom drops it without a word (recorded here)."""
        sent = self.recent[(agent, member)]
        while sent and now - sent[0] >= 3600:
            sent.popleft()
        minute = sum(1 for t in sent if now - t < 60)
        if minute >= self.settings.member_per_minute or len(sent) >= self.settings.member_per_hour:
            self.dropped.append({"msgid": msgid, "member": member, "at": now})
            return False
        sent.append(now)
        return True

    def take_forced(self) -> Forced | None:
        with self.lock:
            if not self.forced:
                return None
            forced = self.forced[0]
            forced.times -= 1
            if forced.times <= 0:
                self.forced.pop(0)
            return forced

    # ---------------------------------------------------------------- drive

    def fail_next(self, errcode: int, times: int = 1) -> None:
        """Answer the next `times` calls with `errcode` (not acted on)."""
        if errcode not in ERRMSG:
            raise ValueError(f"unknown errcode {errcode}; one of {sorted(ERRMSG)}")
        with self.lock:
            self.forced.append(Forced(errcode, times))

    def stall_next(self, seconds: float, times: int = 1) -> None:
        """Act on the next `times` calls, then answer only after `seconds` (the caller times out: a lost answer)."""
        with self.lock:
            self.forced.append(Forced(0, times, seconds))

    def forbid(self, agentid: int) -> None:
        """The admin took the app's permission to send: its calls answer 48002 from now on."""
        with self.lock:
            self.forbidden.add(agentid)

    def add_user(self, userid: str) -> None:
        with self.lock:
            self.settings.users.append(userid)

    # ---------------------------------------------------------------- inspection

    def deliveries(self) -> list[tuple[str, str]]:
        """(member, msgid) of every message that reached someone: what a person would see in WeCom."""
        with self.lock:
            return [(member, m["msgid"]) for m in self.messages for member in m["reached"]]

    def api_calls(self) -> int:
        return self.quota.total_calls

    def quota_breaches(self) -> int:
        return self.quota.total_breaches + len(self.dropped)

    def summary(self) -> Json:
        with self.lock:
            return {"now": self.now(), "messages": len(self.messages), "dropped": len(self.dropped),
                    "gettoken_calls": self.gettoken_calls, "faults_injected": dict(self.faults.injected)}


def errbody(code: int, request: Request) -> Json:
    """WeCom's error body: errmsg with the per-call tail the client must never decide on."""
    ip = request.client.host if request.client else "127.0.0.1"
    tail = (f", hint: [{secrets.randbelow(10**18):018d}], from ip: {ip}, more info at "
            f"https://open.work.weixin.qq.com/devtool/query?e={code}")
    return {"errcode": code, "errmsg": ERRMSG.get(code, "error") + tail}


def create_app(settings: EmulatorSettings | None = None, world: WeComWorld | None = None) -> FastAPI:
    """The emulator app; `app.state.world` is its state. A given `world` brings its own settings."""
    world = world or WeComWorld(settings)
    app = FastAPI(title="WeCom emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.world = world
    add_vendor_middleware(app, world)

    async def answer(request: Request, api: str, act: Callable[[], Json]) -> JSONResponse:
        """Meter, fault and force one call, act on it, stall when told to; HTTP 200 whatever happens."""
        forced = None
        try:
            if not world.quota.hit(f"{world.settings.corp_id} {api}") or world.faults.roll("rate_limit"):
                raise WeComError(45009)
            if world.faults.roll("server_error"):
                raise WeComError(-1)
            forced = world.take_forced()
            if forced is not None and forced.code:
                raise WeComError(forced.code)
            with world.lock:
                body = act()
        except WeComError as exc:
            return JSONResponse(errbody(exc.code, request))
        stall = forced.stall if forced is not None else 0.0
        if world.faults.roll("timeout"):
            stall = max(stall, world.faults.faults.timeout_seconds)
        if stall:
            await asyncio.sleep(stall)
        return JSONResponse(body)

    @app.get("/cgi-bin/gettoken")
    async def gettoken(request: Request, corpid: str = "", corpsecret: str = "") -> JSONResponse:
        return await answer(request, "gettoken", lambda: world.gettoken(corpid, corpsecret))

    @app.post("/cgi-bin/message/send")
    async def message_send(request: Request, access_token: str | None = None) -> JSONResponse:
        try:
            agent = world.agent_of(access_token)
        except WeComError as exc:
            return JSONResponse(errbody(exc.code, request))
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):  # WeCom answers a body it cannot parse with a warning, and sends nothing
            return JSONResponse({"errcode": 0, "errmsg": "ok. Warning: wrong json format. "})
        return await answer(request, "message.send", lambda: world.send(agent, body))

    inspect: dict[str, Callable[[], Any]] = {"messages": lambda: list(world.messages),
                                             "dropped": lambda: list(world.dropped)}
    app.include_router(control_router(world, ("advance", "fail_next", "stall_next", "forbid", "add_user"), inspect))
    return app
