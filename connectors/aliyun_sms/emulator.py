"""Aliyun SMS emulator: the Dysmsapi RPC endpoint (`POST /`), as documented in channels.md §1.

Every call passes the gateway: signature (V3 `ACS3-HMAC-SHA256` headers or V2 `HMAC-SHA1` query),
timestamp skew, nonce reuse, version and action, the per-key per-API QPS meter, injected faults, the
RAM user's permission for the action (`deny_actions`), forced answers; then SendSms or
QuerySendDetails run on the `SmsWorld`. Gateway errors are HTTP >= 400 with `{RequestId, HostId,
Code, Message, Recommend}`; business errors are HTTP 200 with a `Code`. `/_emulator/*` inspects
and drives the world from another process. No tokens here, so the `expire_token` fault does nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lifeline_hub.connectors.aliyun_sms.emulator_state import (
    BusinessError,
    EmulatorSettings,
    GatewayError,
    Json,
    SmsWorld,
    fail,
)
from lifeline_hub.connectors.aliyun_sms.signing import parse_v3_authorization, v2_signature, v3_signature
from lifeline_hub.core.emulator import add_vendor_middleware, control_router

__all__ = ["EmulatorSettings", "SmsWorld", "create_app"]

VERSION = "2017-05-25"
HOST_ID = "dysmsapi.aliyuncs.com"
V3_REQUIRED = frozenset({"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce",
                         "x-acs-content-sha256"})
V2_REQUIRED = ("AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp",
               "Action", "Version")
NOT_FOUND = "Specified api is not found, please check your url and method."
Handler = Callable[[SmsWorld, Mapping[str, str]], Json]


def required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise GatewayError(f"Missing{name}", f"{name} is mandatory for this action.")
    return value


def send_sms(world: SmsWorld, params: Mapping[str, str]) -> Json:
    phones = required(params, "PhoneNumbers")
    sign_name, template = required(params, "SignName"), required(params, "TemplateCode")
    out_id = params.get("OutId", "")
    if len(out_id) >= 256:
        raise GatewayError("InvalidOutId", "OutId must be fewer than 256 characters.")
    biz_id = world.send(phones, sign_name, template, params.get("TemplateParam"), out_id)
    return {"Code": "OK", "Message": "OK", "BizId": biz_id}


def query_send_details(world: SmsWorld, params: Mapping[str, str]) -> Json:
    phone, date = required(params, "PhoneNumber"), required(params, "SendDate")
    size, page = required(params, "PageSize"), required(params, "CurrentPage")
    try:
        day = datetime.strptime(date, "%Y%m%d").replace(tzinfo=world.tz).date()
    except ValueError:
        raise GatewayError("InvalidSendDate", "SendDate must be yyyyMMdd.") from None
    if not (timedelta(0) <= world.local(world.now()).date() - day <= timedelta(days=30)):
        raise GatewayError("InvalidSendDate", "SendDate must be within the last 30 days.")
    if not size.isdigit() or not 1 <= int(size) <= 50:
        raise GatewayError("InvalidPageSize", "PageSize must be 1-50.")
    if not page.isdigit() or int(page) < 1:
        raise GatewayError("InvalidCurrentPage", "CurrentPage must be a positive number.")
    rows = world.details(phone, date, params.get("BizId") or None)
    start = (int(page) - 1) * int(size)
    return {"Code": "OK", "Message": "OK", "TotalCount": str(len(rows)),
            "SmsSendDetailDTOs": {"SmsSendDetailDTO": world.corrupt(rows[start:start + int(size)])}}


HANDLERS: dict[str, Handler] = {"SendSms": send_sms, "QuerySendDetails": query_send_details}


def check_timestamp(world: SmsWorld, text: str) -> None:
    try:
        when = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise GatewayError("InvalidTimeStamp.Format") from None
    if world.settings.check_timestamps and abs(when.timestamp() - world.wall()) > 900:
        raise GatewayError("InvalidTimeStamp.Expired")


def secret_for(world: SmsWorld, key_id: str) -> str:
    secret = world.settings.access_keys.get(key_id)
    if secret is None:
        raise GatewayError("InvalidAccessKeyId.NotFound")
    return secret


def authenticate(world: SmsWorld, method: str, path: str, headers: Mapping[str, str], query: Mapping[str, str],
                 params: Mapping[str, str], body: bytes) -> tuple[str, str]:
    """Verify a V3 or V2 signature; return (AccessKeyId, Action)."""
    authorization = headers.get("authorization")
    if authorization:
        fields = parse_v3_authorization(authorization)
        if fields is None:
            raise GatewayError("SignatureDoesNotMatch", "Authorization is not ACS3-HMAC-SHA256.")
        key_id, signed = fields["Credential"], fields["SignedHeaders"].split(";")
        secret = secret_for(world, key_id)
        if not set(signed) >= V3_REQUIRED or hashlib.sha256(body).hexdigest() != headers.get("x-acs-content-sha256"):
            raise GatewayError("SignatureDoesNotMatch")
        check_timestamp(world, headers.get("x-acs-date", ""))
        expected = v3_signature(method, path, query, headers, signed, secret)
        if not hmac.compare_digest(expected, fields["Signature"]):
            raise GatewayError("SignatureDoesNotMatch")
        nonce, action, version = (headers.get(h, "") for h in ("x-acs-signature-nonce", "x-acs-action",
                                                                "x-acs-version"))
    else:
        for name in V2_REQUIRED:
            required(params, name)
        key_id = params["AccessKeyId"]
        secret = secret_for(world, key_id)
        check_timestamp(world, params["Timestamp"])
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            raise GatewayError("InvalidSignatureMethod", "SignatureMethod must be HMAC-SHA1, version 1.0.")
        if not hmac.compare_digest(v2_signature(method, params, secret), params["Signature"]):
            raise GatewayError("SignatureDoesNotMatch")
        nonce, action, version = params["SignatureNonce"], params["Action"], params["Version"]
    if not world.use_nonce(nonce):
        raise GatewayError("SignatureNonceUsed")
    if version != VERSION:
        raise GatewayError("InvalidVersion", "Specified parameter Version is not valid.")
    if action not in HANDLERS:
        raise GatewayError("InvalidAction.NotFound", NOT_FOUND, 404)
    return key_id, action


def gateway_answer(world: SmsWorld, exc: GatewayError, request_id: str) -> Response:
    """The gateway's error body (Aliyun "OpenAPI error diagnosis": RequestId, HostId, Code, Message, Recommend)."""
    body = {"RequestId": request_id, "HostId": HOST_ID, "Code": exc.code, "Message": exc.message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={exc.code}&product=Dysmsapi&requestId={request_id}"}
    headers = {"x-acs-request-id": request_id}
    if exc.code.startswith("Throttling"):
        headers["x-acs-retry-after"] = str(world.settings.retry_after_ms)
    return JSONResponse(body, exc.status, headers=headers)


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()


def form_params(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise GatewayError("InvalidParameter", "The request body is not UTF-8 form data.") from None


def not_routed(world: SmsWorld) -> Callable[[Request, Exception], Awaitable[Response]]:
    """A path or method the gateway does not serve: its `InvalidAction.NotFound` body (the control
    endpoints keep FastAPI's own answers)."""

    async def answer(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/_emulator"):
            assert isinstance(exc, StarletteHTTPException)
            return await http_exception_handler(request, exc)
        return gateway_answer(world, GatewayError("InvalidAction.NotFound", NOT_FOUND, 404), new_request_id())

    return answer


def endpoint(world: SmsWorld) -> Callable[[Request], Any]:
    async def serve(request: Request) -> Response:
        body = await request.body()
        query = dict(request.query_params)
        params = dict(query)
        request_id = new_request_id()
        stall, action = 0.0, ""
        try:
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                params.update(form_params(body))
            key_id, action = authenticate(world, request.method, request.url.path, request.headers, query, params,
                                          body)
            if not world.quota.hit(f"{key_id} {action}") or world.faults.roll("rate_limit"):
                raise GatewayError("Throttling.User")
            if world.faults.roll("server_error"):
                raise GatewayError("ServiceUnavailable")
            world.authorize(action)
            forced = world.take_forced(action)
            if forced is not None:
                raise fail(forced.code, forced.message)
            with world.lock:
                result = HANDLERS[action](world, params)
            response: Response = JSONResponse({"RequestId": request_id, **result},
                                              headers={"x-acs-request-id": request_id})
        except GatewayError as exc:
            response = gateway_answer(world, exc, request_id)
        except BusinessError as exc:
            response = JSONResponse({"RequestId": request_id, "Code": exc.code, "Message": exc.message},
                                    headers={"x-acs-request-id": request_id})
        if world.faults.roll("timeout"):
            stall = world.faults.faults.timeout_seconds
        forced_stall = world.take_forced(action, stall=True) if action else None
        if forced_stall is not None:
            stall = max(stall, forced_stall.stall)
        await world.clock.stall(stall)
        return response

    return serve


def control(world: SmsWorld) -> APIRouter:
    """`/_emulator/*`: inspect and drive the world (never faulted or metered)."""
    inspect: dict[str, Callable[[], Any]] = {"messages": world.message_list, "reports": world.report_list}
    actions = ("advance", "set_outcome", "fail_next", "stall_next", "set_report_url", "deliver_reports", "set_limits",
               "set_balance", "deny_actions")
    return control_router(world, actions, inspect, bad_input=(KeyError, ValueError, BusinessError))


def create_app(settings: EmulatorSettings | None = None, world: SmsWorld | None = None) -> FastAPI:
    """The emulator app; `app.state.world` is its state. A given `world` brings its own settings."""
    world = world or SmsWorld(settings)
    app = FastAPI(title="Aliyun SMS emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.world = world
    add_vendor_middleware(app, world)
    app.add_api_route("/", endpoint(world), methods=["GET", "POST"], include_in_schema=False)
    app.include_router(control(world))
    app.add_exception_handler(StarletteHTTPException, not_routed(world))
    return app
