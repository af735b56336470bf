"""Callback conformance kit: how the receiver's test suite talks to a connector's callback endpoint.

A connector class that overrides `handle_callback` names its kit with a class attribute, like
its emulator: `callback_kit = "package.module:factory"`. The factory returns a `CallbackKit`:
the settings and connection an instance needs, and ready-to-send requests carrying one fresh
event each (valid, unsigned or forged, stamped at a given instant). The receiver tests run every
such connector through the same cases: unsigned, forged, stale and replayed requests are refused
with nothing stored, and a valid event delivered several times is stored once.

The receiver hands `handle_callback` lower-cased header names and at most 1 MiB of body. Freshness
(the timestamp against `CallbackRequest.received_at`) is the connector's check; dedupe by event id
is the receiver's. Anything a sender controls may be hostile: the receiver's fuzz tests mangle each
kit's deliveries, and `handle_callback` must answer them only with `CallbackRejected` (401) or
`CallbackMalformed` (400), never another exception; core.receiver.untrusted has the helpers
(verify the raw bytes first, compare digests as bytes, strict timestamps, bounded JSON).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from lifeline_hub.core.connector import Connector

Signature = Literal["valid", "missing", "forged"]


@dataclass(frozen=True)
class SignedRequest:
    """One HTTP delivery as the vendor would send it."""

    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)


class CallbackKit(Protocol):
    settings: Mapping[str, Any]
    """The instance's settings table (what `plugins.toml` holds for it)."""
    connection: str | None
    """The `AIRFLOW_CONN_<ID>` value (JSON) with the callback secrets; None when none are needed."""

    def event(self, event_id: str, at: datetime, signature: Signature = "valid") -> SignedRequest:
        """A delivery of one event (`event_id` is letters and digits) that yields at least one record,
        signed as of `at`: properly, not at all, or with a wrong secret."""
        ...


def accepts_callbacks(cls: type[Connector]) -> bool:
    """Whether the connector class serves `/callbacks/<instance>` (it overrides `handle_callback`)."""
    return cls.handle_callback is not Connector.handle_callback


def load_kit(cls: type[Connector]) -> CallbackKit:
    """The kit a callback-accepting connector names in `callback_kit`; LookupError when it names none."""
    path = getattr(cls, "callback_kit", None)
    if not isinstance(path, str) or ":" not in path:
        raise LookupError(f"connector {cls.name!r} accepts callbacks but names no callback_kit = 'module:factory'")
    module, _, factory = path.partition(":")
    kit: CallbackKit = getattr(importlib.import_module(module), factory)()
    return kit
