"""aiplatform emulator: the protocol v1 endpoints (docs/aiplatform-protocol.md) on a FastAPI app.

Every API call passes the gateway before its handler: injected faults (5xx, stalls, expired
tokens, 429s), the bearer token, the client's scope (`deny_apis`), the per-client rate limit;
listings may come back with a corrupted or repeated item, POSTs replay under their `Idempotency-Key`. State lives in
`AIPlatformWorld` (`app.state.world`); `/_emulator/...` lets another process (`lifeline emulate
aiplatform --port N`, the sandbox) inspect and drive it over HTTP.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lifeline_hub.connectors.aiplatform.emulator_state import (
    MAX_HOURS,
    MAX_INSTANT_MS,
    MIN_INSTANT_MS,
    AIPlatformWorld,
    EmulatorSettings,
    PlatformError,
    instant_ms,
    iso,
)
from lifeline_hub.core.connector import describe_error
from lifeline_hub.core.emulator import add_vendor_middleware, control_router, json_object

__all__ = ["AIPlatformWorld", "EmulatorSettings", "create_app"]

DRIVE_ACTIONS = ("invite", "open_link", "start", "submit", "technical", "withdraw", "reset", "extend", "tick",
                 "advance", "expire_tokens", "deny_apis", "set_callback_url", "deliver_pending_events")
CORRUPTIONS = ("missing", "garbled", "wrong_type")


@dataclass(frozen=True)
class Call:
    """One admitted request."""

    client_id: str
    path: str
    query: Mapping[str, str]
    body: dict[str, Any]
    params: Mapping[str, str]


Handler = Callable[[AIPlatformWorld, Call], tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class Api:
    name: str
    method: str
    path: str
    handler: Handler
    listing: bool = False
    idempotent_post: bool = False
    authenticated: bool = True


# -- request bodies (protocol §4.2, §4.3) -----------------------------------------------------------


def _instant(value: str) -> str:
    if not MIN_INSTANT_MS <= instant_ms(value) <= MAX_INSTANT_MS:
        raise ValueError("instant out of range")
    return value


Instant = Annotated[str, AfterValidator(_instant)]
Hours = Annotated[int, Field(ge=1, le=MAX_HOURS)]


class _Body(BaseModel):
    """A request body: exact JSON types (no `true` for 1, no `"false"` for false); unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")


class CandidateBody(_Body):
    external_ref: str | None = None
    name: str = Field(min_length=1)
    email: str | None = None
    phone: str | None = None
    locale: str = Field("zh-CN", pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]+)*$")
    timezone: str = Field("Asia/Shanghai", min_length=1)


class CreateBody(_Body):
    external_ref: str | None = None
    candidate: CandidateBody
    interview_kind: str = "ai_async"
    deadline_basis: str = "from_invite"
    window_hours: Hours | None = None
    deadline_at: Instant | None = None
    opens_at: Instant | None = None


class ResetBody(_Body):
    new_link: bool = True
    window_hours: Hours | None = None


class ExtendBody(_Body):
    hours: Hours
    new_link: bool = False


BodyT = TypeVar("BodyT", bound=_Body)


def parsed(model: type[BodyT], body: dict[str, Any]) -> BodyT:
    """The request body as `model`, or the protocol's 400 `invalid_request` naming what is wrong."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise PlatformError(400, "invalid_request", describe_error(exc)) from None


# -- handlers ---------------------------------------------------------------------------------------


def token(world: AIPlatformWorld, call: Call) -> tuple[int, dict[str, Any]]:
    body = call.body
    if body.get("grant_type") != "client_credentials":
        raise PlatformError(400, "invalid_request", "grant_type must be client_credentials")
    access, ttl = world.issue_token(str(body.get("client_id", "")), str(body.get("client_secret", "")))
    return 200, {"access_token": access, "token_type": "Bearer", "expires_in": ttl}


def listing(resource: str) -> Handler:
    def handler(world: AIPlatformWorld, call: Call) -> tuple[int, dict[str, Any]]:
        raw_limit = call.query.get("limit", "50")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= world.settings.max_page_size:
            raise PlatformError(400, "invalid_request", f"limit is 1..{world.settings.max_page_size}")
        since = call.query.get("updated_since")
        try:
            since_ms = instant_ms(since) if since else None
        except ValueError:
            raise PlatformError(400, "invalid_request", "updated_since is an ISO 8601 instant with offset") from None
        after = decode_cursor(world, call.query["cursor"], resource, since_ms) if call.query.get("cursor") else 0
        as_of = world.now_ms()
        items, last = world.page(resource, since_ms, after, int(raw_limit))
        cursor = None if last is None else encode_cursor(resource, since_ms, last, as_of)
        return 200, {"data": items, "next_cursor": cursor, "as_of": iso(as_of)}

    return handler


def get_invitation(world: AIPlatformWorld, call: Call) -> tuple[int, dict[str, Any]]:
    return 200, world.get(call.params["invitation_id"])


def create_invitation(world: AIPlatformWorld, call: Call) -> tuple[int, dict[str, Any]]:
    body = parsed(CreateBody, call.body)
    candidate = body.candidate
    created = world.invite(
        candidate.name, email=candidate.email, phone=candidate.phone, external_ref=body.external_ref,
        candidate_ref=candidate.external_ref, kind=body.interview_kind, deadline_basis=body.deadline_basis,
        window_hours=body.window_hours, deadline_at=body.deadline_at, opens_at=body.opens_at,
        locale=candidate.locale, timezone=candidate.timezone,
    )
    return 201, created


def reset(world: AIPlatformWorld, call: Call) -> tuple[int, dict[str, Any]]:
    body = parsed(ResetBody, call.body)
    return 200, world.reset(call.params["invitation_id"], body.window_hours, body.new_link)


def extend(world: AIPlatformWorld, call: Call) -> tuple[int, dict[str, Any]]:
    body = parsed(ExtendBody, call.body)
    return 200, world.extend(call.params["invitation_id"], body.hours, body.new_link)


APIS = (
    Api("oauth.token", "POST", "/v1/oauth/token", token, authenticated=False),
    Api("invitations.list", "GET", "/v1/invitations", listing("invitations"), listing=True),
    Api("invitations.create", "POST", "/v1/invitations", create_invitation, idempotent_post=True),
    Api("invitations.get", "GET", "/v1/invitations/{invitation_id}", get_invitation),
    Api("invitations.reset", "POST", "/v1/invitations/{invitation_id}/reset", reset, idempotent_post=True),
    Api("invitations.extend", "POST", "/v1/invitations/{invitation_id}/extend", extend, idempotent_post=True),
    Api("events.list", "GET", "/v1/events", listing("events"), listing=True),
)


# -- cursors ----------------------------------------------------------------------------------------


def encode_cursor(resource: str, since_ms: int | None, after: int, issued_ms: int) -> str:
    state = {"r": resource, "s": since_ms, "a": after, "t": issued_ms}
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(world: AIPlatformWorld, raw: str, resource: str, since_ms: int | None) -> int:
    """The change number a cursor continues after; 400 `invalid_cursor` when foreign or too old."""
    try:
        state = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        state = None
    if not isinstance(state, dict) or state.get("r") != resource or state.get("s") != since_ms:
        raise PlatformError(400, "invalid_cursor", "cursor does not belong to this listing")
    if not isinstance(state.get("a"), int) or not isinstance(state.get("t"), int):
        raise PlatformError(400, "invalid_cursor", "cursor is damaged")
    if world.now_ms() - state["t"] > world.settings.cursor_ttl_seconds * 1000:
        raise PlatformError(400, "invalid_cursor", "cursor expired; restart the listing")
    return int(state["a"])


# -- gateway ----------------------------------------------------------------------------------------


class Gateway:
    """What the platform does around a handler: faults, token, rate limit, idempotency, envelope."""

    def __init__(self, world: AIPlatformWorld) -> None:
        self.world = world

    def endpoint(self, api: Api) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return await self.serve(api, request)

        return serve

    async def serve(self, api: Api, request: Request) -> Response:
        world = self.world
        request_id = world.new_id("req_", 16)
        stall = world.faults.roll("timeout")
        try:
            call = await self._admit(api, request)
            with world.lock:
                status, body, replayed = self._handle(api, call, request.headers.get("idempotency-key"))
            headers = {"X-Request-Id": request_id} | ({"Idempotent-Replayed": "true"} if replayed else {})
            response: Response = JSONResponse(self._listing_faults(body) if api.listing else body, status, headers)
        except PlatformError as error:
            content = {"error": {"code": error.code, "message": error.message, "request_id": request_id}}
            response = JSONResponse(content, error.status, {"X-Request-Id": request_id, **error.headers})
        if stall:  # the work is done (a POST took effect), but the answer comes too late
            await world.clock.stall(world.faults.faults.timeout_seconds)
        return response

    async def _admit(self, api: Api, request: Request) -> Call:
        world = self.world
        if world.faults.roll("server_error"):
            raise PlatformError(503, "unavailable", "temporarily unavailable, retry later")
        body = await _json_body(request)
        client_id = world.authenticate(request.headers.get("authorization")) if api.authenticated else ""
        world.count_call(api.name)
        if api.authenticated:
            world.authorize(api.name)
            if world.faults.roll("expire_token"):
                raise PlatformError(401, "token_expired", "access token expired")
            if world.faults.roll("rate_limit"):
                raise world.rate_limited()
            world.check_rate(client_id)
        return Call(client_id, request.url.path, dict(request.query_params), body, dict(request.path_params))

    def _handle(self, api: Api, call: Call, key: str | None) -> tuple[int, dict[str, Any], bool]:
        world = self.world
        if not api.idempotent_post:
            status, body = api.handler(world, call)
            return status, body, False
        if not key:
            raise PlatformError(400, "invalid_request", "the Idempotency-Key header is required")
        fingerprint = world.fingerprint(api.name, call.path, call.body)
        earlier = world.recall(call.client_id, key, fingerprint)
        if earlier is not None:
            return earlier.status, copy.deepcopy(earlier.body), True
        status, body = api.handler(world, call)
        world.remember(call.client_id, key, fingerprint, status, copy.deepcopy(body))
        return status, body, False

    def _listing_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        world, items = self.world, list(body["data"])
        if items and world.faults.roll("malformed"):
            index = world.rng.randrange(len(items))
            items[index] = corrupt(items[index], world.rng.choice(CORRUPTIONS), world.rng.random())
        if items and world.faults.roll("duplicate"):
            index = world.rng.randrange(len(items))
            items.insert(index + 1, copy.deepcopy(items[index]))
        return {**body, "data": items}


REQUIRED = ("id", "occurred_at", "invitation_id", "deadline_at", "candidate", "link", "updated_at")


def corrupt(item: dict[str, Any], how: str, pick: float) -> dict[str, Any]:
    """A copy of a listed object with one required field missing, garbled or of the wrong type."""
    broken = copy.deepcopy(item)
    present = [name for name in REQUIRED if name in broken]
    name = present[int(pick * len(present))]
    if how == "missing":
        del broken[name]
    elif how == "garbled":
        broken[name] = "\ufffdgarbled"
    else:
        broken[name] = [broken[name]]
    return broken


async def _json_body(request: Request) -> dict[str, Any]:
    body = await json_object(request)
    if body is None:
        raise PlatformError(400, "invalid_request", "the body must be a JSON object")
    return body


# -- the app ----------------------------------------------------------------------------------------


def create_app(settings: EmulatorSettings | None = None, world: AIPlatformWorld | None = None) -> FastAPI:
    """The emulator app; `app.state.world` is the `AIPlatformWorld` it serves (one is made if not given)."""
    world = world or AIPlatformWorld(settings)
    gateway = Gateway(world)
    app = FastAPI(title="aiplatform emulator (protocol v1)", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.world = world
    add_vendor_middleware(app, world)

    for api in APIS:
        app.add_api_route(api.path, gateway.endpoint(api), methods=[api.method], name=api.name)

    @app.exception_handler(StarletteHTTPException)
    async def not_routed(request: Request, exc: StarletteHTTPException) -> Response:
        """The protocol's error envelope (§2.2), also for a drive action's `PlatformError` (its own status and
        code); an unrouted API call carries a request id like any other (§2)."""
        cause = exc.__cause__
        if isinstance(cause, PlatformError):
            code, message = cause.code, cause.message
        else:
            code, message = "not_found" if exc.status_code == 404 else "invalid_request", str(exc.detail)
        error: dict[str, str] = {"code": code, "message": message}
        if request.url.path.startswith("/_emulator"):
            return JSONResponse({"error": error}, status_code=exc.status_code)
        request_id = world.new_id("req_", 16)
        return JSONResponse({"error": {**error, "request_id": request_id}}, exc.status_code,
                            {"X-Request-Id": request_id})

    app.include_router(control_router(world, DRIVE_ACTIONS, bad_input=(KeyError, ValueError, TypeError),
                                      error_status=platform_status))
    return app


def platform_status(exc: Exception) -> int | None:
    """A drive action's `PlatformError` answers with its protocol status (409 `invitation_closed`...)."""
    return exc.status if isinstance(exc, PlatformError) else None
