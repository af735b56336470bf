"""A stream-mode instance's connection gates reconcile and shows in /healthz: while it is down the
completeness gate waits (cutoff at its last heartbeat) and the `stale_stream` check names it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from lifeline_hub.core.listen.status import EVENTS_STREAM, ListenerStatus
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.receiver.app import create_app
from lifeline_hub.core.reconcile.gate import open_gate
from lifeline_hub.core.reconcile.needs import needs_of
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import sync_state
from tests.stream.stream_helpers import SOURCE, TENANT, load_config, stream_emulator

NOW = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)


def test_gate_waits_while_the_connection_is_down(tmp_path: Path, store: Store,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with stream_emulator() as dt:
        config = load_config(tmp_path, dt, "sqlite:///unused.db", monkeypatch)
    needs = needs_of(config.instances(TENANT))
    events = (SOURCE, EVENTS_STREAM)
    gated = [kind for kind, keys in needs.streams.items() if any(source == SOURCE for source, _ in keys)]
    assert gated and all(events in needs.streams[kind] for kind in gated)
    with store.begin() as conn:  # every polled stream complete up to now
        conn.execute(sa.insert(sync_state), [
            {"source": s, "stream": st, "tenant": TENANT, "cursor": {}, "watermark": NOW}
            for s, st in needs.all_streams if st != EVENTS_STREAM])
    status = ListenerStatus(store, TENANT, SOURCE)
    status.connected(NOW - timedelta(hours=3))
    status.disconnected(NOW - timedelta(hours=2), "connection closed")
    policy = config.tenant(TENANT).policy
    grace = timedelta(minutes=policy.grace_minutes)
    with store.engine.connect() as conn:
        down = open_gate(conn, needs, policy, NOW)
    assert all(down.cutoffs[kind] == NOW - timedelta(hours=3) - grace for kind in gated)
    assert f"{SOURCE}:{EVENTS_STREAM}" in {s.subject for s in down.stale}
    status.connected(NOW)
    with store.engine.connect() as conn:
        up = open_gate(conn, needs, policy, NOW)
    assert all(up.cutoffs[kind] == NOW - grace for kind in gated)
    assert not up.stale

    health = TestClient(create_app(config, store, PluginHost().load_entry_points(), clock=lambda: NOW))
    body = health.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["listeners"][SOURCE] == {"state": "connected", "since": NOW.isoformat(), "last_event_at": None,
                                         "heartbeat_at": NOW.isoformat()}
    later = TestClient(create_app(config, store, PluginHost().load_entry_points(),
                                  clock=lambda: NOW + timedelta(minutes=10)))
    assert later.get("/healthz").json()["listeners"][SOURCE]["state"] == "lost"  # connected, but silent
