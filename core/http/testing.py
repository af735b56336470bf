"""Test helpers for code built on the HTTP toolkit (also for plugin authors' tests)."""

from __future__ import annotations

import threading


class FakeClock:
    """A `core.http.clock.Clock` whose `sleep` advances time instantly instead of waiting.

    Run a block on it with `use_clock(clock)` (every `VendorClient`, `RateLimiter` and `TokenProvider`
    without a clock of its own then retries, backs off, paces and expires tokens on it), or pass
    `.time`/`.sleep` where a clock is injectable. `now` is epoch seconds; `monotonic()` is the same
    number; `sleeps` lists every wait asked for. Subclasses that must move more than this clock (an
    emulator's time, the process's `utcnow`) override `advance`, which `sleep` goes through.
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.RLock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def monotonic(self) -> float:
        return self.time()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.advance(max(seconds, 0.0))

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
