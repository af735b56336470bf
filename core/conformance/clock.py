"""The suite's fake clock: one timeline for the HTTP toolkit, Lifeline's `utcnow` and the emulator world."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from lifeline_hub.core.http.clock import use_clock
from lifeline_hub.core.http.testing import FakeClock
from lifeline_hub.core.models.time import advance_clock, freeze_clock, reset_clock


class SuiteClock(FakeClock):
    """A `FakeClock` that also moves the process's `utcnow`: a connector's retries, backoff, rate limiter and
    token cache wait on it (instantly), its time windows read it, and the emulator world built on
    `clock.time` (see `ConnectorSuite.make_world`) lives on it. Starts at `start`; only `sleep` and
    `advance` move it, so a run never depends on today's date or on how fast the machine is."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start.timestamp())

    def advance(self, seconds: float) -> None:
        with self._lock:
            super().advance(seconds)
            advance_clock(timedelta(seconds=seconds))

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    @contextmanager
    def running(self) -> Iterator[SuiteClock]:
        """Install this clock for the block: `use_clock` for the HTTP toolkit, `utcnow` frozen at its now."""
        freeze_clock(self.utcnow())
        try:
            with use_clock(self):
                yield self
        finally:
            reset_clock()
