"""HTTP client of the WeChat Official Account API (`api.weixin.qq.com/cgi-bin`): access token, errcode envelope.

Every answer is HTTP 200 with `errcode`/`errmsg` (errcode absent on success of the token calls); only `errcode`
decides. The access token goes in the query (`?access_token=`). One token owner per AppID (channels.md §3.1):
`stable_token` in normal mode (the default; `force_refresh` never, it would invalidate everyone's token) or the
classic `cgi-bin/token`; on 40001/40014/42001 the token is fetched again and the call retried once.

`msgid` values exceed 2^53: Python's `json` reads integers exactly (never as a float), and `msgid()` keeps them as
decimal strings from there on. The token rides in the query: urllib3's request log is redacted
(`core.http.redact.LOGGERS`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from lifeline_hub.core.http import (
    AuthFailed,
    InvalidRequest,
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

log = logging.getLogger("lifeline.wechat")
WECHAT_HOST = "https://api.weixin.qq.com"
TokenApi = Literal["stable_token", "token"]
TOKEN_PATHS = {"stable_token": "/cgi-bin/stable_token", "token": "/cgi-bin/token"}
API_QUOTA = Quota(10_000, 60.0)
"""Per-minute ceiling the client paces itself to (45011 beyond the account's minute quota)."""
MINUTE_QUOTA_WAIT = 60.0

TOKEN_ERRORS = {40001, 40014, 42001}
CREDENTIAL_ERRORS = {40001: "invalid credential (AppSecret)", 40013: "invalid appid", 40125: "invalid appsecret",
                     40002: "invalid grant_type"}
PERMISSION_ERRORS = {40164: "caller IP not in the account's IP allow-list",
                     48001: "API not authorized for this account",
                     61004: "caller IP not in the account's IP allow-list"}


class NotFollowing(VendorError):
    """43004: the recipient does not follow the account (template messages need a follower). Final for this
    candidate on this channel."""


class NoSubscription(VendorError):
    """43101: the user refused the subscription or has no credit left. Switch channel; never retry."""


class DailyQuota(RateLimited):
    """45009: the account's daily quota for this API is used up: nothing more goes out today."""

    default_retryable = False


class TokenFetch(TokenProvider):
    """`POST /cgi-bin/stable_token` (normal mode) or `GET /cgi-bin/token`: 7200 s tokens, one cached per AppID."""

    def __init__(self, client: WeChatClient, app_id: str, secret: str, api: TokenApi) -> None:
        super().__init__(refresh_ahead=300.0)
        self._client, self._app_id, self._secret, self._api = client, app_id, secret, api

    def fetch(self) -> Token:
        path = TOKEN_PATHS[self._api]
        fields = {"grant_type": "client_credential", "appid": self._app_id, "secret": self._secret}
        if self._api == "stable_token":
            body = self._client.request("POST", path, api="stable_token", auth=False, idempotent=True,
                                        json={**fields, "force_refresh": False})
        else:
            body = self._client.request("GET", path, api="token", auth=False, params=fields, idempotent=False)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise self._client.error(AuthFailed, None, f"{path} answered without an access_token")
        return self.expiring_in(token, float(body.get("expires_in") or 0))


class WeChatClient(VendorClient):
    """`VendorClient` for one Official Account; `check` returns the body of an answer without a non-zero errcode."""

    vendor = "wechat"

    def __init__(self, base_url: str, app_id: str, secret: str, *, token_api: TokenApi = "stable_token",  # noqa: S107 - an API name
                 **options: Any) -> None:
        options.setdefault("limiter", RateLimiter())
        super().__init__(base_url, app=app_id, **options)
        self.tokens = TokenFetch(self, app_id, secret, token_api)

    def apply_token(self, request: RequestParts, token: str) -> None:
        request["params"]["access_token"] = token

    def check(self, response: requests.Response) -> Any:
        body = self.parse_json(response)
        if response.status_code >= 400 or not isinstance(body, dict):
            raise self.status_error(response) if response.status_code >= 400 else self.error(
                TransientError, response, "expected a JSON object")
        code = body.get("errcode", 0)
        if not isinstance(code, int) or isinstance(code, bool):
            raise self.error(TransientError, response, "answer with a non-numeric errcode")
        if code == 0:
            return body
        raise self.failure(response, code, str(body.get("errmsg") or "").split(" rid:")[0].split(", hint:")[0])

    def failure(self, response: requests.Response, code: int, message: str) -> VendorError:
        """The typed error for a non-zero `errcode`."""
        text = f"errcode {code}: {message}"
        on_token = urlsplit(response.url).path.rstrip("/").endswith(("/token", "/stable_token"))
        if on_token and code in CREDENTIAL_ERRORS:
            return self.error(AuthFailed, response, f"{text} ({CREDENTIAL_ERRORS[code]})", code=code)
        if code in TOKEN_ERRORS:
            return self.error(TokenExpired, response, text, code=code)
        if code in PERMISSION_ERRORS:
            return self.error(PermissionDenied, response, f"{text} ({PERMISSION_ERRORS[code]})", code=code)
        if code == 45009:
            return self.error(DailyQuota, response, f"{text} (daily quota used up)", code=code)
        if code == 45011:
            return self.error(RateLimited, response, text, code=code, retry_after=MINUTE_QUOTA_WAIT)
        if code == -1:
            return self.error(TransientError, response, f"{text} (system busy)", code=code)
        if code == 43004:
            return self.error(NotFollowing, response, f"{text} (the recipient does not follow the account)", code=code)
        if code == 43101:
            return self.error(NoSubscription, response, f"{text} (no subscription credit)", code=code)
        return self.error(InvalidRequest, response, text, code=code)

    def post(self, path: str, body: Mapping[str, Any], *, api: str, idempotent: bool) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("POST", path, api=api, quota=API_QUOTA, json=dict(body),
                                              idempotent=idempotent)
        return answer

    def send_template(self, body: Mapping[str, Any]) -> str:
        """`POST /cgi-bin/message/template/send`; the `msgid` as a decimal string. Safe to repeat: the body
        carries `client_msg_id`, WeChat's documented anti-duplicate key."""
        return msgid(self.post("/cgi-bin/message/template/send", body, api="template.send", idempotent=True))

    def send_subscribe(self, body: Mapping[str, Any]) -> str | None:
        """`POST /cgi-bin/message/subscribe/bizsend` (one subscription credit); its `msgid` when it gives one.
        Not idempotent: it takes no anti-duplicate key, so it is never repeated after an ambiguous failure."""
        answer = self.post("/cgi-bin/message/subscribe/bizsend", body, api="subscribe.bizsend", idempotent=False)
        return msgid(answer) if answer.get("msgid") is not None else None


def msgid(body: Mapping[str, Any]) -> str:
    """The answer's `msgid` as a decimal string (an int, or digits; a float would have lost digits already)."""
    value = body.get("msgid")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    raise TransientError(f"answer without a usable msgid ({type(value).__name__})", vendor="wechat")
