"""Set-up for the stream tests: a DingTalk emulator in Stream mode, a plugins.toml with an
`events = "stream"` instance pointed at it, its connection in the environment, and events to stream."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lifeline_hub.connectors.dingtalk.emulator_state import EmulatorSettings
from lifeline_hub.connectors.dingtalk.emulator_stream import StreamFaults, StreamSettings
from lifeline_hub.connectors.dingtalk.testing import Emulated, emulated
from lifeline_hub.core.config import Config, load
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import inbound_events

TENANT, SOURCE, CONN_ID = "acme", "acme.dt", "dingtalk_stream"
TASK_TIME_MS = 1_780_000_000_000
"""A fixed modifiedTime (tests never depend on today's date)."""


@contextmanager
def stream_emulator(ack_timeout: float = 1.0, faults: StreamFaults | None = None) -> Iterator[Emulated]:
    settings = EmulatorSettings(events="stream", stream=StreamSettings(
        ack_timeout=ack_timeout, ping_interval=0.5, faults=faults or StreamFaults()))
    with emulated(settings) as dt:
        yield dt


def connection_env(dt: Emulated) -> dict[str, str]:
    app = dt.world.settings.apps[0]
    return {f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(
        {"conn_type": "dingtalk", "login": app.appkey, "password": app.appsecret})}


def write_config(directory: Path, dt: Emulated, store_url: str, events: str = "stream") -> Path:
    path = directory / "plugins.toml"
    path.write_text(textwrap.dedent(f"""\
        [lifeline]
        store = "{store_url}"

        [tenants.{TENANT}]
        sandbox = true

        [tenants.{TENANT}.connectors.dt]
        plugin = "dingtalk"
        connection_id = "{CONN_ID}"
        events = "{events}"
        base_urls = {{ oapi = "{dt.url}", api = "{dt.url}" }}
        corp_id = "{dt.world.settings.corp_id}"
        agent_id = {dt.world.settings.apps[0].agent_id}
        """), encoding="utf-8")
    return path


def load_config(directory: Path, dt: Emulated, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    for key, value in connection_env(dt).items():
        monkeypatch.setenv(key, value)
    return load(write_config(directory, dt, store_url), PluginHost().load_entry_points())


def todo_done_event(dt: Emulated, n: int) -> dict[str, Any]:
    """HR completed Lifeline's todo n: one `DeliveryEvent` (read, code done) when stored."""
    return {"EventType": "todo_task_change", "corpId": dt.world.settings.corp_id, "taskId": f"task{n:05d}",
            "sourceId": f"lifeline-key-{n}", "done": True, "modifiedTime": TASK_TIME_MS + n}


def stored_event_ids(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(inbound_events.c.event_id).where(inbound_events.c.source == SOURCE))
                    .scalars())
