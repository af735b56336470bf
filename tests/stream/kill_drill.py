"""The kill drill: the emulator streams events while `lifeline listen` (a real process) is killed (SIGKILL)
at random points of the stream (after a random number of acked events, plus up to 50 ms) and restarted;
afterwards every event must be stored exactly once.

    result = kill_drill(store_url, workdir, events=1000, kills=5, seed=1)

Lost: emitted events whose id is not in `inbound_events`. Stored twice: event ids the listeners' logs
report `stored` more than once (a redelivery must be a `duplicate`), plus records beyond one per event.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lifeline_hub.connectors.dingtalk.emulator_stream import StreamFaults
from lifeline_hub.core.store import Store
from tests.stream.stream_helpers import connection_env, stored_event_ids, stream_emulator, todo_done_event, write_config

LIFELINE = Path(sys.executable).parent / "lifeline"
STORED = re.compile(r"stream event (dingtalk:[0-9a-f]+) stored")


@dataclass(frozen=True)
class DrillResult:
    events: int
    lost: int
    stored_twice: int
    records: int
    kills: int
    sends: int
    seconds: float


def event_id(event: dict[str, object]) -> str:
    """The id the DingTalk connector gives an event (sha256 of its canonical JSON)."""
    return "dingtalk:" + hashlib.sha256(json.dumps(event, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:40]


def kill_drill(store_url: str, workdir: Path, events: int = 1000, kills: int = 5, seed: int = 1,
               faults: StreamFaults | None = None, deadline: float = 300) -> DrillResult:
    rng = random.Random(seed)
    store = Store(store_url)
    store.upgrade()
    started = time.monotonic()
    logs: list[Path] = []
    with stream_emulator(ack_timeout=1.0, faults=faults) as dt:
        config = write_config(workdir, dt, store_url)
        env = {**os.environ, **connection_env(dt), "LIFELINE_CONFIG": str(config)}
        env.pop("LIFELINE_STORE_URL", None)
        emitted = [todo_done_event(dt, n) for n in range(events)]
        for event in emitted:
            dt.world.emit(event)

        def start() -> subprocess.Popen[bytes]:
            log = workdir / f"listen-{len(logs)}.log"
            logs.append(log)
            with log.open("wb") as sink:
                return subprocess.Popen([str(LIFELINE), "listen", "--tenant", "acme"], env=env, cwd=workdir,
                                        stdout=sink, stderr=subprocess.STDOUT)

        def acked() -> int:
            return int(dt.world.gateway.summary()["deliveries"].get("acked", 0))

        def done() -> bool:
            return dt.world.gateway.summary()["deliveries"] == {"acked": events}

        for target in sorted(rng.sample(range(events), kills)):  # kill points spread over the stream
            proc = start()
            until = time.monotonic() + 60
            while acked() < target and time.monotonic() < until and proc.poll() is None:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))  # somewhere inside the next event's store-and-ack
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        proc = start()
        limit = time.monotonic() + deadline
        while not done() and time.monotonic() < limit:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        sends = dt.world.gateway.summary()["sends"]
    seconds = time.monotonic() - started
    stored = set(stored_event_ids(store))
    reported = Counter(m for log in logs for m in STORED.findall(log.read_text(errors="replace")))
    records = store.count("evidence", kind="delivery_event")
    store.engine.dispose()
    expected = {event_id(e) for e in emitted}
    twice = sum(1 for n in reported.values() if n > 1) + max(0, records - len(stored & expected))
    return DrillResult(events, len(expected - stored), twice, records, kills, sends, seconds)
