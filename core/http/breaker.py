"""A circuit breaker per vendor app: after N consecutive transport/5xx failures, calls fail fast for a cool-down.

`Breaker` counts the consecutive `TransientError`s (network errors, timeouts, 5xx) of the calls made
through it; any other answer (a success, but also a 4xx: the vendor is up) resets the count. At
`failures` it opens: its `BreakerState` records that (Lifeline's is the store's health table, so every
worker process sees it) and every call through a breaker of that subject raises `CircuitOpen` without
calling the vendor. After `cooldown` seconds one caller wins the probe (half-open): its call closes the
breaker when the vendor answers, or opens it for another cool-down. Auth, permission and invalid-request
errors never open it: they are configuration problems and already fail at once.

A `VendorClient` calls through the breaker of the block it runs in (`use_breaker`), like its clock. The
state is read before the block's first call and again after each failure, not before every call.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Protocol

from lifeline_hub.core.http.clock import current_clock
from lifeline_hub.core.http.errors import TransientError, VendorError


class CircuitOpen(VendorError):
    """The vendor app's circuit breaker is open: the call was not made. Retrying before the cool-down is useless."""


class BreakerState(Protocol):
    """Where a breaker's open state lives (epoch seconds throughout)."""

    def opened_at(self, subject: str) -> float | None:
        """When the open breaker of `subject` was last opened (or probed); None when it is closed."""
        ...

    def open(self, subject: str, message: str, at: float) -> None:
        """Open (or re-open) the breaker of `subject`, saying why."""
        ...

    def claim_probe(self, subject: str, opened_before: float, at: float) -> bool:
        """Take the one probe of an open breaker last opened no later than `opened_before`; False when another
        caller took it first."""
        ...

    def close(self, subject: str, at: float) -> None:
        """Close the breaker of `subject` (the vendor answered)."""
        ...


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class Breaker:
    """The breaker of one subject (a connector instance, i.e. one vendor app) for the calls of one block."""

    def __init__(self, subject: str, state: BreakerState, *, failures: int = 5, cooldown: float = 300.0) -> None:
        if failures < 1 or cooldown <= 0:
            raise ValueError("a breaker opens after at least 1 failure and cools down for a positive time")
        self.subject, self.state, self.failures, self.cooldown = subject, state, failures, cooldown
        self.consecutive = 0
        self._checked = False
        self._probing = False
        self._lock = threading.Lock()

    def before_call(self) -> None:
        """Raise `CircuitOpen` when the breaker is open (a caller after the cool-down takes the probe instead)."""
        with self._lock:
            if self._checked or self._probing:
                return
            now = current_clock().time()
            opened = self.state.opened_at(self.subject)
            if opened is not None and now >= opened + self.cooldown and self.state.claim_probe(
                    self.subject, opened, now):
                self._probing = True
                return
            if opened is not None:
                raise CircuitOpen(
                    f"circuit breaker of {self.subject} is open (last opened {_iso(opened)}): the vendor failed "
                    f"{self.failures} calls in a row; no call before {_iso(opened + self.cooldown)}, then one probe",
                    vendor=self.subject)
            self._checked = True

    def failed(self, error: TransientError) -> CircuitOpen | None:
        """A call failed in transport or with a 5xx: count it; at the threshold open the breaker and return the
        `CircuitOpen` to raise instead of `error`."""
        with self._lock:
            self.consecutive += 1
            self._checked = False  # another worker may have opened it meanwhile
            if not (self._probing or self.consecutive >= self.failures):
                return None
            what = "the probe after the cool-down failed" if self._probing else (
                f"{self.consecutive} consecutive transport/5xx failures")
            now = current_clock().time()
            self.state.open(self.subject, f"{what}; last: {error}", now)
            self._probing = False
            return CircuitOpen(f"circuit breaker of {self.subject} opened: {what}; no call before "
                               f"{_iso(now + self.cooldown)}, then one probe; last: {error}", vendor=self.subject)

    def answered(self) -> None:
        """The vendor answered (success or a non-transient error): reset the count, close the breaker if probing."""
        with self._lock:
            self.consecutive = 0
            if self._probing:
                self.state.close(self.subject, current_clock().time())
                self._probing = False
                self._checked = True


_current: list[Breaker] = []
_swap = threading.Lock()


def current_breaker() -> Breaker | None:
    """The breaker of the block running now (every thread sees it), or None."""
    return _current[-1] if _current else None


@contextmanager
def use_breaker(breaker: Breaker) -> Iterator[Breaker]:
    """Make every `VendorClient` call in the block (and the threads it starts) go through `breaker`."""
    with _swap:
        _current.append(breaker)
    try:
        yield breaker
    finally:
        with _swap:
            del _current[len(_current) - 1 - _current[::-1].index(breaker)]
