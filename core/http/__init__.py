"""HTTP toolkit for connector plugins: typed errors, redaction, tokens, rate limits, client, paging."""

from lifeline_hub.core.http.client import IDEMPOTENT_METHODS, CallStats, RequestParts, VendorClient, parse_retry_after
from lifeline_hub.core.http.clock import SYSTEM_CLOCK, Clock, SystemClock, current_clock, use_clock
from lifeline_hub.core.http.errors import (
    AuthFailed,
    Conflict,
    ErrorFields,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    TokenExpired,
    TransientError,
    VendorError,
)
from lifeline_hub.core.http.paging import cursor_pages, items, offset_pages, page_token_pages
from lifeline_hub.core.http.ratelimit import Quota, RateLimiter
from lifeline_hub.core.http.redact import (
    RedactingFilter,
    install_redaction,
    mask_email,
    mask_phone,
    redact,
    redact_json,
    redact_mapping,
)
from lifeline_hub.core.http.tokens import Token, TokenProvider

__all__ = [
    "IDEMPOTENT_METHODS",
    "SYSTEM_CLOCK",
    "AuthFailed",
    "CallStats",
    "Clock",
    "Conflict",
    "ErrorFields",
    "InvalidRequest",
    "NotFound",
    "PermissionDenied",
    "Quota",
    "RateLimited",
    "RateLimiter",
    "RedactingFilter",
    "RequestParts",
    "SystemClock",
    "Token",
    "TokenExpired",
    "TokenProvider",
    "TransientError",
    "VendorClient",
    "VendorError",
    "current_clock",
    "cursor_pages",
    "install_redaction",
    "items",
    "mask_email",
    "mask_phone",
    "offset_pages",
    "page_token_pages",
    "parse_retry_after",
    "redact",
    "redact_json",
    "redact_mapping",
    "use_clock",
]
