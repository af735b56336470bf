"""Fixtures: one fake clock for everything, the WeCom emulator on a free loopback port, a connector on it.

The emulator's world, the connector's token cache, rate limiter and retry waits all run on the same
`FakeClock` (`use_clock`): a 45009 answer's 60 s block or a member's per-minute pacing passes at once, and no
test depends on today's date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lifeline_hub.core.api import Credentials, FakeClock, Instance, LoopbackServer, use_clock

from lifeline_wecom_notify.emulator import WeComWorld, create_app
from lifeline_wecom_notify.plugin import WeComNotifyConnector
from lifeline_wecom_notify.settings import WeComSettings

START = 1_780_000_000.0
"""2026-05-28T20:26:40Z: any fixed instant; the tests never read the wall clock."""


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock(START)
    with use_clock(fake):
        yield fake


@pytest.fixture
def world(clock: FakeClock) -> Iterator[WeComWorld]:
    w = WeComWorld(now=clock.time)
    yield w
    w.close()


@pytest.fixture
def emulator(world: WeComWorld) -> Iterator[str]:
    with LoopbackServer(create_app(world=world)) as server:
        yield server.url


def settings_for(world: WeComWorld, **changes: Any) -> dict[str, Any]:
    """An instance's table in plugins.toml, for the emulated corp and app."""
    return {"corp_id": world.settings.corp_id, "agent_id": next(iter(world.settings.apps)),
            "http_timeout_seconds": 0.5, **changes}


@pytest.fixture
def make_connector(emulator: str, world: WeComWorld) -> Callable[..., WeComNotifyConnector]:
    def make(secret: str | None = None, **changes: Any) -> WeComNotifyConnector:
        secret = secret or next(iter(world.settings.apps.values()))
        credentials = Credentials(conn_id="wecom_notify_test", password=secret)
        instance = Instance(tenant="test", name="test.wecom_notify", base_urls={"api": emulator})
        settings = WeComSettings.model_validate(settings_for(world, **changes))
        return WeComNotifyConnector(instance, settings, credentials)

    return make


@pytest.fixture
def connector(make_connector: Callable[..., WeComNotifyConnector]) -> WeComNotifyConnector:
    return make_connector()
