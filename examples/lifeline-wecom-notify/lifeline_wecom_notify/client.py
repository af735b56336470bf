"""HTTP client of the WeCom server API (`qyapi.weixin.qq.com/cgi-bin`): gettoken, the errcode envelope, limits.

Every answer is HTTP 200 with `errcode` (int) and `errmsg`; the errmsg carries a per-call tail (hint, caller
IP, a link), so only `errcode` decides (wecom-wechat.md §2.2). The access token goes in the query
(`?access_token=`), one cached token per app (corpid + Secret), refreshed on 40014/42001. Limits (§3): 10,000
calls per minute and 150,000 per hour per corp and API; app messages 30 per minute and 1,000 per hour per
member, over which WeCom drops messages *silently*, so this client paces each member itself.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import requests

from lifeline_hub.core.api import (
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

log = logging.getLogger("lifeline.wecom")
WECOM_HOST = "https://qyapi.weixin.qq.com"
CORP_QUOTAS = (Quota(10_000, 60.0), Quota(150_000, 3600.0))
"""Per corp and API (doc 90312)."""
HOUR_PER_MEMBER = Quota(1000, 3600.0)
"""App messages per member per hour (doc 90312); the minute limit is the instance's `member_per_minute`."""

CONFIG_ERRORS = {40001: "invalid secret", 40013: "invalid corpid", 40091: "secret is invalid"}
TOKEN_ERRORS = {40014: "invalid access_token", 42001: "access_token expired"}
PERMISSION_ERRORS = {48002: "API forbidden for this app", 60011: "member outside the app's visibility",
                     60020: "caller IP not in the app's trusted IPs", 301002: "no permission for this app"}
BLOCK_SECONDS = {45009: 60.0}
"""How long WeCom refuses after a frequency-limit answer (the minute limit; an hour or day limit lasts longer and
comes back as another 45009)."""


class NobodyToSend(VendorError):
    """81013: the user, party and tag lists were all invalid; the message reached nobody (final for that message)."""


class AppSecret(TokenProvider):
    """`GET /cgi-bin/gettoken?corpid=&corpsecret=`: 7200 s tokens, cached and shared by all threads of the app."""

    def __init__(self, client: WeComClient, corp_id: str, secret: str) -> None:
        super().__init__(refresh_ahead=300.0)
        self._client = client
        self._corp_id = corp_id
        self._secret = secret

    def fetch(self) -> Token:
        # not retried here: the call that needs the token retries (with it), and a failing gettoken called in a
        # loop gets the corp blocked (wecom-wechat.md §2.1)
        body = self._client.request("GET", "/cgi-bin/gettoken", api="gettoken", quota=CORP_QUOTAS, auth=False,
                                    params={"corpid": self._corp_id, "corpsecret": self._secret}, idempotent=False)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise self._client.error(AuthFailed, None, "gettoken answered without an access_token")
        return self.expiring_in(token, float(body.get("expires_in") or 0))


class WeComClient(VendorClient):
    """`VendorClient` for one WeCom app; `check` returns the body of an `errcode: 0` answer."""

    vendor = "wecom"

    def __init__(self, base_url: str, corp_id: str, secret: str, **options: Any) -> None:
        options.setdefault("limiter", RateLimiter())
        super().__init__(base_url, app=corp_id, **options)
        self.tokens = AppSecret(self, corp_id, secret)

    def apply_token(self, request: RequestParts, token: str) -> None:
        request["params"]["access_token"] = token

    def check(self, response: requests.Response) -> Any:
        body = self.parse_json(response)
        if response.status_code >= 400 or not isinstance(body, dict):
            raise self.status_error(response)
        code = body.get("errcode")
        if not isinstance(code, int):
            raise self.error(TransientError, response, "answer without a numeric errcode")
        message = str(body.get("errmsg") or "").split(", hint:")[0]  # the tail differs on every call
        if code == 0:
            if "Warning" in message:  # WeCom accepted a body it could not fully parse: our bug, not the vendor's
                log.warning("WeCom accepted a call with a warning: %s", message)
            return body
        text = f"errcode {code}: {message}"
        if code in CONFIG_ERRORS:
            on_gettoken = urlsplit(response.url).path.endswith("/gettoken")
            if not on_gettoken and code == 40001:  # "invalid credential" on an API call: a stale token
                raise self.error(TokenExpired, response, text, code=code)
            raise self.error(AuthFailed, response, text, code=code)
        if code in TOKEN_ERRORS:
            raise self.error(TokenExpired, response, text, code=code)
        if code in (45009, 45033):
            raise self.error(RateLimited, response, text, code=code, retry_after=BLOCK_SECONDS.get(code))
        if code == -1:
            raise self.error(TransientError, response, text, code=code)
        if code in PERMISSION_ERRORS:
            raise self.error(PermissionDenied, response, f"{text} ({PERMISSION_ERRORS[code]})", code=code)
        if code == 81013:
            raise self.error(NobodyToSend, response, text, code=code)
        raise self.error(InvalidRequest, response, text, code=code)

    def send(self, message: dict[str, Any], members: list[str], per_minute: int) -> dict[str, Any]:
        """`POST /cgi-bin/message/send` after pacing every member (WeCom would drop the excess without a word).

        Safe to repeat: the message carries `enable_duplicate_check`, so WeCom drops a repeat of the same
        content to the same people within `duplicate_check_interval`.
        """
        assert self.limiter is not None
        for member in members:
            self.limiter.acquire(f"member:{member.lower()}", self.app, (Quota(per_minute, 60.0), HOUR_PER_MEMBER))
        body: dict[str, Any] = self.request("POST", "/cgi-bin/message/send", api="message.send", json=message,
                                            idempotent=True)
        return body
