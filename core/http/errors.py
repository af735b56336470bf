"""Typed vendor errors: what every connector raises and what retries, Airflow and dispatch act on.

Messages are redacted when the error is built, so `str()`, `repr()` and tracebacks of these errors
never carry a token, secret, phone number or e-mail address.
"""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

from lifeline_hub.core.http.redact import redact


class ErrorFields(TypedDict, total=False):
    """The keyword fields every `VendorError` takes (for subclasses that add their own)."""

    vendor: str
    code: str | int | None
    http_status: int | None
    request_id: str | None
    retry_after: float | None
    retryable: bool | None


class VendorError(Exception):
    """A vendor call failed. `retryable` says whether repeating the same call may succeed."""

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        vendor: str = "unknown",
        code: str | int | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.message = redact(message)
        self.vendor = vendor
        self.code = code
        self.http_status = http_status
        self.request_id = request_id
        self.retry_after = retry_after
        self.retryable = self.default_retryable if retryable is None else retryable
        super().__init__(self.message)

    def __str__(self) -> str:
        details = [
            f"{name}={value}"
            for name, value in (
                ("code", self.code),
                ("http", self.http_status),
                ("request_id", self.request_id),
                ("retry_after", self.retry_after),
            )
            if value is not None
        ]
        suffix = f" ({', '.join(details)})" if details else ""
        return f"{self.vendor}: {self.message}{suffix}"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle every field (worker processes, Celery), not only the message."""
        return _restore, (type(self), self.args, self.__dict__)


def _restore(kind: type[VendorError], args: tuple[Any, ...], state: dict[str, Any]) -> VendorError:
    error = kind.__new__(kind, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class RateLimited(VendorError):
    """The vendor refused the call for rate or quota reasons; it did not process it."""

    default_retryable = True


class TokenExpired(VendorError):
    """The access token is invalid or expired: refresh it once and retry."""

    default_retryable = True


class PermissionDenied(VendorError):
    """The app lacks a permission or scope; an admin must grant it. Never retried."""

    def __init__(self, message: str, *, scope: str | None = None, **fields: Unpack[ErrorFields]) -> None:
        self.scope = scope
        needs = f" (grant the app the permission/scope {scope!r})" if scope else ""
        super().__init__(f"permission denied: {message}{needs}", **fields)


class AuthFailed(VendorError):
    """The credentials (app key/secret) were rejected."""


class TransientError(VendorError):
    """5xx, timeout or network failure. `sent` is False only when the request surely never left."""

    default_retryable = True

    def __init__(self, message: str, *, sent: bool = True, **fields: Unpack[ErrorFields]) -> None:
        self.sent = sent
        super().__init__(message, **fields)


class NotFound(VendorError):
    """The object or route does not exist."""


class Conflict(VendorError):
    """The object already exists or changed concurrently."""


class InvalidRequest(VendorError):
    """The vendor rejected the request as malformed; fix the request, do not retry."""
