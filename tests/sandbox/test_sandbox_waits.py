"""In `lifeline demo` a wait costs simulated time, not real time: a vendor's stall and a client's back-off move every
clock by their length at once (`Sandbox.simulated_waits`), over real HTTP and the real retry code."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from lifeline_hub.connectors.dingtalk.emulator_state import DingTalkWorld
from lifeline_hub.connectors.dingtalk.emulator_state import EmulatorSettings as DingTalkSettings
from lifeline_hub.connectors.feishu.emulator import IM, create_app
from lifeline_hub.connectors.feishu.emulator_state import FeishuWorld
from lifeline_hub.core.config import load
from lifeline_hub.core.emulator import Faults, LoopbackServer, VirtualClock
from lifeline_hub.core.http import InvalidRequest, TransientError, VendorClient
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.models.time import freeze_clock, reset_clock
from lifeline_hub.core.plugins import get_host
from lifeline_hub.core.sandbox import Sandbox
from tests.conftest import ROOT

START = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def feishu() -> Iterator[tuple[Sandbox, FeishuWorld, str]]:
    """A Feishu emulator on loopback in a sandbox whose clocks stand at `START` (as `lifeline demo` sets them)."""
    world = FeishuWorld()
    world.clock.freeze(START.timestamp())
    freeze_clock(START)
    sandbox = Sandbox(load(ROOT / "plugins.toml", get_host()), "sandbox", {"feishu": world}, "http://127.0.0.1:9",
                      [], seed=3)
    try:
        with LoopbackServer(create_app(world=world)) as server:
            yield sandbox, world, server.url
    finally:
        reset_clock()


def _moved(world: FeishuWorld) -> tuple[timedelta, float]:
    return utcnow() - START, world.now() - START.timestamp()


def test_a_vendor_stall_moves_every_clock_by_its_length(feishu: tuple[Sandbox, FeishuWorld, str]) -> None:
    sandbox, world, url = feishu
    world.configure_faults(Faults(timeout=1.0, timeout_seconds=20.0))  # shorter than the client's read timeout
    with sandbox.simulated_waits([world]), VendorClient(url, timeout=(3.05, 30.0)) as client, \
            pytest.raises(InvalidRequest):  # no token: refused at once, answered 20 s late
        client.request("POST", IM, api="im", json={})
    assert _moved(world) == (timedelta(seconds=20), 20.0)


def test_a_clients_back_off_moves_every_clock_the_same_for_the_same_seed(
        feishu: tuple[Sandbox, FeishuWorld, str]) -> None:
    sandbox, world, url = feishu
    world.configure_faults(Faults(server_error=1.0))
    moved = []
    for _ in range(2):
        before = utcnow()
        with sandbox.simulated_waits([world]), VendorClient(url, max_attempts=3, backoff=2.0) as client, \
                pytest.raises(TransientError):  # 503 three times: waits 2-4 s, then 4-6 s
            client.request("POST", IM, api="im", json={}, idempotent=True)
        moved.append(utcnow() - before)
    assert timedelta(seconds=6) <= moved[0] == moved[1] <= timedelta(seconds=10)
    assert world.now() - START.timestamp() == pytest.approx((utcnow() - START).total_seconds(), abs=1e-5)
    assert world.clock.pass_time is None  # outside the block stalls wait on the wall clock again


def test_quota_meters_count_the_time_the_sandbox_lets_pass() -> None:
    world = DingTalkWorld(DingTalkSettings(qps_per_app_per_api=2))
    world.clock.freeze(START.timestamp())
    assert world.quota.hit("app api") and world.quota.hit("app api") and not world.quota.hit("app api")
    world.advance(1.0)  # a client's simulated pause of one second
    assert world.quota.hit("app api")


def test_signed_timestamps_are_checked_against_the_clients_clock() -> None:
    clock = VirtualClock(lambda: 5_000.0)
    clock.freeze(START.timestamp())
    assert clock.client_time() == 5_000.0  # a client signs with the real clock...
    clock.pass_time = clock.advance
    assert clock.client_time() == clock.now() == START.timestamp()  # ...or, in the demo, with the simulated one
