"""The public plugin API: every name a plugin may use, in one module, under one version.

    from lifeline_hub.core.api import Connector, StreamInfo, Checkpoint, hookimpl, Interview

    LIFELINE_PLUGIN_API = (1, 0)   # in the plugin's entry-point module: the API it was built for

`PLUGIN_API = (major, minor)` is the version of this module's names and their behaviour (see
CHANGELOG.md). A minor release only adds; a name is removed or changed incompatibly only in a new
major, after at least one minor release in which using it warns (`DeprecationWarning`). The host
loads a plugin when its declared major equals `PLUGIN_API`'s and its minor is not newer; a plugin
that declares nothing is taken as built for 1.0. Anything imported from elsewhere in
`lifeline_hub` is internal and may change in any release.

The emulator base, the fake clock and the cassette kit are for tests: they load on first use (FastAPI and uvicorn,
vcrpy), so a plugin's run-time import of this module pulls in neither.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any, Final

from lifeline_hub.core.actions import (
    CalendarEvent,
    CalendarInvite,
    CreateApproval,
    CreateTask,
    Link,
    ReissueLink,
    SendEmail,
    SendMessage,
    SendSms,
    message_audience,
)
from lifeline_hub.core.connection_form import ConnectionForm
from lifeline_hub.core.connections import ConnectionNotFound, Credentials
from lifeline_hub.core.connector import (
    ActionResult,
    CallbackRejected,
    CallbackRequest,
    CallbackResult,
    Checkpoint,
    CheckResult,
    Connector,
    ContactBook,
    Handoff,
    Instance,
    Malformed,
    NoSettings,
    StreamInfo,
    StreamItem,
    describe_error,
)
from lifeline_hub.core.hookspecs import hookimpl
from lifeline_hub.core.http import (
    AuthFailed,
    Clock,
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Quota,
    RateLimited,
    RateLimiter,
    RequestParts,
    SystemClock,
    Token,
    TokenExpired,
    TokenProvider,
    TransientError,
    VendorClient,
    VendorError,
    current_clock,
    cursor_pages,
    items,
    mask_email,
    mask_phone,
    offset_pages,
    page_token_pages,
    parse_retry_after,
    redact,
    redact_json,
    redact_mapping,
    use_clock,
)
from lifeline_hub.core.markup import defang_urls, escape_markdown, fill, one_line, untrusted, with_links
from lifeline_hub.core.models import (
    Action,
    ActionStatus,
    AppointmentThread,
    Attendance,
    Audience,
    Candidate,
    Channel,
    ChannelInfo,
    Confidence,
    Confirmation,
    ConfirmationAction,
    ContactChange,
    ContactPoint,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Evidence,
    Interview,
    InterviewKind,
    InterviewStatus,
    LinkEvent,
    LinkEventType,
    Notification,
    NotificationPurpose,
    Outcome,
    OutcomeClass,
    Record,
    RequestStatus,
    RescheduleRequest,
    Role,
    Slot,
    UtcDateTime,
    canonical_id,
    from_epoch,
    from_epoch_millis,
    from_epoch_seconds,
    idempotency_key,
    lookup_hash,
    normalise_email,
    normalise_phone,
    parse_instant,
    to_epoch_millis,
    utcnow,
    zone_info,
)
from lifeline_hub.core.receiver.untrusted import CallbackMalformed, ascii_digits, load_json, same_digest

if TYPE_CHECKING:
    from lifeline_hub.core.emulator import (
        ControlledWorld,
        DeliveryWorker,
        EmulatorWorld,
        FaultPlan,
        Faults,
        LoopbackServer,
        QuotaMeter,
        Served,
        VirtualClock,
        add_vendor_middleware,
        control_router,
        free_port,
        json_object,
        record_attempt,
    )
    from lifeline_hub.core.http.testing import FakeClock
    from lifeline_hub.core.remediation.policies import Playbook, Step
    from lifeline_hub.core.sandbox import Booking, SandboxActor, Tally
    from lifeline_hub.core.sandbox import Kind as SandboxKind
    from lifeline_hub.core.sandbox import Role as SandboxRole
    from lifeline_hub.core.testkit import cassette, find_leaks, recording

PLUGIN_API: Final = (1, 0)
"""(major, minor) of this module; CHANGELOG.md says what each version added, deprecated and removed."""

PLUGIN_API_ATTRIBUTE: Final = "LIFELINE_PLUGIN_API"
"""The attribute of a plugin's entry-point module (or plugin object) declaring the API it was built for."""

_LAZY: Final = {
    **dict.fromkeys(
        ("ControlledWorld", "DeliveryWorker", "EmulatorWorld", "FaultPlan", "Faults", "LoopbackServer",
         "QuotaMeter", "Served", "VirtualClock", "add_vendor_middleware", "control_router", "free_port",
         "json_object", "record_attempt"),
        "lifeline_hub.core.emulator"),
    **dict.fromkeys(("cassette", "find_leaks", "recording"), "lifeline_hub.core.testkit"),
    "FakeClock": "lifeline_hub.core.http.testing",
    **dict.fromkeys(("SandboxActor", "Tally", "Booking"), "lifeline_hub.core.sandbox"),
    "SandboxRole": "lifeline_hub.core.sandbox:Role",
    "SandboxKind": "lifeline_hub.core.sandbox:Kind",
    **dict.fromkeys(("Playbook", "Step"), "lifeline_hub.core.remediation.policies"),
}
"""Names imported on first use (test-time and sandbox pieces, remediation policies): name -> `module[:attribute]`."""

DEPRECATED: dict[str, tuple[str, str]] = {}
"""Deprecated name -> (the `module:attribute` it still resolves to, what to use instead); empty in 1.0.
Using one warns (`DeprecationWarning`); it is removed in the next major version."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, _, attribute = _LAZY[name].partition(":")
        value = getattr(importlib.import_module(module), attribute or name)
    elif name in DEPRECATED:
        target, instead = DEPRECATED[name]
        warnings.warn(f"lifeline_hub.core.api.{name} is deprecated and goes in the next major plugin API; "
                      f"use {instead}", DeprecationWarning, stacklevel=2)
        module, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module), attribute)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "PLUGIN_API", "PLUGIN_API_ATTRIBUTE", "Action", "ActionResult", "ActionStatus", "AppointmentThread", "Attendance",
    "Audience", "AuthFailed", "Booking", "CalendarEvent", "CalendarInvite", "CallbackMalformed", "CallbackRejected",
    "CallbackRequest", "CallbackResult", "Candidate", "Channel", "ChannelInfo", "CheckResult", "Checkpoint", "Clock",
    "Confidence", "Confirmation", "ConfirmationAction", "Conflict", "ConnectionForm", "ConnectionNotFound",
    "Connector", "ContactBook", "ContactChange", "ContactPoint", "ControlledWorld", "CreateApproval", "CreateTask",
    "Credentials", "DeliveryEvent", "DeliveryStatus", "DeliveryType", "DeliveryWorker", "EmulatorWorld", "Evidence",
    "FakeClock",
    "FaultPlan", "Faults", "Handoff", "Instance", "Interview", "InterviewKind", "InterviewStatus", "InvalidRequest",
    "Link", "LinkEvent", "LinkEventType", "LoopbackServer", "Malformed", "NoSettings", "NotFound", "Notification",
    "NotificationPurpose", "Outcome", "OutcomeClass", "PermissionDenied", "Playbook", "Quota", "QuotaMeter",
    "RateLimited", "RateLimiter", "Record", "ReissueLink", "RequestParts", "RequestStatus", "RescheduleRequest",
    "Role", "SandboxActor", "SandboxKind", "SandboxRole", "SendEmail", "SendMessage", "SendSms", "Served", "Slot",
    "Step", "StreamInfo", "StreamItem", "SystemClock", "Tally", "Token", "TokenExpired", "TokenProvider",
    "TransientError", "UtcDateTime", "VendorClient", "VendorError", "VirtualClock", "add_vendor_middleware",
    "ascii_digits", "canonical_id", "cassette", "control_router", "current_clock", "cursor_pages", "defang_urls",
    "describe_error", "escape_markdown", "fill", "find_leaks", "free_port", "from_epoch", "from_epoch_millis",
    "from_epoch_seconds", "hookimpl", "idempotency_key", "items", "json_object", "load_json", "lookup_hash",
    "mask_email", "mask_phone", "message_audience", "normalise_email", "normalise_phone", "offset_pages", "one_line",
    "page_token_pages", "parse_instant", "parse_retry_after", "record_attempt", "recording", "redact", "redact_json",
    "redact_mapping", "same_digest", "to_epoch_millis", "untrusted", "use_clock", "utcnow", "with_links", "zone_info",
]
