"""HTTP client of Weaver e-cology 9 (weaver-oa.md §2-§3, §7, §8): dev auth, the four answer families, typed errors.

- Auth (§2): `regist` once (the pair is persisted, `registration.py`), `applytoken` with `secret` =
  RSA(spk, secrit), then `appid`, `token` and `userid` = RSA(spk, OA user id) headers on every business call.
  A `secret解密失败` answer to applytoken registers again (persisted) and applies once more.
- Answers are HTTP 200 whatever happened; the body family decides (§3): A `{code: 0|-1, status}` or
  `{errorCode: "002"}`, B paService `{code: "SUCCESS"|..., errMsg, reqFailMsg}`, C a bare array or integer,
  D ofs `{operResult: "1"|"0", message}`. "token不存在或者超时" and `errorCode "002"` are `TokenExpired`: the
  toolkit applies a new token and retries once. A non-JSON body (a 500 page, a login page) is a `TransientError`.
- No cookies: a reused JSESSIONID can make e-cology act as that session's user and ignore `userid` (§2.3).
- Form encoding (UTF-8, URL-encoded) for every POST but ofs, whose body is JSON and which takes no token (§8).
"""

from __future__ import annotations

import http.cookiejar
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from lifeline_hub.connectors.weaver.crypto import client_public_key, encrypt
from lifeline_hub.connectors.weaver.registration import Registration, RegistrationFile
from lifeline_hub.core.http import (
    AuthFailed,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Quota,
    RateLimiter,
    RequestParts,
    Token,
    TokenExpired,
    TokenProvider,
    TransientError,
    VendorClient,
    VendorError,
)

VENDOR = "weaver"
REGIST, APPLYTOKEN = "/api/ec/dev/auth/regist", "/api/ec/dev/auth/applytoken"
PA = "/api/workflow/paService/"
MESSAGE = "/api/ec/dev/message/"
OFS = "/rest/ofs/"
ACTING_USER = "x-lifeline-acting-user"
"""Internal header naming the OA user id a call acts as; `apply_token` replaces it with the encrypted `userid`."""
TOKEN_GONE = "token不存在或者超时"  # noqa: S105 (a vendor message, not a secret)
SECRET_REJECTED = "secret解密失败"  # noqa: S105 (a vendor message, not a secret)
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
PA_ERRORS: dict[str, type[VendorError]] = {
    "PARAM_ERROR": InvalidRequest, "FAIL": InvalidRequest, "NO_PERMISSION": PermissionDenied,
    "USER_EXCEPTION": PermissionDenied, "SYSTEM_INNER_ERROR": TransientError,
}


class SecretRejected(AuthFailed):
    """applytoken could not decrypt `secret`: the registered pair is stale (rotated by another regist)."""


class NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Accept no cookie and send none: every call carries its own `userid` (§2.3)."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def vendor_message(body: Mapping[str, Any]) -> str:
    """The vendor's words of an error body, without the token "token不存在或者超时：" appends."""
    parts: list[str] = []
    msg = body.get("msg") or body.get("message")
    if isinstance(msg, str) and msg:
        parts.append(msg.split("：")[0].split(":")[0] if TOKEN_GONE in msg else msg)
    for key in ("errMsg",):
        value = body.get(key)
        if value:
            parts.append(f"{key} {json.dumps(value, ensure_ascii=False, sort_keys=True)}")
    fail = body.get("reqFailMsg")
    if isinstance(fail, Mapping) and fail.get("msgType"):
        parts.append(f"msgType {fail['msgType']}")
        if fail.get("msgInfo"):
            parts.append(f"msgInfo {json.dumps(fail['msgInfo'], ensure_ascii=False, sort_keys=True)}")
    return "; ".join(parts) or "no message"


class WeaverToken(TokenProvider):
    """applytoken with the persisted registration; registers (and persists) when there is none or it went stale."""

    def __init__(self, client: WeaverClient, appid: str, store: RegistrationFile, seconds: int,
                 given: Registration | None) -> None:
        super().__init__(refresh_ahead=min(300.0, seconds / 4))
        self._client, self._appid, self._store, self._seconds = client, appid, store, seconds
        self._given = given
        self._registration: Registration | None = None
        self._reg_lock = threading.Lock()
        self.registrations = 0

    def registration(self) -> Registration:
        """The pair in use: cached, else the connection's, else the file's, else a new regist (persisted)."""
        with self._reg_lock:
            if self._registration is None:
                self._registration = (self._given or self._store.load(self._client.base_url, self._appid)
                                      or self._regist())
            return self._registration

    def _regist(self) -> Registration:
        body = self._client.request("POST", REGIST, api="auth.regist", auth=False, idempotent=False,
                                    headers={"appid": self._appid, "cpk": client_public_key()})
        spk, secrit = body.get("spk") if isinstance(body, dict) else None, body.get("secrit") \
            if isinstance(body, dict) else None
        if not (isinstance(spk, str) and spk and isinstance(secrit, str) and secrit):
            raise self._client.error(AuthFailed, None, "regist answered without spk and secrit")
        registration = Registration(spk, secrit)
        self._store.save(self._client.base_url, self._appid, registration)
        self.registrations += 1
        return registration

    def _apply(self, registration: Registration) -> Token:
        try:
            secret = encrypt(registration.spk, registration.secrit)
        except ValueError as exc:
            raise self._client.error(SecretRejected, None, f"registered {exc}") from None
        body = self._client.request("POST", APPLYTOKEN, api="auth.applytoken", auth=False, idempotent=False,
                                    headers={"appid": self._appid, "secret": secret, "time": str(self._seconds)})
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise self._client.error(AuthFailed, None, "applytoken answered without a token")
        return self.expiring_in(token, float(self._seconds))

    def fetch(self) -> Token:
        registration = self.registration()
        try:
            return self._apply(registration)
        except SecretRejected:
            with self._reg_lock:  # stale pair: register again (unless another thread just did)
                if self._registration == registration:
                    self._given = None
                    self._registration = self._regist()
                fresh = self._registration
            return self._apply(fresh or registration)


@dataclass
class _Site:
    """What one (e-cology, appid) shares across instances of the process: its token and rate limiter."""

    tokens: WeaverToken
    limiter: RateLimiter


_SITES: dict[tuple[str, str], _Site] = {}
_SITES_LOCK = threading.Lock()


class WeaverClient(VendorClient):
    """`VendorClient` for one e-cology site and appid."""

    vendor = VENDOR

    def __init__(self, base_url: str, appid: str, *, registrations: RegistrationFile, token_seconds: int = 3600,
                 given: Registration | None = None, calls_per_second: float = 2.0, **options: Any) -> None:
        options.setdefault("max_attempts", 4)
        super().__init__(base_url, app=appid, **options)
        self.appid = appid
        self.session.cookies.set_policy(NoCookies())
        self.quota = Quota(max(1, round(calls_per_second * 10)), 10.0)
        with _SITES_LOCK:
            site = _SITES.get((self.base_url, appid))
            if site is None:
                site = _Site(WeaverToken(self, appid, registrations, token_seconds, given), RateLimiter())
                _SITES[(self.base_url, appid)] = site
        self.tokens = self.weaver_tokens = site.tokens
        self.limiter = site.limiter

    # -- the toolkit's hooks --------------------------------------------------------------------------

    def apply_token(self, request: RequestParts, token: str) -> None:
        headers = request["headers"]
        headers["appid"], headers["token"] = self.appid, token
        user = headers.pop(ACTING_USER, None)
        if user is not None:
            headers["userid"] = encrypt(self.weaver_tokens.registration().spk, user)

    def check(self, response: requests.Response) -> Any:
        body = self.parse_json(response)  # a non-JSON page: TransientError (or the status's error)
        if response.status_code >= 400:
            raise self.status_error(response, f"HTTP {response.status_code}: {vendor_message(body)}"
                                    if isinstance(body, dict) else None)
        if not isinstance(body, dict):
            return body  # family C: a bare array or integer (the caller checks which)
        if "operResult" in body:  # family D (ofs)
            if str(body.get("operResult")) == "1":
                return body
            raise self.error(InvalidRequest, response, f"ofs refused: {vendor_message(body)}",
                             code=str(body.get("operResult")))
        code, status = body.get("code"), body.get("status")
        if isinstance(code, str):  # family B (paService)
            if code == "SUCCESS":
                return body
            kind = PA_ERRORS.get(code, InvalidRequest)
            raise self.error(kind, response, f"{code}: {vendor_message(body)}", code=code)
        if status is False or str(status).lower() == "false" or code == -1 or "errorCode" in body:  # family A
            raise self._auth_error(response, body)
        if code is None and "data" not in body and status is None:
            raise self.error(TransientError, response, f"answer of no known family: {sorted(body)[:8]}")
        return body  # family A success, or a paService answer without `code` but with `data` (§3)

    def _auth_error(self, response: requests.Response, body: Mapping[str, Any]) -> VendorError:
        message, code = vendor_message(body), body.get("errorCode", body.get("code"))
        if TOKEN_GONE in str(body.get("msg")) or body.get("errorCode") == "002":
            return self.error(TokenExpired, response, message, code=code)
        if SECRET_REJECTED in str(body.get("msg")):
            return self.error(SecretRejected, response, message, code=code)
        if "不存在" in str(body.get("msg")):  # e.g. a message-center targetId nobody sent
            return self.error(NotFound, response, message, code=code)
        if response.url and response.url.split("?")[0].endswith((REGIST, APPLYTOKEN)):
            return self.error(AuthFailed, response, message, code=code)
        return self.error(PermissionDenied, response, message, code=code)  # e.g. the acting account is disabled

    # -- calls ---------------------------------------------------------------------------------------

    def pa(self, method: str, endpoint: str, user: str, fields: Mapping[str, Any],
           idempotent: bool | None = None) -> dict[str, Any]:
        """A paService call (family B) acting as OA user `user`: GET query or POST form; its whole body."""
        headers = {ACTING_USER: user, **(FORM if method == "POST" else {})}
        values = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in fields.items()}
        post = method == "POST"
        body = self.request(method, PA + endpoint, api=f"paService.{endpoint}", quota=self.quota, headers=headers,
                            idempotent=idempotent, data=values if post else None, params=None if post else values)
        if not isinstance(body, dict):
            raise TransientError(f"{endpoint}: expected an object, got {type(body).__name__}", vendor=VENDOR)
        return body

    def listing(self, endpoint: str, user: str, fields: Mapping[str, Any]) -> list[Any]:
        """A family-C list (POST form, safe to repeat): the bare array, or a typed error for anything else."""
        body = self.request("POST", PA + endpoint, api=f"paService.{endpoint}", quota=self.quota,
                            headers={ACTING_USER: user, **FORM}, idempotent=True,
                            data={k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                                  for k, v in fields.items()})
        if isinstance(body, list):
            return body
        detail = vendor_message(body) if isinstance(body, dict) else type(body).__name__
        raise InvalidRequest(f"{endpoint}: expected an array, got {detail}", vendor=VENDOR)

    def count(self, endpoint: str, user: str, fields: Mapping[str, Any]) -> int:
        """A family-C count: the bare integer, or a typed error for anything else."""
        body = self.request("POST", PA + endpoint, api=f"paService.{endpoint}", quota=self.quota,
                            headers={ACTING_USER: user, **FORM}, idempotent=True,
                            data={k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                                  for k, v in fields.items()})
        if isinstance(body, int) and not isinstance(body, bool):
            return body
        if isinstance(body, str) and body.strip().isdigit():
            return int(body)
        detail = vendor_message(body) if isinstance(body, dict) else type(body).__name__
        raise InvalidRequest(f"{endpoint}: expected an integer, got {detail}", vendor=VENDOR)

    def rows(self, endpoint: str, user: str, params: Mapping[str, Any]) -> list[Any]:
        """A paService GET whose `data` is an array (getRequestLog, getRequestOperatorInfo)."""
        data = self.pa("GET", endpoint, user, params).get("data")
        if isinstance(data, list):
            return data
        if data is None:
            raise NotFound(f"{endpoint}: no data for {dict(params)}", vendor=VENDOR)
        raise InvalidRequest(f"{endpoint}: expected data to be an array, got {type(data).__name__}", vendor=VENDOR)

    def message(self, op: str, fields: Mapping[str, str]) -> dict[str, Any]:
        """A message-center call (§7): appid + token + `skipsession: 1`, no userid; form fields."""
        body = self.request("POST", MESSAGE + op, api=f"message.{op}", quota=self.quota,
                            headers={"skipsession": "1", **FORM}, data=dict(fields), idempotent=False)
        if not isinstance(body, dict):
            if body is True:
                return {"status": True}
            raise TransientError(f"{op}: expected an object, got {type(body).__name__}", vendor=VENDOR)
        return body

    def ofs(self, op: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A unified-todo call (§8): JSON body, no token (syscode + the caller's IP authorize it); naturally
        idempotent by (syscode, flowid, receiver) and `receivets`, so repeated after timeouts."""
        answer = self.request("POST", OFS + op, api=f"ofs.{op}", quota=self.quota, auth=False, idempotent=True,
                              json=dict(body), headers={"Content-Type": "application/json; charset=utf-8"})
        if not isinstance(answer, dict):
            raise TransientError(f"ofs {op}: expected an object, got {type(answer).__name__}", vendor=VENDOR)
        return answer
