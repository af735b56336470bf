"""Fixtures of the Weaver connector tests: an e-cology emulator on loopback on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifeline_hub.connectors.weaver.testing import Emulated, emulated
from lifeline_hub.core.conformance import SuiteClock

START = datetime(2026, 5, 28, 1, 0, tzinfo=UTC)  # fixed: tests never depend on today's date


@pytest.fixture
def clock() -> Iterator[SuiteClock]:
    """One timeline for the toolkit, `utcnow` and the emulator world."""
    with SuiteClock(START).running() as fake:
        yield fake


@pytest.fixture
def wv(tmp_path: Path, clock: SuiteClock) -> Iterator[Emulated]:
    with emulated(tmp_path, now=clock.time) as emulator:
        yield emulator
