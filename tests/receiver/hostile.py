"""Hostile input for the receiver's and the connectors' callback tests: hypothesis strategies and settings.

Runs are deterministic (derandomized, no example database written) and sized to keep each fuzz
test to seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

Test = TypeVar("Test", bound=Callable[..., None])

DEEP = b"[" * 100_000 + b"]" * 100_000
"""JSON nested far deeper than any parser's recursion limit."""


def fuzz(examples: int) -> Callable[[Test], Test]:
    """Deterministic hypothesis settings for an inner test run `examples` times."""
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck), print_blob=False)


def nested(depth: int, leaf: Any = 0) -> Any:
    """`leaf` inside `depth` lists."""
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def instants() -> st.SearchStrategy[datetime]:
    """Any instant from year 1 to 9999 (naive wall times too), biased towards the edges."""
    return st.one_of(
        st.datetimes(timezones=st.just(UTC)),
        st.datetimes(),
        st.sampled_from([datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)]),
    )


def texts() -> st.SearchStrategy[str]:
    """Any text: control characters, NUL, lone surrogates, digits of other scripts, huge numbers."""
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(["", "\x00", "²", "١٢٣", " 12", "1_000", "9" * 40, "-1", "1e999", "NaN", "\ud800",
                         "0001-01-01T00:00:00", "9999-12-31T23:59:59", "9999-12-31 23:59:59"]),
        instants().map(datetime.isoformat),
    )


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value, strings from `texts`, numbers of any size."""
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**30), max_value=10**30),
                       st.floats(allow_nan=False, allow_infinity=False), texts())
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts(), inner, max_size=4),
                        max_leaves=max_leaves)


def json_objects(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object whose `fields` come from their strategies or any JSON value, or are left out."""
    return st.fixed_dictionaries({}, optional={k: s | json_values() for k, s in fields.items()})


def header_values() -> st.SearchStrategy[str]:
    """What an HTTP header value can carry: visible ASCII, spaces and tabs, and Latin-1 bytes."""
    return st.one_of(texts().filter(_header_safe), st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                                                          exclude_characters="\x7f"), max_size=60))


def wire(value: str) -> bytes:
    """A header value as a client sends it: Latin-1 bytes, or UTF-8 bytes when it is not Latin-1."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def seen(value: str) -> str:
    """The header value as the receiver reads it (Latin-1)."""
    return wire(value).decode("latin-1")


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _header_safe(text: str) -> bool:
    return all(c == "\t" or (0x20 <= ord(c) <= 0xFF and ord(c) != 0x7F) for c in text)
