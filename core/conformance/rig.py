"""The rig a conformance case runs on: the connector's emulator on loopback, its world, the fake clock, and
instances of the connector pointed at it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lifeline_hub.core.conformance.clock import SuiteClock
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.connector import ActionResult, Connector, ContactBook, Instance, StreamItem
from lifeline_hub.core.emulator import EmulatorWorld, Faults
from lifeline_hub.core.models import Action


def emulator_factory(cls: type[Connector]) -> Callable[..., Any]:
    """The app factory a connector names in `emulator = "module:factory"` (called with `world=`)."""
    if not cls.emulator or ":" not in cls.emulator:
        raise LookupError(f"connector {cls.name!r} names no emulator = 'module:factory'")
    module, _, factory = cls.emulator.partition(":")
    made: Callable[..., Any] = getattr(importlib.import_module(module), factory)
    return made


@dataclass
class Rig:
    """One running emulator and what a case needs to drive the connector against it.

    `world` is the emulator's state (seed it, count vendor effects on it); `url` its loopback base URL;
    `clock` the suite's fake clock (already installed); `contacts` the store holding the suite's
    `candidates` (the connector's `ContactBook`), None for cases that need none.
    """

    connector_class: type[Connector]
    instance: Instance
    settings: Mapping[str, Any]
    world: EmulatorWorld[Any]
    url: str
    clock: SuiteClock
    credentials: Credentials | None
    contacts: ContactBook | None = None
    keys: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    def connector(self, credentials: Credentials | None = None, **settings: Any) -> Connector:
        """A fresh instance of the connector on this emulator (`credentials` default: the emulator's own)."""
        model = self.connector_class.settings_model.model_validate({**self.settings, **settings})
        return self.connector_class(self.instance, model, credentials or self.credentials, contacts=self.contacts)

    def faults(self, **knobs: Any) -> None:
        """Set the emulator's fault knobs (`Faults` fields; the rest off) and reseed their draws."""
        self.world.configure_faults(Faults(**knobs))

    def action(self, kind: str, payload: Mapping[str, Any], key: str | None = None) -> Action:
        """A first hand-over of an outbox row for `kind` (as dispatch performs it)."""
        now = self.clock.utcnow()
        return Action(idempotency_key=key or f"conformance-{kind}-{next(self.keys)}", tenant=self.instance.tenant,
                      connector=self.instance.name, kind=kind, payload=dict(payload), due_at=now, attempts=1,
                      handed_at=now)

    @staticmethod
    def again(action: Action) -> Action:
        """The same row handed over once more, as dispatch does after a worker's vendor call went unanswered."""
        return action.model_copy(update={"attempts": action.attempts + 1, "maybe_sent": True})

    def perform(self, action: Action, connector: Connector | None = None) -> ActionResult:
        return (connector or self.connector()).perform(action)


def read_all(connector: Connector, stream: str, cursor: Mapping[str, Any]) -> list[StreamItem]:
    """Every item one read of `stream` from `cursor` yields."""
    return list(connector.read(stream, cursor))


def with_handoff(cursor: Mapping[str, Any], handoff: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """`cursor` with `handoff` items appended to its keys, as the sync merges work actions handed over."""
    merged = dict(cursor)
    for key, items in handoff.items():
        merged[key] = [*merged.get(key, []), *items]
    return merged

