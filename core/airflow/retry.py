"""Airflow 3.3 `retry_policy`: credential and permission errors fail at once, 429/5xx retry.

The decision follows the error's own `retryable` flag (`lifeline_hub.core.http.errors`): `AuthFailed`,
`PermissionDenied`, `InvalidRequest`, `CircuitOpen` (the vendor app's breaker is open: the next run
after its cool-down probes)... fail on the first try whatever `retries` says;
`RateLimited`, `TransientError` (`BudgetSpent` too), `TokenExpired` retry, after the vendor's `Retry-After` when it
sent one, else after the task's exponential backoff. Configuration problems (a bad
`plugins.toml`, a missing connection) fail at once too; anything else gets the task's retries.
Airflow serialises only a "has a retry policy" flag; `evaluate` runs in the task process.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import RetryDecision, RetryPolicy


class VendorRetryPolicy(RetryPolicy):
    def evaluate(self, exception: BaseException, try_number: int, max_tries: int,
                 context: Any = None) -> RetryDecision:
        from lifeline_hub.core.config import ConfigError
        from lifeline_hub.core.connections import ConnectionNotFound
        from lifeline_hub.core.http.errors import VendorError

        name = type(exception).__name__
        if isinstance(exception, ConfigError | ConnectionNotFound):
            return RetryDecision.fail(f"{name}: configuration problem, retrying cannot help")
        if not isinstance(exception, VendorError):
            return RetryDecision.default()
        if not exception.retryable:
            return RetryDecision.fail(f"{name} (http {exception.http_status}) is not retryable")
        delay = timedelta(seconds=exception.retry_after) if exception.retry_after else None
        return RetryDecision.retry(delay, f"{name} (http {exception.http_status}) may pass")
