"""The sandbox's clocks: frozen at the start, moved only by the sandbox, so no wall-clock time leaks into a run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from lifeline_hub.core.emulator import QuotaMeter, VirtualClock
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.models.time import advance_clock, freeze_clock, reset_clock

START = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def frozen() -> Iterator[datetime]:
    try:
        yield freeze_clock(START)
    finally:
        reset_clock()


def test_a_frozen_process_clock_moves_only_when_the_sandbox_moves_it(frozen: datetime) -> None:
    assert frozen == utcnow() == START
    time.sleep(0.01)  # real time passes; the simulated instant does not
    assert utcnow() == START
    assert advance_clock(timedelta(minutes=30)) == utcnow() == START + timedelta(minutes=30)
    reset_clock()
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(minutes=1)


def test_the_process_clock_freezes_only_at_an_aware_instant() -> None:
    with pytest.raises(ValueError, match="naive"):
        freeze_clock(datetime(2026, 3, 2))
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_frozen_emulator_clock_keeps_pacing_its_quota_meters_in_real_time() -> None:
    wall = [5_000.0]
    clock = VirtualClock(lambda: wall[0])
    clock.freeze(START.timestamp())
    meter = QuotaMeter(2, 1.0, clock=clock.pace)
    assert meter.hit("api") and meter.hit("api") and not meter.hit("api")  # a third call within one real second
    wall[0] += 1.5
    assert clock.now() == START.timestamp()  # the world's time stands still while the client waits...
    assert meter.hit("api")  # ...and its quota window moved on
    assert clock.advance(60) == clock.now() == START.timestamp() + 60
    assert clock.pace() == wall[0] + 60 and clock.offset == 60
