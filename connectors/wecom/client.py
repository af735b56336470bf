"""HTTP client of the WeCom server API (`qyapi.weixin.qq.com/cgi-bin`): gettoken, the errcode envelope, limits.

Every answer is HTTP 200 with `errcode` (int) and `errmsg`; the errmsg carries a per-call tail (hint, caller
IP, a link), so only `errcode` decides (wecom-wechat.md §2.2). The access token goes in the query
(`?access_token=`). One token per (corpid, Secret), cached for the process and refreshed by one caller at a
time (§2.1: frequent gettoken calls get the corp throttled); 40014/42001 refresh it once. App messages are
limited to 30 per minute and 1,000 per hour per member, over which WeCom drops them *silently* (§3): the
`MemberLimiter` keeps every member under the instance's own limits, for all threads of the process.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
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
from lifeline_hub.core.http.clock import current_clock

log = logging.getLogger("lifeline.wecom")
VENDOR = "wecom"
WECOM_HOST = "https://qyapi.weixin.qq.com"
CORP_QUOTAS = (Quota(10_000, 60.0), Quota(150_000, 3600.0))
"""Per corp and API (doc 90312)."""
CONFIG_ERRORS = {40001: "invalid secret", 40013: "invalid corpid", 40091: "secret is invalid"}
TOKEN_ERRORS = {40014: "invalid access_token", 42001: "access_token expired"}
PERMISSION_ERRORS = {48002: "API forbidden for this app", 60011: "member outside the app's visibility",
                     60020: "caller IP not in the app's trusted IPs", 301002: "no permission for this app"}
RATE_ERRORS = {45009: 60.0, 45033: None}
"""errcode -> seconds WeCom refuses afterwards: a minute-limit 45009 blocks for 60 s (an hour or day limit lasts
longer and answers 45009 again); 45033 (too many concurrent calls) backs off."""
MEMBER_SKEW = 1.0
"""Seconds each member window is widened by: WeCom counts arrivals on its own clock, and a send's network time
varies, so two sends a window apart here may land slightly less apart there."""


class NobodyToSend(VendorError):
    """81013: the user, party and tag lists were all invalid; the message reached nobody (final for it)."""


class AppSecret(TokenProvider):
    """`GET /cgi-bin/gettoken?corpid=&corpsecret=`: 7200 s tokens, one refresh at a time."""

    def __init__(self, client: WeComClient, corp_id: str, secret: str) -> None:
        super().__init__(refresh_ahead=300.0)
        self._client = client
        self._corp_id = corp_id
        self._secret = secret

    def fetch(self) -> Token:
        # one attempt: the call that needs the token retries (with it), and a failing gettoken called in a loop
        # gets the corp blocked (§2.1)
        body = self._client.request("GET", "/cgi-bin/gettoken", api="gettoken", quota=CORP_QUOTAS, auth=False,
                                    params={"corpid": self._corp_id, "corpsecret": self._secret}, idempotent=False)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise self._client.error(AuthFailed, None, "gettoken answered without an access_token")
        return self.expiring_in(token, float(body.get("expires_in") or 0))


@dataclass
class _Member:
    log: list[float] = field(default_factory=list)  # send instants, ascending (monotonic clock)


class MemberLimiter:
    """Exact sliding windows of app messages per member (a minute and an hour), shared by every thread.

    `reserve(members)` waits until each member may get one more message under both windows, then counts it
    for all of them at once; a wait longer than `max_wait` raises `RateLimited` (nothing counted) so a
    worker is not held for an hour: dispatch comes back after `retry_after`. Time is `core.http.clock`'s
    monotonic seconds (a fake clock in tests and benches). Members are compared lower-cased, as WeCom does.
    """

    def __init__(self, per_minute: int, per_hour: int, skew: float = MEMBER_SKEW, max_wait: float = 120.0) -> None:
        self.quotas = (Quota(per_minute, 60.0), Quota(per_hour, 3600.0))
        self.skew = skew
        self.max_wait = max_wait
        self._lock = threading.Lock()
        self._members: dict[str, _Member] = {}

    def _delay(self, log: list[float], now: float) -> float:
        delay = 0.0
        for quota in self.quotas:
            window = quota.per_seconds + self.skew
            if len(log) - bisect_right(log, now - window) >= quota.calls:
                delay = max(delay, log[len(log) - quota.calls] + window - now)
        return delay

    def reserve(self, members: Iterable[str]) -> float:
        """Count one message to each of `members` once all may get it; returns the seconds waited."""
        names = sorted({m.lower() for m in members})
        clock, waited = current_clock(), 0.0
        while True:
            with self._lock:
                now = clock.monotonic()
                logs = [self._members.setdefault(name, _Member()).log for name in names]
                delay = max((self._delay(log, now) for log in logs), default=0.0)
                if delay <= 0:
                    horizon = now - self.quotas[-1].per_seconds - self.skew
                    for log in logs:
                        del log[: bisect_right(log, horizon)]
                        log.append(now)
                    return waited
            if waited + delay > self.max_wait:
                raise RateLimited(f"a member's app-message limit ({self.quotas[0].calls}/min, "
                                  f"{self.quotas[1].calls}/h) is used up; WeCom would drop more silently",
                                  vendor=VENDOR, retry_after=delay)
            clock.sleep(delay)
            waited += delay


@dataclass
class _App:
    """What one WeCom app shares across connector instances of the process: its token and member windows."""

    tokens: AppSecret
    members: MemberLimiter
    limiter: RateLimiter


_APPS: dict[tuple[str, str, str], _App] = {}
_APPS_LOCK = threading.Lock()


class WeComClient(VendorClient):
    """`VendorClient` for one WeCom app Secret: `call` returns the body of an `errcode: 0` answer."""

    vendor = VENDOR

    def __init__(self, base_url: str, corp_id: str, secret: str, *, member_per_minute: int = 28,
                 member_per_hour: int = 950, **options: Any) -> None:
        options.setdefault("max_attempts", 4)  # -1 "system busy": at most 3 retries (§2.2)
        super().__init__(base_url, app=corp_id, **options)
        key = (self.base_url, corp_id, secret)
        with _APPS_LOCK:
            app = _APPS.get(key)
            if app is None:
                app = _App(AppSecret(self, corp_id, secret), MemberLimiter(member_per_minute, member_per_hour),
                           RateLimiter())
                _APPS[key] = app
        self.tokens = app.tokens
        self.limiter = app.limiter
        self.members = app.members

    def apply_token(self, request: RequestParts, token: str) -> None:
        request["params"]["access_token"] = token

    def check(self, response: requests.Response) -> Any:
        body = self.parse_json(response)
        if response.status_code >= 400 or not isinstance(body, dict):
            raise self.status_error(response)
        code = body.get("errcode")
        if isinstance(code, bool) or not isinstance(code, int):
            raise self.error(TransientError, response, "answer without a numeric errcode")
        message = str(body.get("errmsg") or "").split(", hint:")[0]  # the tail differs on every call
        if code == 0:
            if "Warning" in message:  # WeCom took a body it could not fully parse: our bug
                log.warning("WeCom accepted %s with a warning: %s", urlsplit(response.url).path, message)
            return body
        text = f"errcode {code}: {message}"
        if code in CONFIG_ERRORS:
            if code == 40001 and not urlsplit(response.url).path.endswith("/gettoken"):
                raise self.error(TokenExpired, response, text, code=code)  # "invalid credential": a stale token
            raise self.error(AuthFailed, response, f"{text} ({CONFIG_ERRORS[code]})", code=code)
        if code in TOKEN_ERRORS:
            raise self.error(TokenExpired, response, text, code=code)
        if code in RATE_ERRORS:
            raise self.error(RateLimited, response, text, code=code, retry_after=RATE_ERRORS[code])
        if code == -1:
            raise self.error(TransientError, response, text, code=code)
        if code in PERMISSION_ERRORS:
            raise self.error(PermissionDenied, response, f"{text} ({PERMISSION_ERRORS[code]})", code=code)
        if code == 81013:
            raise self.error(NobodyToSend, response, text, code=code)
        raise self.error(InvalidRequest, response, text, code=code)

    def call(self, path: str, json: Any = None, params: dict[str, Any] | None = None,
             idempotent: bool | None = None) -> dict[str, Any]:
        """`POST` (when `json` is given) or `GET` `/cgi-bin/<path>`; the body of an `errcode: 0` answer."""
        route = "/cgi-bin/" + path.strip("/").removeprefix("cgi-bin/")
        method = "GET" if json is None else "POST"
        body: dict[str, Any] = self.request(method, route, api=route.removeprefix("/cgi-bin/"), quota=CORP_QUOTAS,
                                            params=params, json=json, idempotent=idempotent)
        return body
