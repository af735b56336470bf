"""Reading what a callback's sender controls, for connectors' `handle_callback`.

Verify the raw bytes first, parse afterwards; nothing a sender writes may raise anything but
`CallbackRejected` (401: not authentic) or `CallbackMalformed` (400: authentic, but unreadable).

    if not same_digest(expected_hex, headers.get("x-signature", "")): raise CallbackRejected(...)
    sent = ascii_digits(headers.get("x-timestamp", ""))    # None unless 1-13 ASCII digits
    payload = load_json(body)                               # ValueError for bad, absurdly nested or non-text JSON
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from lifeline_hub.core.connector import CallbackRejected

EPOCH_MILLIS_DIGITS = 13
"""Enough for epoch milliseconds until the year 2286 (and any epoch seconds)."""


class CallbackMalformed(CallbackRejected):
    """A verified callback whose content cannot be read: answered 400 (not 401), nothing stored."""


def same_digest(expected: str, offered: str) -> bool:
    """Constant-time comparison as bytes: an offered value with any characters is merely unequal
    (`hmac.compare_digest` raises TypeError for non-ASCII `str`)."""
    return hmac.compare_digest(expected.encode(), offered.encode("utf-8", "replace"))


def ascii_digits(text: str, max_digits: int = EPOCH_MILLIS_DIGITS) -> int | None:
    """`text` as a number when it is 1 to `max_digits` ASCII digits, else None (`int()` also takes
    "²"-like digits, "١٢", " 12" and "1_2", and `str.isdigit` passes "²")."""
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def load_json(raw: bytes | str) -> Any:
    """`json.loads`, raising ValueError for anything it cannot read, deeply nested input included, and for
    escaped lone surrogates (`"\\ud800"`: valid JSON, but not text; no store or encoder takes it)."""
    try:
        value = json.loads(raw)
        json.dumps(value, ensure_ascii=False).encode()
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except UnicodeEncodeError:
        raise ValueError("JSON with an escaped lone surrogate") from None
    return value
