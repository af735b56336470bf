"""What a vendor's event stream protocol gives the listener (`core.listen.listener`).

    link = DingTalkStreamLink(connector)      # Connector.event_stream names the factory
    session = link.open()                     # blocking: credentials -> WebSocket URL; CredentialsRefused
    inbound = session.read(message)           # one WebSocket message -> replies, an event, a reconnect
    frame = session.ack(event, "stored", reply)  # only after the event is stored (or skipped for good)

A session is one connection: it may keep state across messages (Feishu's fragmented payloads).
Nothing here touches the network after `open`: the listener owns the socket.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Frame = str | bytes
Outcome = Literal["stored", "skipped", "later"]
"""`stored`: stored now or before (a redelivery); `skipped`: refused for good (logged); `later`: not stored
(the store is down): the vendor should deliver it again."""


class CredentialsRefused(Exception):
    """The vendor refused the app's credentials: reconnecting cannot help (one line, then stop)."""


@dataclass(frozen=True)
class StreamEvent:
    """One event as the vendor framed it: `body` and `headers` become the `CallbackRequest`."""

    message_id: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    ack_state: Any = None
    """Whatever the session needs to build the ack frame (the frame's headers, Feishu's whole frame)."""


@dataclass(frozen=True)
class Inbound:
    """What one WebSocket message meant."""

    replies: tuple[Frame, ...] = ()
    event: StreamEvent | None = None
    reconnect: bool = False
    """The server asked the client to reconnect (DingTalk SYSTEM disconnect)."""
    problem: str | None = None
    """Why the message was skipped (malformed, oversized, unknown frame type): logged, connection kept."""


class Session(ABC):
    """One connection's protocol state."""

    url: str
    ping_interval: float | None = None
    """Seconds between client pings the protocol wants (`ping()`); None: the server pings."""

    @abstractmethod
    def read(self, message: Frame) -> Inbound: ...

    @abstractmethod
    def ack(self, event: StreamEvent, outcome: Outcome, reply: Any = None) -> Frame | None:
        """The ack frame; `reply` is what `handle_callback` answered (the HTTP response body: Feishu's card
        toast), None when the event was not handled."""

    def ping(self) -> Frame | None:
        return None


class EventLink(ABC):
    """A connector instance's outbound event connection: `open()` a session per connection."""

    max_message_bytes: int = 4 * 1024 * 1024
    """The largest WebSocket message read; an event body over the receiver's callback limit is skipped."""

    @abstractmethod
    def open(self) -> Session:
        """Ask the vendor where to connect (a blocking HTTP call): `CredentialsRefused` when it refuses the app."""
