"""How a plugin takes part in the sandbox: a `SandboxActor` plays its vendor's users in the vendor's emulator.

A connector class names its actor like its emulator, `sandbox_actor = "package.module:ActorClass"`; the
sandbox makes one per plugin it drives, `ActorClass(sandbox, world)` (`world`: that plugin's `EmulatorWorld`),
and calls it at fixed points:

    setup()               the vendor's fixed state: accounts, templates, dead numbers and mailboxes
    book(b) -> remote id  the recruiter books interview `b` here (only for the kinds in `hosts`)
    candidate_ref(b)      the vendor's id of b's candidate (what a contact-me code's state names)
    move(b, start, end)   HR moves it to a new time in the vendor's product
    start(b), fail(b, code), submit(b), missed(b)   the candidate on an interview platform
    observe()             look at what Lifeline sent since the last look; schedule how people react
    tick()                after the clocks moved
    tally(into)           what the vendor's users got, for `lifeline demo`'s report

People's behaviour (who reads, when, what they answer) is the sandbox's: an actor finds what arrived in its
world and hands it to the sandbox's people (`Sandbox.read`, `Sandbox.take_next_step`, `Sandbox.at`...), and
does in the world what they decided (mark read, tick off, approve). A run is repeatable only if every
random choice comes from `sandbox.rng`, in the order of the calls: the sandbox observes the actors by `role`
(candidates' channels first, then staff's, then the interview platforms), then by plugin name.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from lifeline_hub.core.connector import Connector
from lifeline_hub.core.sandbox.population import Booking, Kind

if TYPE_CHECKING:
    from lifeline_hub.core.sandbox.world import Sandbox

W = TypeVar("W")


class Role(IntEnum):
    """Whom a vendor's users are in the sandbox; the order the sandbox observes them in."""

    candidate_channel = 0
    """Candidates get Lifeline's messages here (SMS, e-mail)."""
    staff_channel = 1
    """HR or interviewers get Lifeline's messages, todos or approvals here."""
    interview_platform = 2
    """Candidates take their interviews here."""


@dataclass
class Tally:
    """What the vendors' users got during a run, as the actors count it in their worlds."""

    hr_tasks: int = 0
    approvals: int = 0
    candidate_messages: dict[str, int] = field(default_factory=dict)
    """Channel -> messages candidates got on it."""
    staff_messages: int = 0
    duplicates: int = 0
    """Messages or tasks that reached someone again under a key they already had (goal 0)."""
    task_samples: list[dict[str, str]] = field(default_factory=list)
    """A few HR tasks as HR sees them (`subject`, `description`), links in full: the report elides them."""
    message_samples: list[str] = field(default_factory=list)
    """A few messages as a candidate's phone or mailbox shows them, links in full."""


class SandboxActor(Generic[W]):
    """Plays one vendor's users in its emulator's `world` for `sandbox`; override what the vendor takes part in."""

    role: ClassVar[Role] = Role.staff_channel
    hosts: ClassVar[tuple[Kind, ...]] = ()
    """The interview kinds the recruiter books on this vendor (`book`, `move`; for AI interviews also `start`,
    `fail`, `submit`, `missed`)."""
    delivers_events: ClassVar[bool] = False
    """The actor hands its vendor's events to Lifeline at fixed points (`deliver_pending_events`, which waits for the
    listener's acks in stream mode), so `lifeline demo` can receive them over the vendor's event stream too."""
    repeatable_settings: ClassVar[Mapping[str, Any]] = {}
    """Connector settings that make the connector call its vendor one request at a time (an emulator draws its
    faults and ids in the order requests arrive): `lifeline demo` applies them so a seed gives one report."""

    def __init__(self, sandbox: Sandbox, world: W) -> None:
        self.sandbox = sandbox
        self.world = world
        self.plugin = ""
        """The plugin it plays (set by the sandbox)."""

    def setup(self) -> None:
        """Put the vendor's fixed state in the world (before anything is booked)."""

    def observe(self) -> None:
        """Find what Lifeline sent since the last look and schedule how people react (`sandbox.at`)."""

    def tick(self) -> None:
        """Let the world catch up after the sandbox moved the clocks."""

    def book(self, b: Booking) -> str:
        """The recruiter books `b` on this vendor; returns the vendor's id of the interview."""
        raise NotImplementedError(f"{type(self).__name__} books no {b.kind} interviews")

    def move(self, b: Booking, start: datetime, end: datetime) -> None:
        """HR moves `b` to `start`-`end` in the vendor's product."""
        raise NotImplementedError(f"{type(self).__name__} cannot move {b.ref}")

    def start(self, b: Booking) -> None:
        """The candidate starts the interview on the platform (raises when the platform refuses)."""
        raise NotImplementedError(f"{type(self).__name__} runs no interviews")

    def fail(self, b: Booking, code: str) -> None:
        """A join fails on the platform for a technical reason, `code` naming it."""
        raise NotImplementedError(f"{type(self).__name__} runs no interviews")

    def submit(self, b: Booking) -> None:
        """The candidate completes the interview."""
        raise NotImplementedError(f"{type(self).__name__} runs no interviews")

    def candidate_ref(self, b: Booking) -> str:
        """The vendor's id of `b`'s candidate (the `remote_id` of the Candidate record Lifeline makes of it)."""
        raise NotImplementedError(f"{type(self).__name__} books no {b.kind} interviews")

    def missed(self, b: Booking) -> None:
        """`b` was missed and the candidate would take a second chance: note what a new offer would change."""

    def tally(self, into: Tally) -> None:
        """Add what this vendor's users got to `into`."""


def actor_class(cls: type[Connector]) -> type[SandboxActor[Any]] | None:
    """The actor class a connector class names in `sandbox_actor`, None when it names none."""
    path = cls.sandbox_actor
    if path is None:
        return None
    module, _, name = path.partition(":")
    actor = getattr(importlib.import_module(module), name)
    if not (isinstance(actor, type) and issubclass(actor, SandboxActor)):
        raise TypeError(f"connector {cls.name!r}: sandbox_actor {path!r} is not a SandboxActor subclass")
    return actor


def repeats(keys: Iterable[Any]) -> int:
    """How many of `keys` (empty ones ignored) repeat one seen before."""
    counts = Counter(k for k in keys if k)
    return sum(c - 1 for c in counts.values() if c > 1)
