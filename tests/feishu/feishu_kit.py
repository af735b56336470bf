"""Shared pieces of the Feishu connector tests: an emulator on loopback plus a connector pointed at it,
both on one pinned clock, and builders for outbox actions and signed callbacks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lifeline_hub.connectors.feishu import plugin
from lifeline_hub.connectors.feishu.common import FeishuSettings
from lifeline_hub.connectors.feishu.crypto import NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, FeishuEventCrypto
from lifeline_hub.connectors.feishu.emulator import EmulatorSettings, FeishuWorld, create_app
from lifeline_hub.connectors.feishu.plugin import FeishuConnector
from lifeline_hub.core import CallbackRequest, Credentials, Instance
from lifeline_hub.core.config import ConnectorSetup, InstanceConfig
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.models import Action
from lifeline_hub.core.plugins import PluginHost

T0 = 1_750_000_000.0
"""2025-06-15 15:06:40 UTC: where every test world's clock starts."""
SOURCE = "acme.feishu"


class Clock:
    """An epoch-seconds clock shared by the emulator world and the connector: starts at `start` and
    runs with real time (rate windows need it), or stands still when `frozen`; `advance` jumps."""

    def __init__(self, start: float = T0, frozen: bool = False) -> None:
        self.start, self.frozen = start, frozen
        self._origin = time.monotonic()

    def __call__(self) -> float:
        return self.start + (0.0 if self.frozen else time.monotonic() - self._origin)

    def advance(self, seconds: float) -> None:
        self.start += seconds


def connector_class() -> type[FeishuConnector]:
    """The class as the plugin host registers it (the entry-point path, in process)."""
    host = PluginHost()
    host.register(plugin, "feishu")
    cls = host.connector("feishu")
    assert issubclass(cls, FeishuConnector)
    return cls


def credentials(world: FeishuWorld) -> Credentials:
    s = world.settings
    extra = {"encrypt_key": s.encrypt_key, "verification_token": s.verification_token}
    return Credentials("feishu_sandbox", "feishu", login=s.app_id, password=s.app_secret, extra=extra)


def make_connector(
    url: str, world: FeishuWorld, clock: Clock | None = None, **settings: Any
) -> tuple[FeishuConnector, ConnectorSetup]:
    cls = connector_class()
    config = FeishuSettings(**settings)
    instance = Instance(tenant="acme", name=SOURCE, base_urls={"open": url})
    connector = cls(instance, config, credentials(world))
    if clock is not None:
        connector.clock = clock
    setup = ConnectorSetup("acme", "feishu", InstanceConfig(plugin="feishu"), cls, config, instance)
    return connector, setup


@dataclass
class Rig:
    world: FeishuWorld
    url: str
    clock: Clock
    connector: FeishuConnector
    setup: ConnectorSetup

    def calls(self, api: str) -> int:
        return self.world.call_counts().get(self.world.settings.app_id, {}).get(api, 0)

    def read(self, stream: str, cursor: dict[str, Any] | None = None) -> list[Any]:
        return list(self.connector.read(stream, cursor or {}))


@contextmanager
def rig(emulator: dict[str, Any] | None = None, frozen: bool = False, **settings: Any) -> Iterator[Rig]:
    """A running emulator world and a connector for it (the calendar is created up front)."""
    clock = Clock(frozen=frozen)
    world = FeishuWorld(EmulatorSettings(**(emulator or {})), now=clock)
    try:
        with LoopbackServer(create_app(world=world)) as server:
            if "calendar_id" not in settings:
                settings["calendar_id"] = world.add_calendar("Interviews")
            connector, setup = make_connector(server.url, world, clock, **settings)
            yield Rig(world, server.url, clock, connector, setup)
    finally:
        world.close()


def action(kind: str, payload: dict[str, Any], key: str | None = None, **fields: Any) -> Action:
    return Action(
        idempotency_key=key or f"ll-{uuid.uuid4().hex}",
        tenant="acme",
        connector=SOURCE,
        kind=kind,
        payload=payload,
        due_at=datetime.fromtimestamp(T0, UTC),
        **fields,
    )


def signed(
    crypto: FeishuEventCrypto, envelope: dict[str, Any], timestamp: float, nonce: str = "n0nce"
) -> CallbackRequest:
    """A callback request as the platform sends it: encrypted body, signature headers."""
    body = crypto.encrypt_body(envelope)
    stamp = str(int(timestamp))
    headers = {TIMESTAMP_HEADER: stamp, NONCE_HEADER: nonce, SIGNATURE_HEADER: crypto.sign(stamp, nonce, body)}
    return CallbackRequest(headers=headers, query={}, body=body, received_at=datetime.fromtimestamp(timestamp, UTC))
