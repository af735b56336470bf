"""The connector contract: what a plugin's connector class declares and implements.

A connector class names itself, declares a pydantic settings model, the streams it reads and the
actions it performs. A stream reads incrementally from a cursor and yields canonical records,
`Malformed` items (quarantined by the sync, never dropped) and `Checkpoint`s (cursor + watermark,
committed together with the records before them). An action takes an outbox row with an
idempotency key and returns the vendor's id for what it created.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from lifeline_hub.core.connection_form import ConnectionForm
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.models import (
    Action,
    Channel,
    ChannelInfo,
    ContactPoint,
    InterviewKind,
    Record,
    register_channels,
)

R = TypeVar("R", bound=Record)


class NoSettings(BaseModel):
    """Settings model of a connector that takes none."""

    model_config = ConfigDict(extra="forbid")


class ContactBook(Protocol):
    """Where a candidate-channel connector (SMS, e-mail) finds the raw address to send to.

    Payloads carry candidate ids, never raw phone numbers or addresses; the store answers here.
    """

    def contact(self, candidate_id: str, channel: Channel) -> ContactPoint | None: ...


@dataclass(frozen=True)
class StreamInfo:
    """A stream a connector can read: its name, the record types it yields, one line about it, and the
    interview kinds its evidence is about (`None`: any kind; an AI platform's events say nothing about
    a video interview, so they must not make reconcile wait for them or count as its attendance source)."""

    name: str
    produces: tuple[type[Record], ...]
    description: str = ""
    kinds: tuple[InterviewKind, ...] | None = None
    candidate_attendance: bool = True
    """Its `Attendance` records can be the candidate's (meeting participants, an AI platform's sessions), so it is an
    attendance source for its kinds. False for staff-side signals only (calendar check-ins of org members): no join
    seen there says nothing about the candidate."""


@dataclass(frozen=True)
class Checkpoint:
    """Resume point of a stream: the opaque cursor and the event time up to which data is complete."""

    cursor: Mapping[str, Any]
    watermark: datetime | None = None


@dataclass(frozen=True)
class Malformed:
    """A vendor record that could not become a canonical record, with the reason why."""

    reason: str
    payload: Any
    remote_id: str | None = None


StreamItem = Record | Checkpoint | Malformed


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str


Handoff = Mapping[str, Mapping[str, Sequence[Any]]]
"""stream name -> cursor key -> items: work an action hands to one of its connector's streams."""


@dataclass(frozen=True)
class ActionResult:
    """What an action sink reports: the vendor's id for the object, plus what dispatch must keep.

    `records` (e.g. the Notification for each recipient, or a failed DeliveryEvent) are stored in
    the same transaction that marks the outbox row done. `handoff` feeds a stream of the same
    instance: the items are appended to that stream's cursor keys on its next read (e.g. the
    receipts stream learns which sends to poll) and consumed with the checkpoint that follows, so a
    send made while a sync runs is never lost.
    """

    remote_id: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    records: tuple[Record, ...] = ()
    handoff: Handoff = field(default_factory=dict)


class CallbackRejected(Exception):
    """A vendor callback failed verification (signature, freshness, owner...); nothing is stored."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CallbackRequest:
    """A vendor callback as the receiver got it: raw body bytes, so signatures can be checked."""

    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    received_at: datetime
    transport: Literal["http", "stream"] = "http"
    """"stream": an event `lifeline listen` received over the connector's own authenticated outbound
    connection (`Connector.event_stream`); the HTTP receiver never sets it."""


@dataclass(frozen=True)
class CallbackResult:
    """A verified callback: the reply the vendor expects, a dedupe id, the records it carries, and what it
    carries that Lifeline cannot use (`kept`: an event of a type no code handles yet, a record not in the
    documented shape), quarantined with the reason under the stream `callbacks` for people to inspect
    (`lifeline quarantine`), never lost and never a crash."""

    reply: Any
    event_id: str | None = None
    records: tuple[Record, ...] = ()
    status_code: int = 200
    kept: tuple[Malformed, ...] = ()


@dataclass(frozen=True)
class Instance:
    """Where a connector runs: tenant, instance name (the `source` of its records), zone, URLs."""

    tenant: str
    name: str
    timezone: str = "Asia/Shanghai"
    base_urls: Mapping[str, str] = field(default_factory=dict)


class Connector(ABC):
    """Base class of every connector; subclasses fill in the class attributes and methods."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    settings_model: ClassVar[type[BaseModel]] = NoSettings
    streams: ClassVar[tuple[StreamInfo, ...]] = ()
    actions: ClassVar[tuple[str, ...]] = ()
    default_base_urls: ClassVar[Mapping[str, str]] = {}
    emulator: ClassVar[str | None] = None
    """Import path `module:factory` of the vendor emulator app (loaded only when asked for)."""
    callback_kit: ClassVar[str | None] = None
    """Import path `module:factory` of the `CallbackKit` a connector that overrides `handle_callback` names
    for the callback conformance cases (`core.receiver.conformance`)."""
    event_stream: ClassVar[str | None] = None
    """Import path `module:factory` of the `core.listen.EventLink` factory (called with the connector) that
    receives this connector's events over an outbound connection (instances with `events = "stream"`)."""
    sandbox_actor: ClassVar[str | None] = None
    """Import path `module:Class` of the `core.sandbox.SandboxActor` that plays the vendor's users in the sandbox."""
    connection_form: ClassVar[ConnectionForm | None] = None
    """The Airflow connection type holding this connector's credentials (listed by Lifeline's provider)."""
    channels: ClassVar[tuple[ChannelInfo, ...]] = ()
    """Channels this connector adds (e.g. `wecom`), registered when the class is defined (`core.models.channels`)."""
    reaches_staff: ClassVar[bool | None] = None
    """Its `send_message` reaches the tenant's staff (HR, interviewers) by their platform user ids: interviewers'
    reminders may go through it. None: it does when it performs `create_task` (a platform staff work in)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register_channels(cls.channels)

    @classmethod
    def staff_messenger(cls) -> bool:
        """It sends staff messages: `reaches_staff` (or, unset, `create_task`) and `send_message`."""
        staff = cls.reaches_staff if cls.reaches_staff is not None else "create_task" in cls.actions
        return staff and "send_message" in cls.actions

    @classmethod
    def emulator_connection(cls, world: Any) -> dict[str, Any] | None:
        """The connection (`login`, `password`, `extra`) that reaches this connector's emulator `world`.

        Read from the world's fixed, fake settings, e.g. for `AIRFLOW_CONN_<ID>` in the sandbox;
        None when the emulator takes no credentials.
        """
        return None

    def __init__(self, instance: Instance, settings: BaseModel, credentials: Credentials | None,
                 contacts: ContactBook | None = None) -> None:
        self.instance = instance
        self.settings = settings
        self.credentials = credentials
        self.contacts = contacts

    def base_url(self, key: str) -> str:
        """A configured base URL (per instance) or the connector's default."""
        url = self.instance.base_urls.get(key) or self.default_base_urls.get(key)
        if not url:
            raise KeyError(f"{self.instance.name}: no base URL {key!r} configured")
        return url.rstrip("/")

    def check(self) -> CheckResult:
        """Cheap reachability and credential check, one line for `lifeline check`."""
        return CheckResult(True, "configured (this connector has no remote check)")

    def read(self, stream: str, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
        """Read `stream` from `cursor` (empty on the first run)."""
        raise NotImplementedError(f"{self.name} has no stream {stream!r}")

    def perform(self, action: Action) -> ActionResult:
        """Carry out one outbox action; pass `action.idempotency_key` to the vendor where it takes one."""
        raise NotImplementedError(f"{self.name} has no action {action.kind!r}")

    def handle_callback(self, request: CallbackRequest) -> CallbackResult:
        """Verify a vendor callback (raise `CallbackRejected`), then parse it; served at /callbacks/<instance>."""
        raise CallbackRejected(f"{self.name} accepts no callbacks")

    def parse(self, model: type[R], payload: Any, **fields: Any) -> R | Malformed:
        """Build a canonical record from vendor data; a validation failure becomes `Malformed`."""
        try:
            return model(source=self.instance.name, **fields)
        except (ValidationError, ValueError, TypeError, KeyError) as exc:
            return Malformed(reason=describe_error(exc), payload=payload, remote_id=_remote_id(fields))


def describe_error(exc: Exception) -> str:
    """A one-line reason for quarantine: field paths and messages, no input values echoed."""
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}" for err in exc.errors()]
        return "; ".join(parts)
    return f"{type(exc).__name__}: {exc}"


def _remote_id(fields: Mapping[str, Any]) -> str | None:
    value = fields.get("remote_id")
    return str(value) if value not in (None, "") else None
