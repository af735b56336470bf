"""Client-side rate limiting per (api, app): an exact sliding-window log, shared by all threads."""

from __future__ import annotations

import math
import threading
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from lifeline_hub.core.http.clock import SYSTEM_CLOCK, current_clock
from lifeline_hub.core.http.shared_limits import TRANSIT_MARGIN, SharedLimits, shared_limits


@dataclass(frozen=True)
class Quota:
    """At most `calls` calls in any window of `per_seconds` (a vendor's documented limit)."""

    calls: int
    per_seconds: float

    def __post_init__(self) -> None:
        if self.calls < 1 or self.per_seconds <= 0:
            raise ValueError(f"invalid quota: {self.calls} calls per {self.per_seconds} s")


@dataclass
class _KeyState:
    log: list[float] = field(default_factory=list)  # acquire instants, ascending
    horizon: float = 0.0  # longest window this key has been checked against
    paused_until: float = 0.0


class RateLimiter:
    """Blocks callers so no window of a quota ever holds more calls than it allows.

    Each window is widened by `margin` seconds to absorb clock and network jitter between this
    client and the vendor (50 ms keeps a per-second quota at >= 95% of its documented rate).
    `headroom` (< 1) reserves part of a quota for other processes sharing the same app.
    Several quotas may apply to one key at once (Feishu: "1000/min & 50/s"). `clock` and `sleep` default
    to the toolkit's current clock (`core.http.clock`: monotonic time), looked up at each call.

    When the process shares its limits (`core.http.shared_limits`, `[lifeline] rate_limiter`), the windows
    live there, on the shared store's clock, and every process of the deployment counts against the same
    quota: a call made inside `calling` counts from its answer (exact, no margin), one only `acquire`d from
    its booked instant plus `TRANSIT_MARGIN`. A limiter on a clock of its own, or under a fake current clock,
    keeps them in memory.
    """

    def __init__(
        self,
        *,
        headroom: float = 1.0,
        margin: float = 0.05,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not 0 < headroom <= 1 or margin < 0:
            raise ValueError("headroom must be in (0, 1] and margin >= 0")
        self.headroom = headroom
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._keys: defaultdict[tuple[str, str], _KeyState] = defaultdict(_KeyState)

    def clock(self) -> float:
        """Now, in the seconds `pause` takes."""
        return self._clock() if self._clock is not None else current_clock().monotonic()

    def sleep(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            current_clock().sleep(seconds)

    def _shared(self) -> SharedLimits | None:
        """The shared windows this limiter uses, if the process shares them and time is the real one."""
        real_time = self._clock is None and self._sleep is None and current_clock() is SYSTEM_CLOCK
        return shared_limits() if real_time else None

    def scope(self, api: str) -> str:
        """The window key calls to `api` count against: the API itself (a vendor's quota per API)."""
        return api

    def limit(self, quota: Quota) -> int:
        """Calls this limiter allows per window of `quota`."""
        return max(1, math.floor(quota.calls * self.headroom + 1e-9))

    def _delay(self, log: list[float], quota: Quota, now: float) -> float:
        window = quota.per_seconds + self.margin
        limit = self.limit(quota)
        if len(log) - bisect_right(log, now - window) < limit:
            return 0.0
        return log[len(log) - limit] + window - now

    def acquire(self, api: str, app: str, quota: Quota | Sequence[Quota] = ()) -> float:
        """Wait until one more call to `api` for `app` is allowed, record it; return seconds waited.

        With no quota it only waits out a `pause`.
        """
        quotas = (quota,) if isinstance(quota, Quota) else tuple(quota)
        shared = self._shared()
        if shared is not None:
            booking = shared.reserve(self.scope(api), app, [(self.limit(q), q.per_seconds + max(
                self.margin, TRANSIT_MARGIN)) for q in quotas])
            return self._wait(booking.wait)
        return self._acquire_here(self.scope(api), app, quotas)

    @contextmanager
    def calling(self, api: str, app: str, quota: Quota | Sequence[Quota] = ()) -> Iterator[float]:
        """`acquire` for the one call made inside the block (yields the seconds waited). In shared windows the
        call counts from when the block ends, its answer back: the vendor has counted it by then."""
        quotas = (quota,) if isinstance(quota, Quota) else tuple(quota)
        shared = self._shared()
        if shared is None:
            yield self._acquire_here(self.scope(api), app, quotas)
            return
        booking = shared.reserve(self.scope(api), app, [(self.limit(q), q.per_seconds) for q in quotas],
                                 answered_later=True)
        try:
            yield self._wait(booking.wait)
        finally:
            if booking.ticket is not None:
                shared.answered(booking.ticket)

    def _wait(self, delay: float) -> float:
        if delay > 0:
            self.sleep(delay)
        return max(delay, 0.0)

    def _acquire_here(self, key: str, app: str, quotas: Sequence[Quota]) -> float:
        """`acquire` in this process's own windows."""
        waited = 0.0
        while True:
            with self._lock:
                state = self._keys[(key, app)]
                now = self.clock()
                delay = max([state.paused_until - now, *(self._delay(state.log, q, now) for q in quotas)])
                if delay <= 0:
                    state.horizon = max([state.horizon, *(q.per_seconds + self.margin for q in quotas)])
                    del state.log[: bisect_right(state.log, now - state.horizon)]
                    state.log.append(now)
                    return waited
            self.sleep(delay)
            waited += delay

    def pause(self, api: str, app: str, until: float) -> None:
        """Hold every caller of (api, app) until `until` on `self.clock` (after a vendor refusal)."""
        shared = self._shared()
        if shared is not None:
            shared.pause(self.scope(api), app, until - self.clock())
            return
        with self._lock:
            state = self._keys[(self.scope(api), app)]
            state.paused_until = max(state.paused_until, until)
