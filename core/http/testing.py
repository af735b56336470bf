"""Test helpers for code built on the HTTP toolkit (also for plugin authors' tests)."""

from __future__ import annotations

import threading


class FakeClock:
    """A clock whose `sleep` advances time instantly; pass `.time`/`.sleep` where a clock is injectable."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
