"""The platform's rate limit is per API client, across all its APIs: concurrent syncs share one budget."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lifeline_hub.core.store import Store
from lifeline_hub.core.sync import SyncSummary, build_connector, sync_stream
from tests.aiplatform.aiplatform_helpers import configure, platform, setup_of

QPS = 4


def test_both_streams_at_once_stay_within_the_clients_quota(tmp_path: Path, store: Store,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with platform(requests_per_second=QPS) as (world, url):
        for i in range(12):
            world.open_link(world.invite(f"Candidate {i}", email=f"c{i}@example.com")["id"])
        setup = setup_of(configure(tmp_path, url, monkeypatch, page_size=2, requests_per_second=QPS))
        connector = build_connector(setup)  # one instance, one client: as two sync tasks of one worker
        done: list[SyncSummary] = []
        threads = [threading.Thread(target=lambda s=stream: done.append(sync_stream(store, setup, s, connector)))
                   for stream in ("interviews", "events")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sorted(s.stream for s in done if s.error is None) == ["events", "interviews"]
        assert world.api_calls() >= 12  # six pages of each stream, at least
        assert world.quota_breaches() == 0
