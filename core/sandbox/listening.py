"""`lifeline listen` inside `lifeline demo`: the sandbox tenant's `events = "stream"` instances receive their events
over the emulators' event streams instead of HTTP callbacks.

    with Listening(config, store) as listening:   # connected, or RuntimeError
        ...; listening.heartbeat(now)              # before each pipeline run

The listeners run on their own thread (asyncio) on the same virtual clock; repeatability comes from the actors,
whose `deliver_pending_events` waits until the listener has acked (stored) every event they raised. The
heartbeat that moves each stream's completeness watermark is the sandbox's, once per step at its `now`
(the listener's own would beat in real seconds, at times no seed decides).
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime
from types import TracebackType

from lifeline_hub.core.config import Config
from lifeline_hub.core.listen.listener import Listener, load_link, stream_instances
from lifeline_hub.core.listen.status import listener_states
from lifeline_hub.core.store import Store
from lifeline_hub.core.sync import build_connector

NEVER = 10.0**9
"""The listeners' own heartbeat interval (seconds): the sandbox beats instead."""
CONNECT_SECONDS = 30.0


class Listening:
    """The config's stream instances listening on a thread until the block ends."""

    def __init__(self, config: Config, store: Store) -> None:
        self.store = store
        self.listeners = [Listener(setup, connector, load_link(connector), store, heartbeat=NEVER)
                          for setup in stream_instances(config)
                          for connector in [build_connector(setup, store)]]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="demo-listen", daemon=True)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await asyncio.gather(*(listener.run(self._stop) for listener in self.listeners))

    def __enter__(self) -> Listening:
        if not self.listeners:
            return self
        self._thread.start()
        self._ready.wait(CONNECT_SECONDS)
        names = {listener.name for listener in self.listeners}
        deadline = time.monotonic() + CONNECT_SECONDS
        while {s.source for s in listener_states(self.store) if s.state == "connected"} < names:
            if time.monotonic() >= deadline or not self._thread.is_alive():
                self.__exit__(None, None, None)
                raise RuntimeError(f"the demo's listeners did not connect in {CONNECT_SECONDS:g} s: "
                                   f"{', '.join(sorted(names))}")
            time.sleep(0.02)
        return self

    def heartbeat(self, now: datetime) -> None:
        """Each stream is complete up to `now` (its listener is connected: the actors waited for its acks)."""
        for listener in self.listeners:
            listener.status.heartbeat(now)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=CONNECT_SECONDS)
