"""Webhook signatures of the aiplatform protocol v1 (docs/aiplatform-protocol.md §5).

The platform signs `"{timestamp}.{raw body}"` with HMAC-SHA256 under the webhook secret and sends
`AIP-Signature: v1=<hex>`; during a secret rotation it sends one `v1=` entry per secret, separated
by spaces. A receiver accepts a request when any entry matches any of its secrets and the
timestamp is within the tolerance of its own clock; the event id (`AIP-Event-Id`, equal to the
body's `id`) then deduplicates retries and replays inside that tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime

from lifeline_hub.core.connector import CallbackRejected
from lifeline_hub.core.receiver.untrusted import ascii_digits, same_digest

EVENT_ID_HEADER = "AIP-Event-Id"
TIMESTAMP_HEADER = "AIP-Timestamp"
SIGNATURE_HEADER = "AIP-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex>` for one secret."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signed_headers(secrets: Sequence[str], event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers the platform sends with one delivery of an event."""
    return {
        "Content-Type": "application/json",
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: " ".join(signature(s, timestamp, body) for s in secrets),
    }


def verify(secrets: Sequence[str], headers: Mapping[str, str], body: bytes, now: datetime,
           tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS) -> str:
    """Check signature and freshness of one delivery; returns its event id or raises `CallbackRejected`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    event_id = lowered.get(EVENT_ID_HEADER.lower(), "")
    raw_timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    offered = lowered.get(SIGNATURE_HEADER.lower(), "").split()
    if not offered or not raw_timestamp or not event_id:
        raise CallbackRejected("unsigned: event id, timestamp or signature header missing")
    timestamp = ascii_digits(raw_timestamp)
    if timestamp is None:
        raise CallbackRejected("malformed timestamp header")
    expected = [signature(s, timestamp, body) for s in secrets if s]
    if not any(same_digest(e, o) for o in offered for e in expected):
        raise CallbackRejected("signature does not match")
    if abs(now.timestamp() - timestamp) > tolerance_seconds:
        raise CallbackRejected(f"stale: timestamp is more than {tolerance_seconds:.0f} s away from now")
    return event_id
