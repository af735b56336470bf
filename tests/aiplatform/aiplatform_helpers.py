"""Set-up for the aiplatform tests: the emulator on loopback, an instance configured against it, syncs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lifeline_hub.connectors.aiplatform.emulator import AIPlatformWorld, EmulatorSettings, create_app
from lifeline_hub.core.config import Config, ConnectorSetup
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.http import VendorError
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import evidence, interviews
from lifeline_hub.core.sync import SyncSummary, sync_stream
from tests.receiver.receiver_helpers import TENANT, instance_table, load_config

SOURCE = f"{TENANT}.aip"
CONNECTION = json.dumps({
    "conn_type": "aiplatform", "login": "emulator-client", "password": "emulator-client-secret",
    "extra": {"webhook_secret": "emulator-webhook-secret"},
})
FAST = {"read_timeout_seconds": 1.0, "backoff_seconds": 0.05, "max_attempts": 4}
"""Connector settings for fault drills: a stalled answer (1.5 s) times out, retries come quickly."""
EVIDENCE_TYPES = ("invitation.created", "invitation.reset", "invitation.opened", "interview.started",
                  "interview.submitted", "technical.join_error", "technical.device_check_failed",
                  "technical.upload_error")


@contextmanager
def platform(**settings: Any) -> Iterator[tuple[AIPlatformWorld, str]]:
    """The emulator on loopback (webhooks delivered only when a test asks); yields the world and its URL."""
    app = create_app(EmulatorSettings(**{"deliver_in_background": False, **settings}))
    world: AIPlatformWorld = app.state.world
    with LoopbackServer(app) as server:
        yield world, server.url
    world.close()


def configure(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> Config:
    monkeypatch.setenv("AIRFLOW_CONN_AIPLATFORM_TEST", CONNECTION)
    table = instance_table("aip", "aiplatform", settings, "aiplatform_test", {"api": f"{url}/v1"})
    return load_config(tmp_path, table)


def setup_of(config: Config) -> ConnectorSetup:
    return config.setups[SOURCE]


def sync_until_done(store: Store, setup: ConnectorSetup, stream: str, runs: int = 40) -> list[SyncSummary]:
    """Run a stream like a retried Airflow task: again after each failure, from the last checkpoint."""
    summaries = []
    for _ in range(runs):
        try:
            summaries.append(sync_stream(store, setup, stream))
            return summaries
        except VendorError:
            continue
    pytest.fail(f"{stream} did not complete in {runs} runs")


def evidence_ids(store: Store) -> list[str]:
    with store.begin() as conn:
        return sorted(r for (r,) in conn.execute(sa.select(evidence.c.remote_id).where(evidence.c.source == SOURCE)))


def expected_evidence(world: AIPlatformWorld) -> list[str]:
    return sorted(e.id for e in world.events if e.type in EVIDENCE_TYPES)


def stored_interviews(store: Store) -> dict[str, dict[str, Any]]:
    with store.begin() as conn:
        rows = conn.execute(sa.select(interviews.c.remote_id, interviews.c.data).where(interviews.c.source == SOURCE))
        return {remote_id: data for remote_id, data in rows}
