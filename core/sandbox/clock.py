"""The HTTP toolkit's clock in `lifeline demo`: the sandbox's simulated time, where a wait costs no real time."""

from __future__ import annotations

from collections.abc import Callable

from lifeline_hub.core.models import utcnow


class SimulatedClock:
    """A `core.http.clock.Clock` on this process's simulated time (`utcnow`, which only the sandbox moves).

    `sleep` lets the seconds pass at once through `pass_time` (the sandbox moves every clock by them): a client's
    back-off, a `Retry-After` or a rate limiter's pause still happens in the order and for the length the real
    code decides, and simulated time moves by it, but nobody waits. Monotonic time is the same simulated time (it
    never goes back: the sandbox only moves clocks forward)."""

    def __init__(self, pass_time: Callable[[float], None]) -> None:
        self._pass_time = pass_time

    def time(self) -> float:
        return utcnow().timestamp()

    def monotonic(self) -> float:
        return utcnow().timestamp()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._pass_time(seconds)
