"""HTTP client of the aiplatform protocol v1: client-credentials tokens and the error envelope.

Everything else (rate limits, retries, backoff, redacted logs) comes from `lifeline_hub.core.http.VendorClient`.
"""

from __future__ import annotations

from typing import Any

import requests

from lifeline_hub.core.http import (
    AuthFailed,
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    RateLimiter,
    Token,
    TokenExpired,
    TokenProvider,
    TransientError,
    VendorClient,
    VendorError,
    parse_retry_after,
)

ERRORS: dict[str, type[VendorError]] = {
    "invalid_client": AuthFailed,
    "invalid_token": TokenExpired,
    "token_expired": TokenExpired,
    "insufficient_scope": PermissionDenied,
    "not_found": NotFound,
    "invitation_closed": Conflict,
    "reset_limit_reached": Conflict,
    "rate_limited": RateLimited,
    "invalid_request": InvalidRequest,
    "invalid_cursor": InvalidRequest,
    "idempotency_key_reused": InvalidRequest,
    "internal_error": TransientError,
    "unavailable": TransientError,
}


class ClientLimiter(RateLimiter):
    """One window per API client: the platform documents one limit per client for all its APIs
    (`requests_per_second`), so two streams read at once (or by two workers) must not each get the whole quota."""

    SCOPE = "client"

    def scope(self, api: str) -> str:
        return self.SCOPE


class ClientCredentials(TokenProvider):
    """`POST /v1/oauth/token` with the client id and secret; tokens cached until shortly before expiry."""

    def __init__(self, client: AIPlatformClient, client_id: str, client_secret: str) -> None:
        super().__init__(refresh_ahead=60.0)
        self._client = client
        self._client_id = client_id
        self._client_secret = client_secret

    def fetch(self) -> Token:
        body = self._client.request(
            "POST", "/oauth/token", api="oauth.token", auth=False, idempotent=True,
            json={"grant_type": "client_credentials", "client_id": self._client_id,
                  "client_secret": self._client_secret},
        )
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise self._client.error(AuthFailed, None, "token endpoint answered without an access_token")
        return self.expiring_in(body["access_token"], float(body.get("expires_in") or 0))


class AIPlatformClient(VendorClient):
    vendor = "aiplatform"
    request_id_header = "X-Request-Id"

    def check(self, response: requests.Response) -> Any:
        """Success is the bare JSON object; failure is `{"error": {"code", "message"}}` with a 4xx/5xx."""
        body = self.parse_json(response)
        if response.status_code < 400:
            return body
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or error.get("code") not in ERRORS:
            raise self.status_error(response)
        code = str(error["code"])
        message = f"{code}: {error.get('message') or response.reason}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise self.error(ERRORS[code], response, message, code=code, retry_after=retry_after)
