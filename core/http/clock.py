"""The one clock of the HTTP toolkit: retries, backoff, `Retry-After` dates, token expiry and the rate limiter.

`VendorClient`, `RateLimiter` and `TokenProvider` read time and sleep through a `Clock`: the one given to
them, else the process's current clock, looked up at each call. Production runs on `SYSTEM_CLOCK`; a test
swaps in a fake one for a block, and every client a connector builds inside it (with no clock of its own)
waits on the fake clock instead of the wall:

    clock = FakeClock()                 # lifeline_hub.core.http.testing
    with use_clock(clock):
        connector.perform(action)       # a 429 with Retry-After: 30 returns at once; clock.now moved 30 s
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Clock(Protocol):
    """Time as the HTTP toolkit sees it."""

    def time(self) -> float:
        """Epoch seconds (token expiry, `Retry-After` HTTP dates)."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go back (rate-limit windows, pauses)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` (retries, backoff, the rate limiter)."""
        ...


class SystemClock:
    """The wall clock: `time.time`, `time.monotonic`, `time.sleep`."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
_current: list[Clock] = [SYSTEM_CLOCK]
_swap = threading.Lock()


def current_clock() -> Clock:
    """The clock toolkit parts without a clock of their own use now (every thread sees the same one)."""
    return _current[-1]


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Run the block (and any thread it starts) on `clock`; the previous clock is back afterwards."""
    with _swap:
        _current.append(clock)
    try:
        yield clock
    finally:
        with _swap:
            del _current[len(_current) - 1 - _current[::-1].index(clock)]
