"""`VendorClient`: the HTTP client every connector uses (tokens, rate limits, retries, stats, logs).

A vendor subclasses it and overrides two hooks: `apply_token` (where the token goes on a request)
and `check` (parse the vendor envelope, raise typed errors, return the payload). Retry waits and
`Retry-After` dates run on the toolkit's clock (`core.http.clock`), so a test can fake them.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any, TypedDict, TypeVar

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
from urllib3.util.retry import Retry

from lifeline_hub.core.http.breaker import current_breaker
from lifeline_hub.core.http.budget import BudgetSpent, current_budget
from lifeline_hub.core.http.clock import Clock, current_clock
from lifeline_hub.core.http.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    TokenExpired,
    TransientError,
    VendorError,
)
from lifeline_hub.core.http.ratelimit import Quota, RateLimiter
from lifeline_hub.core.http.redact import RedactingFilter
from lifeline_hub.core.http.tokens import TokenProvider

log = logging.getLogger("lifeline.http")
log.addFilter(RedactingFilter())

E = TypeVar("E", bound=VendorError)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_STATUS_ERRORS: dict[int, type[VendorError]] = {
    401: TokenExpired,
    403: PermissionDenied,
    404: NotFound,
    408: TransientError,
    409: Conflict,
    429: RateLimited,
}


class RequestParts(TypedDict):
    """What `apply_token` may change before a request is sent (`url` is absolute)."""

    url: str
    params: dict[str, Any]
    headers: dict[str, str]
    json: Any
    data: Any


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta seconds or HTTP date, counted from `now`, epoch
    seconds, default the toolkit's clock); None if absent."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (current_clock().time() if now is None else now), 0.0)


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection failed before any byte of the request left (safe to repeat)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, ConnectTimeoutError)


class CallStats:
    """Thread-safe counters: HTTP attempts per api, retries, rate-limit answers, failed calls by type."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.retries = 0
        self.rate_limited = 0
        self.errors: Counter[str] = Counter()

    def record_call(self, api: str) -> None:
        with self._lock:
            self.calls[api] += 1

    def record_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def record_rate_limited(self) -> None:
        with self._lock:
            self.rate_limited += 1

    def record_error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] += 1

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "total_calls": sum(self.calls.values()),
                "retries": self.retries,
                "rate_limited": self.rate_limited,
                "errors": dict(self.errors),
            }


class VendorClient:
    """HTTP client for one vendor app: base URL, token, rate limiter, typed errors and retries.

    Retries: `RateLimited` always (the vendor did not process the call), after `retry_after` or
    backoff, at least `min_rate_limit_wait`; `TokenExpired` once, after invalidating the token;
    `TransientError` (5xx, timeouts, network) only for idempotent calls, unless the request
    never left (connection refused). Everything else fails at once.

    Waits go to `sleep` when given, else to `clock` (default: the toolkit's current clock, looked up
    at each wait, see `core.http.clock`). Inside a `retry_budget` block a call stops retrying when the
    next wait would end past the budget (`BudgetSpent`); inside `use_breaker` every attempt goes through
    the circuit breaker (`CircuitOpen` while it is open; `core.http.breaker`).
    """

    vendor = "vendor"
    min_rate_limit_wait = 0.0
    request_id_header: str | None = None

    def __init__(
        self,
        base_url: str,
        *,
        vendor: str | None = None,
        app: str = "default",
        tokens: TokenProvider | None = None,
        limiter: RateLimiter | None = None,
        timeout: tuple[float, float] = (3.05, 30.0),
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 60.0,
        pool_size: int = 32,
        sleep: Callable[[float], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.vendor = vendor or self.vendor
        self.app = app
        self.tokens = tokens
        self.limiter = limiter
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self.stats = CallStats()
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._clock = clock
        self.session = requests.Session()
        # No urllib3 retries at all: connect errors are retried (and counted) by `request`.
        adapter = HTTPAdapter(pool_maxsize=pool_size, max_retries=Retry(total=0, read=False, status=0))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    @property
    def clock(self) -> Clock:
        """The clock this client waits on."""
        return self._clock or current_clock()

    def sleep(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self.clock.sleep(seconds)

    # -- hooks for vendor subclasses ------------------------------------------------------------

    def apply_token(self, request: RequestParts, token: str) -> None:
        """Put `token` on the request (in place); the default is an `Authorization: Bearer` header."""
        request["headers"]["Authorization"] = f"Bearer {token}"

    def check(self, response: requests.Response) -> Any:
        """Parse the vendor envelope, raise typed errors, return the payload; default: HTTP status."""
        body = self.parse_json(response)
        if response.status_code >= 400:
            raise self.status_error(response)
        return body

    # -- helpers for `check` ----------------------------------------------------------------------

    def error(self, kind: type[E], response: requests.Response | None, message: str, **fields: Any) -> E:
        """Build `kind` filled with this vendor, the HTTP status and the request id header."""
        fields.setdefault("vendor", self.vendor)
        if response is not None:
            fields.setdefault("http_status", response.status_code)
            if self.request_id_header:
                fields.setdefault("request_id", response.headers.get(self.request_id_header))
        return kind(message, **fields)

    def status_error(self, response: requests.Response, message: str | None = None) -> VendorError:
        """The typed error for an HTTP error status (429 and 5xx honour `Retry-After`)."""
        status = response.status_code
        kind = _STATUS_ERRORS.get(status, TransientError if status >= 500 else InvalidRequest)
        text = message or f"HTTP {status} {response.reason}: {response.text[:300]}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self.clock.time())
        return self.error(kind, response, text, retry_after=retry_after)

    def parse_json(self, response: requests.Response) -> Any:
        """The JSON body (None when empty); a non-JSON body is a status error or a `TransientError`."""
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            if response.status_code >= 400:
                raise self.status_error(response) from None
            kind = response.headers.get("Content-Type", "?")
            raise self.error(TransientError, response, f"expected JSON, got {kind}") from None

    # -- the call ---------------------------------------------------------------------------------

    def backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with jitter before retry number `attempt` (1, 2, …)."""
        return min(self.backoff * 2.0 ** (attempt - 1), self.max_backoff) + random.uniform(0, self.backoff)

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def _transport_error(self, exc: requests.RequestException) -> VendorError:
        if isinstance(exc, ValueError | requests.exceptions.InvalidJSONError):  # bad URL, header, body
            return InvalidRequest(f"invalid request: {exc}", vendor=self.vendor)
        kind = "read timeout" if isinstance(exc, requests.ReadTimeout) else "network error"
        return TransientError(f"{kind}: {exc}", vendor=self.vendor, sent=not _never_sent(exc))

    def _send(self, method: str, request: RequestParts, api: str, attempt: int) -> Any:
        started, url = time.monotonic(), request["url"]
        status: int | str = "-"
        outcome = "ok"
        try:
            try:
                response = self.session.request(method, timeout=self.timeout, **request)
            except requests.RequestException as exc:
                if exc.request is not None and exc.request.url:
                    url = exc.request.url
                raise self._transport_error(exc) from None  # the cause's text may hold secrets
            url, status = response.url, response.status_code
            return self.check(response)
        except VendorError as exc:
            outcome = type(exc).__name__
            if isinstance(exc, RateLimited):
                self.stats.record_rate_limited()
            raise
        finally:
            elapsed = time.monotonic() - started
            log.debug(
                "%s %s -> %s %s api=%s attempt=%d elapsed=%.3fs", method, url, status, outcome, api, attempt, elapsed
            )

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        api: str,
        quota: Quota | Sequence[Quota] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        idempotent: bool | None = None,
    ) -> Any:
        """Call the vendor and return what `check` returns; raise a `VendorError` when it fails.

        `api` names the vendor API for rate limits and stats; `idempotent=True` marks a write that
        carries a vendor idempotency key (safe to repeat after a timeout or 5xx).
        """
        method = method.upper()
        url = self._url(path_or_url)
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        tokens = self.tokens if auth else None
        breaker, budget = current_breaker(), current_budget()
        attempts = 0
        refreshed = False
        token_failed = False
        budget_spent = False

        def attempt() -> Any:
            nonlocal attempts, token_failed
            attempts += 1
            if breaker is not None:
                breaker.before_call()
            request: RequestParts = {
                "url": url,
                "params": dict(params or {}),
                "headers": dict(headers or {}),
                "json": json,
                "data": data,
            }
            try:
                token = tokens.get() if tokens is not None else None
            except VendorError:
                token_failed = True  # the token request retried on its own: retrying here would nest its retries
                raise
            if token is not None:
                self.apply_token(request, token)
            limited = self.limiter.calling(api, self.app, quota or ()) if self.limiter is not None else nullcontext()
            try:
                with limited:  # waits for the quota; the call counts against it until its answer is back
                    self.stats.record_call(api)
                    result = self._send(method, request, api, attempts)
            except TransientError as exc:
                opened = breaker.failed(exc) if breaker is not None else None
                if opened is not None:
                    raise opened from exc
                raise
            except VendorError as exc:
                if breaker is not None:
                    breaker.answered()
                if isinstance(exc, TokenExpired) and tokens is not None and token is not None:
                    tokens.invalidate(token)
                raise
            if breaker is not None:
                breaker.answered()
            return result

        def should_retry(exc: BaseException) -> bool:
            nonlocal refreshed
            if not isinstance(exc, VendorError) or not exc.retryable or token_failed:
                return False
            if exc.retry_after is not None and exc.retry_after > self.max_retry_after:
                return False  # let the scheduler come back later rather than block a worker
            if isinstance(exc, TokenExpired):
                retry, refreshed = tokens is not None and not refreshed, True
                return retry
            return isinstance(exc, RateLimited) or (isinstance(exc, TransientError) and (safe or not exc.sent))

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, TokenExpired):
                return 0.0
            retry_after = exc.retry_after if isinstance(exc, VendorError) else None
            delay = self.backoff_delay(state.attempt_number) if retry_after is None else retry_after
            if isinstance(exc, RateLimited):
                delay = max(delay, self.min_rate_limit_wait)
                if self.limiter is not None:  # hold every thread calling this api, not just this one
                    self.limiter.pause(api, self.app, self.limiter.clock() + delay)
            return delay

        def before_sleep(state: RetryCallState) -> None:
            self.stats.record_retry()
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            log.info("retrying %s %s api=%s in %.2fs after: %s", method, url, api, delay, exc)

        def stop(state: RetryCallState) -> bool:
            nonlocal budget_spent
            if state.attempt_number >= self.max_attempts:
                return True
            budget_spent = budget is not None and not budget.allows(state.upcoming_sleep)
            return budget_spent

        retrying = Retrying(
            stop=stop,
            retry=retry_if_exception(should_retry),
            wait=wait,
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except VendorError as exc:
            self.stats.record_error(type(exc).__name__)
            if budget_spent and budget is not None:
                raise BudgetSpent(
                    f"gave up on {method} api={api} after {attempts} attempts: the task's retry budget of "
                    f"{budget.seconds:g} s would run out before the next one; last error: {exc}",
                    vendor=self.vendor, http_status=exc.http_status, sent=getattr(exc, "sent", True)) from exc
            raise

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> VendorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
