"""Fixtures of the Weaver connector tests: an e-cology emulator on loopback on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline_hub.connectors.weaver.testing import Emulated, emulated
from lifeline_hub.core.api import FakeClock, use_clock

START = 1_780_000_000.0  # 2026-05-28, fixed: tests never depend on today's date


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock(START)
    with use_clock(fake):
        yield fake


@pytest.fixture
def wv(tmp_path: Path, clock: FakeClock) -> Iterator[Emulated]:
    with emulated(tmp_path, now=clock.time) as emulator:
        yield emulator
