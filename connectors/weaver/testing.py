"""The Weaver connector wired to an in-process e-cology emulator on loopback (tests, benchmarks, the sandbox).

    with emulated(tmp_path, now=clock.time) as wv:
        connector = wv.connector()
        connector.perform(action)
        wv.world.workflows_created()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lifeline_hub.connectors.weaver.emulator import create_app
from lifeline_hub.connectors.weaver.emulator_settings import EmulatorSettings
from lifeline_hub.connectors.weaver.emulator_state import WeaverWorld
from lifeline_hub.connectors.weaver.plugin import WeaverConnector
from lifeline_hub.connectors.weaver.settings import WeaverSettings
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.connector import Instance
from lifeline_hub.core.emulator import LoopbackServer

TENANT, KEY = "acme", "weaver"
ACTOR, APPROVER = "101", 102
"""The emulator's interface user (reads, originator) and its reschedule workflow's HR approver."""
FORM = {"workflow_id": 1001, "fields": {
    "candidate": "candidate", "interview": "interview", "reason": "reason", "slots": "proposed_times",
    "evidence": "evidence", "reference": "lifeline_ref"}}
"""The emulator's reschedule workflow (`emulator_settings.reschedule_workflow`) as an instance maps it."""


def sample_settings(registration_file: str | Path) -> dict[str, Any]:
    """Settings of an instance on the emulator's defaults (TOML values only)."""
    return {"actor_userid": ACTOR, "workflow": FORM, "ofs_syscode": "lifeline", "message_source_code": "559",
            "recipient_id_type": "userIdList", "registration_file": str(registration_file),
            "http_timeout_seconds": 0.5}


@dataclass
class Emulated:
    """A running emulator and what a connector needs to reach it."""

    world: WeaverWorld
    url: str
    state_dir: Path

    @property
    def instance(self) -> Instance:
        return Instance(TENANT, f"{TENANT}.{KEY}", base_urls={"oa": self.url})

    def credentials(self) -> Credentials:
        conn = WeaverConnector.emulator_connection(self.world)
        return Credentials(conn_id="weaver_emulator", conn_type="weaver", login=conn["login"], extra=conn["extra"])

    def settings(self, **overrides: Any) -> WeaverSettings:
        return WeaverSettings.model_validate({**sample_settings(self.state_dir / "registration.json"), **overrides})

    def connector(self, credentials: Credentials | None = None, **settings: Any) -> WeaverConnector:
        return WeaverConnector(self.instance, self.settings(**settings), credentials or self.credentials())


@contextmanager
def emulated(state_dir: Path, settings: EmulatorSettings | None = None, *,
             now: Callable[[], float] | None = None) -> Iterator[Emulated]:
    """Serve a Weaver emulator in this process (its world on `now`); the regist pair is kept under `state_dir`."""
    world = WeaverWorld(settings, **({"now": now} if now else {}))
    try:
        with LoopbackServer(create_app(world=world)) as server:
            yield Emulated(world, server.url, state_dir)
    finally:
        world.close()
