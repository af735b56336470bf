"""DingTalk HTTP clients: both hosts, both token flavours, both envelopes mapped to typed errors.

Old host (`oapi.dingtalk.com`): token as `?access_token=`, HTTP 200 even on errors, `errcode` decides
(gateway errors as `errcode 88` + string `sub_code`). New host (`api.dingtalk.com/v1.0`): token in
the `x-acs-dingtalk-access-token` header, errors as HTTP 4xx/5xx with `{requestid, code, message}`.
Matching is on codes, never on message text (except the documented todo "task exist").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from lifeline_hub.core.http import (
    AuthFailed,
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Quota,
    RateLimited,
    RateLimiter,
    RequestParts,
    Token,
    TokenExpired,
    TokenProvider,
    TransientError,
    VendorClient,
    VendorError,
)

VENDOR = "dingtalk"
QPS_WAIT = 1.0  # DingTalk's QPS windows are 1 s: wait at least that long (reference §2)
IP_BLOCK_WAIT = 300.0  # the per-IP anti-bot block lasts 5 minutes
TRANSIT_JITTER = 0.025  # s: with the limiter's margin, calls may arrive 75 ms unevenly without a QPS error

# Old-host codes (`errcode`, or `sub_code` of an `errcode 88` gateway error).
_OLD_TOKEN = {"40001", "40014", "42001"}
_OLD_AUTH = {"40000", "40089", "40096"}
_OLD_PERMISSION = {"60011", "60020"}
_OLD_QPS = {"90018", "90002"}
_OLD_NOT_FOUND = {"22", "404", "60121"}

# New-host codes.
_NEW_QPS = {  # code -> seconds to wait
    "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi": QPS_WAIT, "Forbidden.AccessDenied.QpsLimitForApi": QPS_WAIT,
    "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi": 60.0, "todo.taskCreate.flowControlError": QPS_WAIT,
    "toomuch.msg": 60.0,
}
_NEW_AUTH = {"AuthenticationFailed.MissingParameter", "invalidClientIdOrSecret", "invalid.client",
             "unauthorized.client", "unsupported.grant.type"}


def _path(template: str, values: Mapping[str, str]) -> str:
    return template.format(**{k: quote(str(v), safe="") for k, v in values.items()})


class _DingTalkClient(VendorClient):
    """Shared behaviour: per-API quota, API names equal to DingTalk's `METHOD /path-template`."""

    vendor = VENDOR
    min_rate_limit_wait = QPS_WAIT

    def __init__(self, base_url: str, *, quota: tuple[Quota, ...], **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.quota = quota

    def call(self, method: str, template: str, *, path: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
        """Request `template` filled with url-quoted `path` values, rate-limited per API template."""
        return self.request(method, _path(template, path or {}), api=f"{method} {template}", quota=self.quota,
                            **kwargs)


class OapiClient(_DingTalkClient):
    """`oapi.dingtalk.com`: `?access_token=`, HTTP 200 + `errcode` envelope."""

    def apply_token(self, request: RequestParts, token: str) -> None:
        request["params"]["access_token"] = token

    def check(self, response: requests.Response) -> Any:
        body = self.parse_json(response)
        if not isinstance(body, dict):
            raise self.status_error(response) if response.status_code >= 400 else self.error(
                TransientError, response, "expected a JSON object")
        if "errcode" not in body:
            raise _gateway_body(self, response, body)
        if str(body["errcode"]) == "0" and response.ok:
            return body
        raise old_error(self, response, body)


def old_error(client: VendorClient, response: requests.Response | None, body: Mapping[str, Any]) -> VendorError:
    """The typed error for an old-host error body (`errcode`, `errmsg`, maybe `sub_code`/`request_id`)."""
    errcode = str(body.get("errcode"))
    sub_code = str(body.get("sub_code") or "")
    code = sub_code if errcode == "88" and sub_code else errcode
    message = str(body.get("sub_msg") or body.get("errmsg") or "")
    fields: dict[str, Any] = {"code": code, "request_id": body.get("request_id")}
    if code in _OLD_TOKEN:
        return client.error(TokenExpired, response, f"access token rejected: {message}", **fields)
    if code in _OLD_AUTH:
        return client.error(AuthFailed, response, f"credentials rejected: {message}", **fields)
    if code in _OLD_PERMISSION:
        return client.error(PermissionDenied, response, f"{message} (grant the app this API in the console)",
                            **fields)
    if code in _OLD_QPS:
        return client.error(RateLimited, response, message, retry_after=QPS_WAIT, **fields)
    if code == "90020":
        return client.error(RateLimited, response, f"monthly API quota used up: {message}", retryable=False, **fields)
    if code == "-1":
        return client.error(TransientError, response, f"system busy: {message}", **fields)
    if code in _OLD_NOT_FOUND:
        return client.error(NotFound, response, message, **fields)
    return client.error(InvalidRequest, response, message or f"errcode {code}", **fields)


def _gateway_body(client: VendorClient, response: requests.Response, body: Mapping[str, Any]) -> VendorError:
    """A JSON body without the vendor envelope: the per-IP anti-bot block, or an HTTP error."""
    if body.get("punish") or body.get("status") == 1111:
        wait = float(body.get("wait") or 0) * 60 or IP_BLOCK_WAIT
        return client.error(RateLimited, response, "the caller's IP is blocked for flooding", retry_after=wait)
    if response.status_code >= 400:
        return client.status_error(response)
    return client.error(TransientError, response, "response lacks errcode")


class ApiClient(_DingTalkClient):
    """`api.dingtalk.com/v1.0`: header token, HTTP status + `{requestid, code, message}`."""

    def apply_token(self, request: RequestParts, token: str) -> None:
        request["headers"]["x-acs-dingtalk-access-token"] = token

    def check(self, response: requests.Response) -> Any:
        body = self.parse_json(response)
        if response.status_code < 400:
            return body
        if not isinstance(body, dict) or "code" not in body:
            raise self.status_error(response)
        raise new_error(self, response, body)


def new_error(client: VendorClient, response: requests.Response | None, body: Mapping[str, Any]) -> VendorError:
    """The typed error for a new-host error body; `response` gives the HTTP status."""
    status = response.status_code if response is not None else 400
    code, message = str(body.get("code")), str(body.get("message") or "")
    fields: dict[str, Any] = {"code": code, "request_id": body.get("requestid")}
    if code in _NEW_QPS:
        return client.error(RateLimited, response, message, retry_after=_NEW_QPS[code], **fields)
    if code == "Forbidden.AccessDenied.ApiCountLimitForOrg":
        return client.error(RateLimited, response, f"monthly API quota used up: {message}", retryable=False, **fields)
    if code in _NEW_AUTH:
        return client.error(AuthFailed, response, f"credentials rejected: {message}", **fields)
    if code == "InvalidAuthentication" or status == 401:
        return client.error(TokenExpired, response, f"access token rejected: {message}", **fields)
    if code.startswith("Forbidden.") or status == 403:
        detail = body.get("accessdenieddetail")
        scopes = detail.get("requiredScopes") if isinstance(detail, dict) else None
        scope = ", ".join(map(str, scopes)) if isinstance(scopes, list) and scopes else None
        return client.error(PermissionDenied, response, message or code, scope=scope, **fields)
    if message == "task exist" or code.endswith(".lockError"):
        return client.error(Conflict, response, message or code, **fields)
    if status == 404 or message == "task not exist":
        return client.error(NotFound, response, message or code, **fields)
    if status >= 500:
        return client.error(TransientError, response, message or code, **fields)
    return client.error(InvalidRequest, response, message or code, **fields)


class GetTokenProvider(TokenProvider):
    """Old flavour: `GET /gettoken?appkey=&appsecret=` -> `access_token`, `expires_in`."""

    def __init__(self, client: OapiClient, appkey: str, appsecret: str) -> None:
        super().__init__()
        self.client, self.appkey, self._secret = client, appkey, appsecret

    def fetch(self) -> Token:
        body = self.client.call("GET", "/gettoken", params={"appkey": self.appkey, "appsecret": self._secret},
                                auth=False)
        return self.expiring_in(str(body["access_token"]), float(body["expires_in"]))


class AccessTokenProvider(TokenProvider):
    """New flavour: `POST /v1.0/oauth2/accessToken {appKey, appSecret}` -> `accessToken`, `expireIn`."""

    def __init__(self, client: ApiClient, appkey: str, appsecret: str) -> None:
        super().__init__()
        self.client, self.appkey, self._secret = client, appkey, appsecret

    def fetch(self) -> Token:
        body = self.client.call("POST", "/v1.0/oauth2/accessToken",
                                json={"appKey": self.appkey, "appSecret": self._secret}, auth=False, idempotent=True)
        return self.expiring_in(str(body["accessToken"]), float(body["expireIn"]))


@dataclass
class DingTalkHttp:
    """The two clients of one DingTalk app, sharing one rate limiter (quotas are per app per API)."""

    oapi: OapiClient
    api: ApiClient

    @classmethod
    def build(cls, *, oapi_url: str, api_url: str, appkey: str, appsecret: str, qps: int = 20,
              limiter: RateLimiter | None = None, **client_options: Any) -> DingTalkHttp:
        """Clients for `appkey`; the old host takes `gettoken` tokens, the new host `oauth2/accessToken` ones."""
        limiter = limiter or RateLimiter()
        # The documented quota with room for transit jitter, and calls evenly spaced inside it: a burst
        # of `qps` calls queues at the vendor and reaches its 1 s window unevenly.
        window = 1.0 + TRANSIT_JITTER
        quota = (Quota(qps, window), Quota(1, max((window + limiter.margin) / qps - limiter.margin, 0.001)))
        oapi = OapiClient(oapi_url, app=appkey, limiter=limiter, quota=quota, **client_options)
        api = ApiClient(api_url, app=appkey, limiter=limiter, quota=quota, **client_options)
        oapi.tokens = GetTokenProvider(oapi, appkey, appsecret)
        api.tokens = AccessTokenProvider(api, appkey, appsecret)
        return cls(oapi, api)
