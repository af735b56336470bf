"""Cached access tokens: refreshed ahead of expiry, one refresh at a time, safe invalidation."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from lifeline_hub.core.http.clock import current_clock


@dataclass(frozen=True)
class Token:
    """An access token and the wall-clock instant (`time.time()` seconds) it expires."""

    value: str = field(repr=False)
    expires_at: float


class TokenProvider(ABC):
    """Fetches and caches a vendor access token. Vendors implement `fetch`.

    `get` returns the cached token until `refresh_ahead` seconds before it expires (at most half
    its lifetime), then refreshes it; concurrent callers wait for the one refresh in flight. `clock`
    (epoch seconds) defaults to the toolkit's current clock (`core.http.clock`), looked up at each call.
    """

    def __init__(self, *, refresh_ahead: float = 300.0, clock: Callable[[], float] | None = None) -> None:
        self.refresh_ahead = refresh_ahead
        self._clock = clock
        self.refreshes = 0
        self._lock = threading.Lock()
        self._cached: tuple[Token, float] | None = None  # (token, refresh at)

    def clock(self) -> float:
        """Now in epoch seconds."""
        return self._clock() if self._clock is not None else current_clock().time()

    @abstractmethod
    def fetch(self) -> Token:
        """Ask the vendor for a new token (raise `AuthFailed` on bad credentials)."""

    def expiring_in(self, value: str, seconds: float) -> Token:
        """A `Token` valid for `seconds` from now on this provider's clock (for `fetch`)."""
        return Token(value, self.clock() + seconds)

    def get(self) -> str:
        """A valid token, from the cache when it is fresh enough."""
        cached = self._cached
        if cached is not None and self.clock() < cached[1]:
            return cached[0].value
        with self._lock:
            cached = self._cached
            now = self.clock()
            if cached is None or now >= cached[1]:
                token = self.fetch()
                lifetime = max(token.expires_at - now, 0.0)
                cached = (token, token.expires_at - min(self.refresh_ahead, lifetime / 2))
                self._cached = cached
                self.refreshes += 1
            return cached[0].value

    def invalidate(self, value: str) -> None:
        """Drop the cached token if it is still `value` (the one the vendor just refused)."""
        with self._lock:
            if self._cached is not None and self._cached[0].value == value:
                self._cached = None
