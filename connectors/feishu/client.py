"""HTTP client for the Feishu/Lark Open Platform: tenant token, `{code, msg, data}` envelope, typed
errors, per-API rate tiers (reference: /work/shared/reference/feishu-api.md §1, §2, §11).

Only `code` decides success. 99991400 waits `x-ogw-ratelimit-reset` and retries; 99991661/99991663
(and the malformed-token codes) drop the cached token, fetch a new one and retry once; permission
errors name the scope the app lacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

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
    Token,
    TokenExpired,
    TokenProvider,
    TransientError,
    VendorClient,
    VendorError,
    page_token_pages,
    parse_retry_after,
)

FEISHU_HOST = "https://open.feishu.cn"
LARK_HOST = "https://open.larksuite.com"
AUTH_PATH = "/open-apis/auth/v3/tenant_access_token/internal"

_STANDARD = (Quota(1000, 60.0), Quota(50, 1.0))
QUOTAS: dict[str, tuple[Quota, ...]] = {
    "auth.tenant_access_token": _STANDARD,
    "im.message.create": _STANDARD,
    "im.message.read_users": _STANDARD,
    "task.create": (Quota(10, 1.0),),
    "calendar.event.list": _STANDARD,
    "approval.instance.create": (Quota(100, 60.0),),
    "hire.interview.list": (Quota(50, 1.0),),
    "vc.meeting_list.get": (Quota(100, 60.0),),
    "vc.participant_list.get": (Quota(100, 60.0),),
}
"""Documented limits per API (per app per tenant); APIs whose limit is unconfirmed are not limited
client-side and rely on 99991400 answers."""
PER_RECEIVER = Quota(5, 1.0)
"""Messages: at most 5 per second to the same user or group."""

_TOKEN_CODES = frozenset({99991661, 99991663, 99991664, 99991665})
_PERMISSION_CODES = frozenset({99991672, 99991676, 99991679, 1470403, 121005})
_AUTH_CODES = frozenset({10003, 10014, 99991401, 99991662, 99991671, 99991673})
_TRANSIENT_CODES = frozenset({1470500, 1470422, 190003, 1002001, 121001})
_NOT_FOUND_CODES = frozenset({99991201, 1470404, 1390003, 191000, 121004, 126009})
_CONFLICT_CODES = frozenset({60012})
_QUOTA_CODES = frozenset({99991403, 230024})
_SCOPES = re.compile(r"\[([^\]]*)\]")


class FeishuClient(VendorClient):
    """`VendorClient` speaking Feishu's envelope; `check` returns `data` (or the top level for auth)."""

    vendor = "feishu"
    request_id_header = "X-Tt-Logid"

    def check(self, response: requests.Response) -> Any:
        body = self.parse_json(response)
        if not isinstance(body, dict) or not isinstance(body.get("code"), int):
            raise self.status_error(response)
        code: int = body["code"]
        if code == 0:
            data = body.get("data", body)
            return {} if data is None else data
        raise self.failure(response, code, str(body.get("msg", "")), body.get("error"))

    def failure(self, response: requests.Response, code: int, msg: str, detail: Any) -> VendorError:
        """The typed error for a non-zero `code` (HTTP status only breaks ties for unknown codes)."""
        text = f"{code} {msg}".strip()
        if isinstance(detail, dict) and isinstance(detail.get("field_violations"), list):
            wrong = [v for v in detail["field_violations"] if isinstance(v, dict)]
            text += " [" + "; ".join(f"{v.get('field')}: {v.get('description')}" for v in wrong) + "]"
        if code == 99991400:
            reset = response.headers.get("x-ogw-ratelimit-reset") or response.headers.get("Retry-After")
            return self.error(RateLimited, response, text, code=code, retry_after=parse_retry_after(reset))
        if code in _QUOTA_CODES:
            return self.error(RateLimited, response, text, code=code, retryable=False)
        if code in _TOKEN_CODES:
            return self.error(TokenExpired, response, text, code=code)
        if code in _PERMISSION_CODES:
            return self.error(PermissionDenied, response, text, code=code, scope=_scope(msg, detail))
        if code in _AUTH_CODES:
            return self.error(AuthFailed, response, text, code=code)
        if code in _TRANSIENT_CODES or response.status_code >= 500:
            return self.error(TransientError, response, text, code=code)
        if code in _NOT_FOUND_CODES:
            return self.error(NotFound, response, text, code=code)
        if code in _CONFLICT_CODES:
            return self.error(Conflict, response, text, code=code)
        return self.error(InvalidRequest, response, text, code=code)

    def call(self, method: str, path: str, api: str, **kwargs: Any) -> Any:
        """`request` with the API's documented quota applied."""
        return self.request(method, path, api=api, quota=QUOTAS.get(api, ()), **kwargs)

    def pages(self, path: str, api: str, params: dict[str, Any], listing: str = "items") -> Iterator[list[Any]]:
        """GET a page_token/has_more listing page by page (`page_token` absent or empty ends it)."""

        def fetch(token: str | None) -> tuple[list[Any], str | None, bool]:
            query = dict(params, page_token=token) if token else params
            data = self.call("GET", path, api, params=query)
            items = data.get(listing) or []
            if not isinstance(items, list):
                raise self.error(InvalidRequest, None, f"{api}: {listing} is not a list")
            return items, data.get("page_token") or None, bool(data.get("has_more"))

        return page_token_pages(fetch, vendor=self.vendor)


class FeishuTokens(TokenProvider):
    """tenant_access_token of an internal app: top-level `tenant_access_token`/`expire`, cached and
    refreshed 10 minutes ahead of expiry like the official SDK."""

    def __init__(self, client: FeishuClient, app_id: str, app_secret: str) -> None:
        super().__init__(refresh_ahead=600.0)
        self.client = client
        self.app_id = app_id
        self._secret = app_secret

    def fetch(self) -> Token:
        body = self.client.call(
            "POST",
            AUTH_PATH,
            "auth.tenant_access_token",
            json={"app_id": self.app_id, "app_secret": self._secret},
            auth=False,
            idempotent=True,
        )
        token, expire = body.get("tenant_access_token"), body.get("expire")
        if not isinstance(token, str) or not isinstance(expire, int):
            raise AuthFailed("token answer lacks tenant_access_token/expire", vendor="feishu")
        return self.expiring_in(token, float(expire))


def make_client(
    base_url: str, app_id: str, app_secret: str, *, timeout: float = 10.0, limiter: RateLimiter | None = None
) -> FeishuClient:
    """A client with its token provider and a rate limiter shared by all its threads.

    The limiter widens each window by 120 ms: the gateway meters calls on arrival, so a call that
    left on time but arrived late must not land in the next window's count."""
    client = FeishuClient(
        base_url, app=app_id, limiter=limiter or RateLimiter(margin=0.12), timeout=(min(3.05, timeout), timeout)
    )
    client.tokens = FeishuTokens(client, app_id, app_secret)
    return client


def _scope(msg: str, detail: Any) -> str | None:
    """The scope(s) named by a permission error: `permission_violations` or `[a, b]` in the msg."""
    if isinstance(detail, dict):
        subjects = [v.get("subject") for v in detail.get("permission_violations") or [] if isinstance(v, dict)]
        if subjects:
            return " | ".join(str(s) for s in subjects if s)
    found = _SCOPES.search(msg)
    return found.group(1).replace(", ", " | ") if found else None
