"""Push: signed webhooks from the emulator through the receiver, with the receiver down for a while,
duplicate deliveries and retries; every event stored once, and pull agrees with push."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifeline_hub.core.emulator import Faults, free_port
from lifeline_hub.core.store import Store
from lifeline_hub.core.sync import sync_stream
from tests.aiplatform.aiplatform_helpers import (
    SOURCE,
    configure,
    evidence_ids,
    expected_evidence,
    platform,
    setup_of,
)
from tests.receiver.receiver_helpers import running_receiver


def test_webhooks_lose_nothing_and_store_each_event_once(sqlite_url: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(sqlite_url)
    store.upgrade()
    with platform() as (world, url):
        config = configure(tmp_path, url, monkeypatch)
        world_clock = lambda: datetime.fromtimestamp(world.now(), UTC)  # noqa: E731 - the receiver's clock
        with running_receiver(config, store, clock=world_clock) as receiver:
            world.set_callback_url(f"http://127.0.0.1:{free_port()}/callbacks/{SOURCE}")  # nobody listens yet
            first = world.invite("张三", email="zhang@example.com")["id"]
            second = world.invite("Li", phone="13912345678", deadline_basis="from_first_open")["id"]
            world.open_link(first)
            world.technical(first, "device_check_failed", "MIC_PERMISSION_DENIED")
            world.start(first)
            world.advance(1200)
            world.submit(first)
            world.open_link(second)
            assert world.deliver_pending_events() == 0

            world.set_callback_url(f"{receiver}/callbacks/{SOURCE}")
            world.faults.configure(Faults(duplicate=0.5, seed=5))
            world.reset(second)  # a new link for the second candidate, pushed as it happens
            for _ in range(10):
                world.advance(max(world.settings.callback_retry_delays))
                world.deliver_pending_events()
            deliveries = world.snapshot()["deliveries"]

    assert {d["status"] for d in deliveries} == {"delivered"}
    assert sum(d["posts"] for d in deliveries) > len(deliveries)  # failed attempts and duplicates happened
    assert store.count("inbound_events", source=SOURCE) == len(world.events)
    assert evidence_ids(store) == expected_evidence(world)  # each event once, none missing


def test_pull_after_push_adds_nothing(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(sqlite_url)
    store.upgrade()
    with platform() as (world, url):
        config = configure(tmp_path, url, monkeypatch)
        world_clock = lambda: datetime.fromtimestamp(world.now(), UTC)  # noqa: E731
        with running_receiver(config, store, clock=world_clock) as receiver:
            world.set_callback_url(f"{receiver}/callbacks/{SOURCE}")
            invitation = world.invite("Wang", email="wang@example.com")["id"]
            world.open_link(invitation)
            world.technical(invitation, "join_error", "TURN_UNREACHABLE")
            assert world.deliver_pending_events() == 3
        pushed = evidence_ids(store)
        pulled = sync_stream(store, setup_of(config), "events")
    assert pulled.written.inserted == 0 and pulled.written.updated == 3
    assert evidence_ids(store) == pushed == expected_evidence(world)
