"""Feishu long connection end to end over loopback: the emulator's endpoint call and WebSocket (pbbp2
frames, pings, fragments, acks, redelivery) and the listener storing through the receiver's path, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa
from lark_oapi.ws.pb.pbbp2_pb2 import Frame as SdkFrame

from lifeline_hub.connectors.feishu import pbbp2
from lifeline_hub.connectors.feishu.answers import toast as toast_of
from lifeline_hub.connectors.feishu.emulator import EmulatorSettings, FeishuWorld, create_app
from lifeline_hub.connectors.feishu.emulator_longconn import LongConnFaults, LongConnSettings
from lifeline_hub.connectors.feishu.longconn import FeishuSession
from lifeline_hub.core.config import Config, load
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.listen.link import Outcome
from lifeline_hub.core.listen.listener import REFUSED, STOPPED, Backoff, listen
from lifeline_hub.core.listen.status import listener_states
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import inbound_events
from tests.stream.test_dingtalk_stream import eventually, listening

TENANT, SOURCE, CONN_ID = "acme", "acme.fs", "feishu_stream"


@contextmanager
def longconn_emulator(ack_timeout: float = 0.5, faults: LongConnFaults | None = None) -> Iterator[tuple[FeishuWorld,
                                                                                                         str]]:
    settings = EmulatorSettings(events="stream", longconn=LongConnSettings(
        ack_timeout=ack_timeout, ping_interval=1, faults=faults or LongConnFaults()))
    world = FeishuWorld(settings)
    try:
        with LoopbackServer(create_app(world=world)) as server:
            yield world, server.url
    finally:
        world.close()


def connection_env(world: FeishuWorld) -> dict[str, str]:
    s = world.settings
    return {f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(
        {"conn_type": "feishu", "login": s.app_id, "password": s.app_secret})}


def load_config(directory: Path, world: FeishuWorld, url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    for key, value in connection_env(world).items():
        monkeypatch.setenv(key, value)
    return load(write_config(directory, url, "sqlite:///unused.db"), PluginHost().load_entry_points())


def write_config(directory: Path, url: str, store_url: str) -> Path:
    path = directory / "plugins.toml"
    path.write_text(textwrap.dedent(f"""\
        [lifeline]
        store = "{store_url}"

        [tenants.{TENANT}]
        sandbox = true

        [tenants.{TENANT}.connectors.fs]
        plugin = "feishu"
        connection_id = "{CONN_ID}"
        events = "stream"
        base_urls = {{ open = "{url}" }}
        """), encoding="utf-8")
    return path


def task_done(world: FeishuWorld, n: int) -> None:
    """Lifeline's task n completed: one `DeliveryEvent` when stored."""
    world.emit_v2("task.task.updated_v1", {"task_id": f"task-{n:05d}", "obj_type": 5})


def stored_event_ids(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(inbound_events.c.event_id).where(inbound_events.c.source == SOURCE))
                    .scalars())


def test_events_stored_once_through_faults(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    faults = LongConnFaults(drop=0.1, duplicate=0.2, fragment=0.3, late_ack=0.1, disconnect=0.1, seed=5)
    with longconn_emulator(ack_timeout=0.3, faults=faults) as (world, url):
        config = load_config(tmp_path, world, url, monkeypatch)
        for n in range(60):
            task_done(world, n)
        with listening(config, store) as ended:
            eventually(lambda: world.gateway.summary()["deliveries"] == {"acked": 60}, "every event acked")
            eventually(lambda: world.gateway.summary()["pings"] > 0, "a ping answered")
        summary = world.gateway.summary()
    assert ended == {SOURCE: STOPPED}
    assert set(summary["faults_injected"]) == {"drop", "duplicate", "fragment", "late_ack", "disconnect"}
    assert summary["sends"] > 60  # redeliveries happened ...
    ids = stored_event_ids(store)
    assert len(ids) == len(set(ids)) == 60  # ... and stored nothing twice
    assert store.count("evidence", kind="delivery_event") == 60
    assert {a["code"] for a in world.gateway.acks} == {200}


def test_bad_input_is_skipped_and_the_connection_kept(tmp_path: Path, store: Store,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    def data(payload: bytes, message_id: str = "m-bad", kind: str = "event", **headers: str) -> bytes:
        return pbbp2.encode(pbbp2.Frame(1, pbbp2.DATA, [("type", kind), ("message_id", message_id),
                                                         *headers.items()], payload))

    with longconn_emulator() as (world, url), caplog.at_level(logging.INFO, "lifeline"):
        config = load_config(tmp_path, world, url, monkeypatch)
        gateway = world.gateway
        with listening(config, store):
            eventually(lambda: bool(gateway.summary()["connected"]), "connected")
            for raw in ("text, not a frame", b"\xff\xff\xff", pbbp2.encode(pbbp2.Frame(1, pbbp2.CONTROL, [
                        ("type", "bogus")])), pbbp2.encode(pbbp2.Frame(1, 7, [])), data(b"{}", message_id=""),
                        data(b"{}", kind="card"), data(b"{not json", message_id="m-json"),
                        data(b"x", message_id="m-frag", sum="999", seq="0"),
                        data(json.dumps({"pad": "x" * 2_000_000}).encode(), message_id="m-big"),
                        data(json.dumps({"schema": "2.0", "header": {"event_id": "e-other", "app_id": "cli_other",
                                                                     "event_type": "task.task.updated_v1"},
                                         "event": {}}).encode(), message_id="m-other")):
                assert gateway.send_raw(raw)
            task_done(world, 1)
            eventually(lambda: gateway.summary()["deliveries"] == {"acked": 1}, "the good event acked")
            eventually(lambda: {"m-json", "m-big", "m-other"} <= {a["message_id"] for a in gateway.acks},
                       "the refused events acked")
    assert gateway.connects == 1  # one connection throughout
    assert store.count("evidence", kind="delivery_event") == 1
    text = caplog.text
    for expected in ("text message (frames are binary)", "not a frame: ", "control frame of type 'bogus'",
                     "unknown method 7", "frame without a message_id", "data frame of unknown type 'card'",
                     "malformed: event payload is not JSON", "part 0 of 999",
                     "skipped: 2000011 bytes (at most 1048576)", "rejected: event for another app"):
        assert expected in text, expected
    assert {a["code"] for a in gateway.acks if a["message_id"] in ("m-json", "m-big", "m-other")} == {200}


def test_refused_credentials_stop_with_one_line(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    with longconn_emulator() as (world, url):
        config = load_config(tmp_path, world, url, monkeypatch)
        world.gateway.app_secret = "rotated-secret"  # the connection still holds the old one
        with caplog.at_level(logging.INFO, "lifeline"):
            ended = asyncio.run(listen(config, store, TENANT, asyncio.Event(), backoff=Backoff(0.01, 0.01)))
    assert ended == {SOURCE: REFUSED}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "refused the app's credentials" in errors[0].getMessage()
    assert world.settings.app_secret not in caplog.text
    assert world.gateway.connects == 0
    (state,) = listener_states(store, TENANT)
    assert state.state == "stopped" and "credentials refused" in (state.reason or "")


def test_every_event_stored_exactly_once_through_kills(db_url: str, tmp_path: Path) -> None:
    """`lifeline listen` (a real process) SIGKILLed at random points of the stream and restarted: each event
    stored once (acking before storing loses the events in flight at a kill)."""
    rng, events = random.Random(19), 300
    store = Store(db_url)
    store.upgrade()
    with longconn_emulator(ack_timeout=1.0) as (world, url):
        env = {**os.environ, **connection_env(world), "LIFELINE_CONFIG": str(write_config(tmp_path, url, db_url))}
        env.pop("LIFELINE_STORE_URL", None)
        for n in range(events):
            task_done(world, n)

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen([str(Path(sys.executable).parent / "lifeline"), "listen", "--tenant", TENANT],
                                    env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def acked() -> int:
            return int(world.gateway.summary()["deliveries"].get("acked", 0))

        def reached(target: int, proc: subprocess.Popen[bytes]) -> bool:
            return acked() >= target or proc.poll() is not None

        for target in sorted(rng.sample(range(events), 3)):
            proc = start()
            eventually(partial(reached, target, proc), f"{target} events acked")
            time.sleep(rng.uniform(0, 0.05))  # somewhere inside the next event's store-and-ack
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        proc = start()
        eventually(lambda: acked() == events, "every event acked", timeout=180)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        emitted = {d["event_id"] for d in world.gateway.items()}
        sends = world.gateway.summary()["sends"]
    ids = stored_event_ids(store)
    records = store.count("evidence", kind="delivery_event")
    store.engine.dispose()
    assert sorted(emitted - set(ids)) == []
    assert len(ids) == len(set(ids)) == events and records == events
    assert sends > events  # the kills cost redeliveries, which stored nothing twice


def test_a_card_click_gets_its_toast_in_the_ack(tmp_path: Path, store: Store,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A `card.action.trigger` answers the clicking user: the reply `handle_callback` gives (the toast the
    HTTP route returns) travels base64-encoded in the ack's `data`, as the SDK sends a handler's answer."""
    with longconn_emulator() as (world, url):
        config = load_config(tmp_path, world, url, monkeypatch)
        world.emit_v2("card.action.trigger", {"operator": {"open_id": "ou_someone"},
                                              "action": {"value": {"lifeline_answer": "not-a-token"}}})
        task_done(world, 1)
        with listening(config, store):
            eventually(lambda: world.gateway.summary()["deliveries"] == {"acked": 2}, "both acked")
        card, task = (next(a for a in world.gateway.acks if a["message_id"] == d.message_id)
                      for d in world.gateway.deliveries)
    toast = json.loads(base64.b64decode(card["data"]))
    assert card["code"] == 200 and toast == toast_of("invalid")
    assert task["code"] == 200 and task["data"] is None


def test_frames_match_the_sdk_and_acks_say_whether_to_redeliver() -> None:
    """pbbp2 frames as the official SDK's generated class reads and writes them; a `later` ack is code 500."""
    ours = pbbp2.Frame(-7, pbbp2.DATA, [("type", "event"), ("message_id", "m1"), ("sum", "1"), ("seq", "0")],
                       b'{"schema":"2.0"}', seq_id=3, log_id=2**40)
    sdk = SdkFrame()
    sdk.ParseFromString(pbbp2.encode(ours))
    assert (sdk.service, sdk.method, sdk.SeqID, sdk.LogID, sdk.payload) == (-7, 1, 3, 2**40, ours.payload)
    assert [(h.key, h.value) for h in sdk.headers] == ours.headers
    assert pbbp2.decode(sdk.SerializeToString()) == ours
    session = FeishuSession("ws://x/?service_id=-7", -7, 1.0)
    inbound = session.read(sdk.SerializeToString())
    assert inbound.event is not None and inbound.event.body == ours.payload
    outcome: Outcome
    for outcome, code in (("stored", 200), ("skipped", 200), ("later", 500)):
        ack = sdk_read(session.ack(inbound.event, outcome))
        assert json.loads(ack.payload) == {"code": code} and ("biz_rt", "0") in [(h.key, h.value) for h in ack.headers]
    ping = sdk_read(session.ping())
    assert (ping.service, ping.method, [(h.key, h.value) for h in ping.headers]) == (-7, 0, [("type", "ping")])


def sdk_read(message: str | bytes | None) -> SdkFrame:
    assert isinstance(message, bytes)
    frame = SdkFrame()
    frame.ParseFromString(message)
    return frame
