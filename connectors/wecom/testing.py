"""The WeCom connector wired to an in-process emulator on loopback (tests, benchmarks, the sandbox).

    with emulated(now=clock.time) as wc:
        connector = wc.connector(contact_sender="hr01")
        connector.perform(action)
        wc.world.deliveries()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from lifeline_hub.connectors.wecom.emulator import create_app
from lifeline_hub.connectors.wecom.emulator_state import EmulatorSettings, WeComWorld
from lifeline_hub.connectors.wecom.plugin import WeComConnector
from lifeline_hub.connectors.wecom.settings import WeComSettings
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.connector import Instance
from lifeline_hub.core.emulator import LoopbackServer

TENANT, KEY = "acme", "wecom"


@dataclass
class Emulated:
    """A running emulator and what a connector needs to reach it."""

    world: WeComWorld
    url: str

    @property
    def instance(self) -> Instance:
        return Instance(TENANT, f"{TENANT}.{KEY}", base_urls={"api": self.url})

    def credentials(self, **extra: Any) -> Credentials:
        """The emulated corp's connection (app Secret, contact Secret, callback Token and AES key); `extra`
        overrides its extras."""
        conn = WeComConnector.emulator_connection(self.world)
        return Credentials(conn_id="wecom_emulator", conn_type="wecom", password=conn["password"],
                           extra={**conn["extra"], **extra})

    def settings(self, **overrides: Any) -> WeComSettings:
        defaults = {"corp_id": self.world.settings.corp_id, "agent_id": next(iter(self.world.settings.apps))}
        return WeComSettings.model_validate({**defaults, **overrides})

    def connector(self, credentials: Credentials | None = None, **settings: Any) -> WeComConnector:
        return WeComConnector(self.instance, self.settings(**settings), credentials or self.credentials())


@contextmanager
def emulated(settings: EmulatorSettings | None = None, *,
             now: Callable[[], float] | None = None) -> Iterator[Emulated]:
    """Serve a WeCom emulator in this process (its world on `now`, default the wall clock)."""
    world = WeComWorld(settings, **({"now": now} if now else {}))
    try:
        with LoopbackServer(create_app(world=world)) as server:
            yield Emulated(world, server.url)
    finally:
        world.close()
