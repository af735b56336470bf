"""The listener: one outbound event connection per `events = "stream"` instance, kept open.

    code = asyncio.run(listen(config, store, tenant, stop))

Per instance: `link.open()` (credentials -> URL), connect, then for each message the session's
replies (pongs), and for each event, in order: the receiver's `accept_callback` (the connector's
`handle_callback`, dedupe by event id in `inbound_events`, store, all in one transaction), and only
then the ack. A crash before the ack makes the vendor deliver the event again; the redelivery is a
duplicate and stores nothing. Refused events (not authentic, another app's, malformed, oversized)
are logged and acked as skipped; a store outage acks `later`. The connection is kept through bad
input; a lost connection reconnects after an exponential backoff with jitter (at once when the
server asked); refused credentials stop that instance with one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from lifeline_hub.core.config import Config, ConnectorSetup
from lifeline_hub.core.connector import CallbackRejected, CallbackRequest, Connector
from lifeline_hub.core.http.redact import redact
from lifeline_hub.core.listen.link import CredentialsRefused, EventLink, Outcome, Session, StreamEvent
from lifeline_hub.core.listen.status import HEARTBEAT, ListenerStatus
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.receiver.callbacks import accept_callback
from lifeline_hub.core.receiver.guards import CALLBACK_LIMIT
from lifeline_hub.core.receiver.untrusted import CallbackMalformed
from lifeline_hub.core.store import Store
from lifeline_hub.core.sync import build_connector

log = logging.getLogger("lifeline.listen")

STOPPED = "stopped"
REFUSED = "credentials refused"


@dataclass(frozen=True)
class Backoff:
    """Seconds before reconnect attempt n: `first * 2**n`, at most `most`, times a jitter in [0.5, 1]."""

    first: float = 1.0
    most: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        return float(min(self.most, self.first * 2.0 ** min(attempt, 30)) * self.rng.uniform(0.5, 1.0))


def stream_instances(config: Config, tenant: str | None = None) -> list[ConnectorSetup]:
    return [s for s in config.instances(tenant) if s.config.events == "stream"]


def load_link(connector: Connector) -> EventLink:
    """The `EventLink` the connector's class names in `event_stream`; LookupError when it names none."""
    path = type(connector).event_stream
    if not path or ":" not in path:
        raise LookupError(f"connector {type(connector).name!r} has no event stream (events = \"stream\")")
    module, _, factory = path.partition(":")
    link: EventLink = getattr(importlib.import_module(module), factory)(connector)
    return link


class Listener:
    """Keeps one instance's event connection open until `stop` is set (or its credentials are refused)."""

    def __init__(self, setup: ConnectorSetup, connector: Connector, link: EventLink, store: Store,
                 clock: Callable[[], datetime] = utcnow, backoff: Backoff | None = None,
                 heartbeat: float = HEARTBEAT.total_seconds()) -> None:
        self.setup, self.connector, self.link, self.store = setup, connector, link, store
        self.name = setup.instance.name
        self.clock, self.backoff, self.heartbeat = clock, backoff or Backoff(), heartbeat
        self.status = ListenerStatus(store, setup.tenant, self.name)

    async def run(self, stop: asyncio.Event) -> str:
        """`STOPPED` once `stop` is set, `REFUSED` when the vendor refuses the credentials."""
        attempt = 0
        while not stop.is_set():
            try:
                session = await asyncio.to_thread(self.link.open)
            except CredentialsRefused as exc:
                reason = redact(str(exc))
                log.error("%s: the vendor refused the app's credentials (%s): not reconnecting; fix connection %s "
                          "and restart", self.name, reason, self.setup.config.connection_id or "-")
                await asyncio.to_thread(self.status.disconnected, self.clock(), f"{REFUSED}: {reason}", "stopped")
                return REFUSED
            except Exception as exc:  # the vendor or the network is down: try again later
                reason, asked, connected = redact(f"open failed: {type(exc).__name__}: {exc}"), False, False
            else:
                reason, asked, connected = await self._connected(session, stop)
            if stop.is_set():
                break
            attempt = 0 if connected else attempt + 1
            delay = 0.0 if asked else self.backoff.delay(attempt)
            await asyncio.to_thread(self.status.disconnected, self.clock(), reason)
            log.warning("%s: events disconnected (%s); reconnecting in %.1f s", self.name, reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        await asyncio.to_thread(self.status.disconnected, self.clock(), "listener stopped", "stopped")
        return STOPPED

    async def _connected(self, session: Session, stop: asyncio.Event) -> tuple[str, bool, bool]:
        """Serve one connection: (why it ended, whether the server asked to reconnect, whether it connected)."""
        connected = False
        try:
            async with connect(session.url, max_size=self.link.max_message_bytes, open_timeout=10,
                               close_timeout=2, user_agent_header="lifeline-listen") as ws:
                connected = True
                await asyncio.to_thread(self.status.connected, self.clock())
                log.info("%s: events connected", self.name)
                helpers = [asyncio.create_task(self._beat(session, ws)),
                           asyncio.create_task(_close_on(stop, ws))]
                try:
                    asked = await self._serve(session, ws)
                finally:
                    for task in helpers:
                        task.cancel()
                return ("server asked to reconnect" if asked else "connection closed"), asked, True
        except (OSError, TimeoutError, WebSocketException) as exc:
            return redact(f"{type(exc).__name__}: {exc}"), False, connected

    async def _serve(self, session: Session, ws: ClientConnection) -> bool:
        async for message in ws:
            inbound = session.read(message)
            if inbound.problem:
                log.warning("%s: stream message skipped: %s", self.name, redact(inbound.problem))
            for reply in inbound.replies:
                await ws.send(reply)
            if inbound.event is not None:
                outcome, reply = await asyncio.to_thread(self.take, inbound.event)
                frame = session.ack(inbound.event, outcome, reply)
                if frame is not None:
                    await ws.send(frame)
            if inbound.reconnect:
                return True
        return False

    async def _beat(self, session: Session, ws: ClientConnection) -> None:
        """Move the watermark on while connected; send the protocol's pings."""
        every = min(self.heartbeat, session.ping_interval or self.heartbeat)
        while True:
            await asyncio.sleep(every)
            ping = session.ping()
            if ping is not None:
                await ws.send(ping)
            await asyncio.to_thread(self.status.heartbeat, self.clock())

    def take(self, event: StreamEvent) -> tuple[Outcome, Any]:
        """Store one event through the receiver's path; what to tell the vendor and the connector's reply."""
        if len(event.body) > CALLBACK_LIMIT:
            log.warning("%s: stream event %s skipped: %d bytes (at most %d)", self.name, event.message_id,
                        len(event.body), CALLBACK_LIMIT)
            return "skipped", None
        request = CallbackRequest(headers=dict(event.headers), query={}, body=event.body, received_at=self.clock(),
                                  transport="stream")
        try:
            result, _ = accept_callback(self.store, self.setup, self.connector, request)
        except CallbackRejected as exc:
            what = "malformed" if isinstance(exc, CallbackMalformed) else "rejected"
            log.warning("%s: stream event %s %s: %s", self.name, event.message_id, what, redact(exc.reason))
            return "skipped", None
        except SQLAlchemyError as exc:
            log.error("%s: stream event %s not stored (%s); the vendor will deliver it again", self.name,
                      event.message_id, type(exc).__name__)
            return "later", None
        except Exception as exc:  # a connector bug: like the HTTP receiver's 500, the vendor delivers it again
            log.error("%s: handle_callback failed: %s", self.name, redact(f"{type(exc).__name__}: {exc}"))
            return "later", None
        with contextlib.suppress(SQLAlchemyError):
            self.status.event(request.received_at)
        return "stored", result.reply


async def _close_on(stop: asyncio.Event, ws: ClientConnection) -> None:
    await stop.wait()
    await ws.close()


async def listen(config: Config, store: Store, tenant: str | None, stop: asyncio.Event,
                 backoff: Backoff | None = None, clock: Callable[[], datetime] = utcnow) -> dict[str, str]:
    """Listen on every `events = "stream"` instance (of `tenant`) until `stop`; how each one ended."""
    listeners: list[Listener] = []
    ended: dict[str, str] = {}
    for setup in stream_instances(config, tenant):
        try:
            connector = build_connector(setup, store)
            listeners.append(Listener(setup, connector, load_link(connector), store, clock, backoff))
        except Exception as exc:  # one broken instance must not keep the others down
            ended[setup.instance.name] = redact(f"{type(exc).__name__}: {exc}")
            log.error("%s: cannot listen: %s", setup.instance.name, ended[setup.instance.name])
    results = await asyncio.gather(*(listener.run(stop) for listener in listeners))
    ended.update({listener.name: result for listener, result in zip(listeners, results, strict=True)})
    return ended
