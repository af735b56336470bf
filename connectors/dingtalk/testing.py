"""The DingTalk connector wired to an in-process emulator on loopback (tests, benchmarks, the sandbox).

    with emulated() as dt:
        dt.world.add_user("u1", union_id="union1")
        connector = dt.connector(operator_union_id="union1")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from lifeline_hub.connectors.dingtalk.emulator import create_app
from lifeline_hub.connectors.dingtalk.emulator_state import DingTalkWorld, EmulatorSettings
from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector
from lifeline_hub.connectors.dingtalk.settings import DingTalkSettings
from lifeline_hub.core.config import ConnectorSetup, InstanceConfig
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.connector import ActionResult, Instance
from lifeline_hub.core.emulator import LoopbackServer

TENANT, KEY = "acme", "dt"


def handoff(cursor: Mapping[str, Any], stream: str, *results: ActionResult) -> dict[str, Any]:
    """`cursor` of `stream` with the results' handoff entries appended, as a sync after dispatch does."""
    merged = dict(cursor)
    for result in results:
        for key, entries in result.handoff.get(stream, {}).items():
            merged[key] = [*merged.get(key, []), *entries]
    return merged


@dataclass
class Emulated:
    """A running emulator and what a connector needs to reach it."""

    world: DingTalkWorld
    url: str

    def credentials(self) -> Credentials:
        app, settings = self.world.settings.apps[0], self.world.settings
        return Credentials(conn_id="dingtalk_emulator", conn_type="dingtalk", login=app.appkey,
                           password=app.appsecret, extra={"callback_token": settings.callback_token,
                                                          "callback_aes_key": settings.callback_aes_key})

    def settings(self, **overrides: Any) -> DingTalkSettings:
        defaults = {"corp_id": self.world.settings.corp_id, "agent_id": self.world.settings.apps[0].agent_id}
        return DingTalkSettings.model_validate({**defaults, **overrides})

    def setup(self, **settings: Any) -> ConnectorSetup:
        """What `plugins.toml` would give for instance `acme.dt` pointed at this emulator."""
        instance = Instance(tenant=TENANT, name=f"{TENANT}.{KEY}", base_urls={"oapi": self.url, "api": self.url})
        return ConnectorSetup(TENANT, KEY, InstanceConfig(plugin="dingtalk", connection_id="dingtalk_emulator"),
                              DingTalkConnector, self.settings(**settings), instance)

    def connector(self, **settings: Any) -> DingTalkConnector:
        setup = self.setup(**settings)
        return DingTalkConnector(setup.instance, setup.settings, self.credentials())


@contextmanager
def emulated(settings: EmulatorSettings | None = None, *, now: Callable[[], float] | None = None,
             users: int = 0) -> Iterator[Emulated]:
    """Serve a DingTalk emulator in this process; `users` adds org members u1..uN (unionIds union1..N)."""
    world = DingTalkWorld(settings, **({"now": now} if now else {}))
    for i in range(1, users + 1):
        world.add_user(f"u{i}", union_id=f"union{i}", name=f"User {i}")
    try:
        with LoopbackServer(create_app(world=world)) as server:
            yield Emulated(world, server.url)
    finally:
        world.close()
