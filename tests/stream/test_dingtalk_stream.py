"""DingTalk Stream mode end to end over loopback: the emulator's gateway (open, ticket, WebSocket frames,
acks, redelivery) and the listener storing through the receiver's path, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lifeline_hub.connectors.dingtalk.emulator_stream import StreamFaults
from lifeline_hub.connectors.dingtalk.testing import Emulated
from lifeline_hub.core.config import Config
from lifeline_hub.core.health import report
from lifeline_hub.core.listen.listener import REFUSED, STOPPED, Backoff, listen
from lifeline_hub.core.listen.status import listener_states
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.store import Store
from tests.stream.stream_helpers import (
    SOURCE,
    TENANT,
    load_config,
    stored_event_ids,
    stream_emulator,
    todo_done_event,
)


def eventually(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached: {what}")
        time.sleep(0.05)


@contextmanager
def listening(config: Config, store: Store) -> Iterator[dict[str, str]]:
    """`listen` on a thread of its own until the block ends; yields how each instance ended."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ended: dict[str, str] = {}

    def main() -> None:
        ended.update(loop.run_until_complete(listen(config, store, TENANT, stop, backoff=Backoff(0.05, 0.5))))

    thread = threading.Thread(target=main, name="listener")
    thread.start()
    try:
        yield ended
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(20)
        loop.close()
    assert not thread.is_alive()


def delivery_events(store: Store) -> int:
    return store.count("evidence", kind="delivery_event")


@pytest.fixture
def dt() -> Iterator[Emulated]:
    with stream_emulator(ack_timeout=0.5) as running:
        yield running


def test_events_stored_once_through_faults(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    faults = StreamFaults(drop=0.1, duplicate=0.2, late_ack=0.1, disconnect=0.1, seed=3)
    with stream_emulator(ack_timeout=0.3, faults=faults) as dt:
        config = load_config(tmp_path, dt, "sqlite:///unused.db", monkeypatch)
        for n in range(60):
            dt.world.emit(todo_done_event(dt, n))
        with listening(config, store) as ended:
            eventually(lambda: dt.world.gateway.summary()["deliveries"] == {"acked": 60}, "every event acked")
        summary = dt.world.gateway.summary()
    assert ended == {SOURCE: STOPPED}
    assert set(summary["faults_injected"]) == {"drop", "duplicate", "late_ack", "disconnect"}
    assert summary["sends"] > 60  # redeliveries happened ...
    ids = stored_event_ids(store)
    assert len(ids) == len(set(ids)) == 60  # ... and stored nothing twice
    assert delivery_events(store) == 60


def test_bad_input_is_skipped_and_the_connection_kept(tmp_path: Path, store: Store, dt: Emulated,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(tmp_path, dt, "sqlite:///unused.db", monkeypatch)
    gateway = dt.world.gateway

    def frame(kind: str, data: object, **headers: str) -> str:
        return json.dumps({"specVersion": "1.0", "type": kind, "headers": {"messageId": "m-" + kind, **headers},
                           "data": data})

    with caplog.at_level(logging.INFO, "lifeline"), listening(config, store):
        eventually(lambda: bool(gateway.summary()["connected"]), "connected")
        for raw in ("not json", "[1, 2]", json.dumps({"type": "EVENT", "headers": {}}),
                    frame("BOGUS", "{}"), frame("EVENT", None),
                    frame("EVENT", "{not json", eventType="todo_task_change"),
                    frame("EVENT", json.dumps({"corpId": "dingsomeoneelse"}), eventType="todo_task_change",
                          eventCorpId="dingsomeoneelse"),
                    frame("EVENT", json.dumps({"pad": "x" * 2_000_000}), eventType="todo_task_change"),
                    frame("EVENT", json.dumps({"userId": "u1"}), eventType="user_add_org",
                          eventCorpId=dt.world.settings.corp_id)):
            assert gateway.send_raw(raw)
        dt.world.emit(todo_done_event(dt, 1))
        eventually(lambda: gateway.summary()["deliveries"] == {"acked": 1}, "the good event acked")
        eventually(lambda: len(store.quarantined(source=SOURCE)) == 1, "the unknown event kept")
    assert gateway.connects == 1  # one connection throughout
    assert delivery_events(store) == 1
    kept = store.quarantined(source=SOURCE)
    assert kept[0]["stream"] == "callbacks" and "user_add_org" in kept[0]["reason"]
    assert kept[0]["payload"] == {"EventType": "user_add_org", "userId": "u1"}
    text = caplog.text
    for expected in ("frame is not JSON", "not a JSON object with headers", "frame without a messageId",
                     "unknown type 'BOGUS'", "without data", "malformed: event data is not JSON",
                     "rejected: eventCorpId: event for another org", "skipped: 2000011 bytes (at most 1048576)"):
        assert expected in text, expected
    acked = {a["messageId"]: a["status"] for a in gateway.acks}
    assert acked["m-EVENT"] == "SUCCESS"  # refused events are acked: not delivered again and again


def test_refused_credentials_stop_with_one_line(tmp_path: Path, store: Store, dt: Emulated,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(tmp_path, dt, "sqlite:///unused.db", monkeypatch)
    dt.world.settings.apps[0].appsecret = "rotated-secret"  # the connection still holds the old one
    with caplog.at_level(logging.INFO, "lifeline"):
        ended = asyncio.run(listen(config, store, TENANT, asyncio.Event(), backoff=Backoff(0.01, 0.01)))
    assert ended == {SOURCE: REFUSED}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "refused the app's credentials" in errors[0].getMessage()
    assert "emulator-appsecret-01" not in caplog.text
    assert dt.world.gateway.connects == 0
    (state,) = listener_states(store, TENANT)
    assert state.state == "stopped" and "credentials refused" in (state.reason or "")


def test_health_shows_the_connection(tmp_path: Path, store: Store, dt: Emulated,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(tmp_path, dt, "sqlite:///unused.db", monkeypatch)
    with listening(config, store):
        eventually(lambda: [s.state for s in listener_states(store, TENANT)] == ["connected"], "connected")
        assert report(store, config, TENANT, utcnow()).listeners == []
        dt.world.emit(todo_done_event(dt, 7))
        eventually(lambda: listener_states(store, TENANT)[0].last_event_at is not None, "an event seen")
    (state,) = listener_states(store, TENANT)
    assert state.state == "stopped"
    found = report(store, config, TENANT, utcnow())
    assert not found.ok and found.listeners[0].startswith(f"{SOURCE}: events stopped since")
