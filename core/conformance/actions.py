"""Action cases, per declared action: exactly one vendor effect per idempotency key (repeated, or retried
after a lost response), and typed errors for the vendor's refusals and failures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from lifeline_hub.core.conformance.cases import case
from lifeline_hub.core.conformance.rig import Rig
from lifeline_hub.core.connector import Connector
from lifeline_hub.core.emulator import FaultKind
from lifeline_hub.core.http import PermissionDenied, RateLimited, TokenExpired, TransientError, VendorError

FAULT_ERRORS: Mapping[FaultKind, type[VendorError]] = {
    "rate_limit": RateLimited,
    "server_error": TransientError,
    "expire_token": TokenExpired,
    "timeout": TransientError,
}
"""Emulator fault knob -> the typed error an action must raise when every call suffers it (429, 5xx, 401 and a
read timeout): dispatch retries what is retryable and parks the rest, so a bare exception is a bug."""


def action_kinds(suite: Any) -> list[str]:
    return list(suite.connector.actions)


def action_faults(suite: Any) -> list[tuple[str, str]]:
    return [(kind, fault) for kind in suite.connector.actions for fault in suite.fault_errors]


def denies(suite: Any) -> bool:
    """Whether the suite can make the emulator refuse for a missing permission (overrides `deny_permission`)."""
    return bool(suite.deny_permission is not ActionCases.deny_permission)


class ActionCases:
    connector: ClassVar[type[Connector]]
    fault_errors: ClassVar[Mapping[FaultKind, type[VendorError]]]
    stall_seconds: ClassVar[float]

    def action_payload(self, kind: str, rig: Rig) -> Mapping[str, Any]:
        """A payload (the `core.actions` model of `kind`, as JSON) the emulator accepts; seed `rig.world` with
        whatever it needs (users, a calendar...). Called once per action performed, so it may differ each time."""
        raise NotImplementedError(f"{type(self).__name__}: action_payload must give a payload for {kind!r}")

    def vendor_effects(self, kind: str, rig: Rig) -> int:
        """How many vendor objects (messages, tasks, events...) actions of `kind` have made so far, counted in
        the emulator's world, not in Lifeline's tables."""
        raise NotImplementedError(f"{type(self).__name__}: vendor_effects must count {kind!r} in the world")

    def deny_permission(self, rig: Rig) -> None:
        """Make the emulator refuse the app's calls for a missing permission or scope (a 403); overriding it
        generates the permission cases."""
        raise NotImplementedError

    @case(param="action", values=action_kinds)
    def action_performed_twice_with_one_key_is_one_effect(self, rig: Rig, action: str) -> None:
        """The same outbox row performed again (a second worker, `maybe_sent`) makes no second vendor object;
        both performs answer a remote id (the second may be the idempotency key when the vendor's look-up does
        not return the vendor's own id)."""
        before = self.vendor_effects(action, rig)
        row = rig.action(action, self.action_payload(action, rig))
        first = rig.perform(row)
        second = rig.perform(rig.again(row), rig.connector())
        assert self.vendor_effects(action, rig) - before == 1
        assert first.remote_id and second.remote_id

    @case(param="action", values=action_kinds)
    def action_retried_after_a_lost_response_is_one_effect(self, rig: Rig, action: str) -> None:
        """Every call after `check()` stalls past the client's read timeout (fault `timeout`, `stall_seconds`;
        the emulator acts, then stalls: the answer is lost): the action
        raises a `VendorError` (never another exception); performed again once the vendor answers, the row
        makes exactly one vendor object in all. The sample settings must set the connector's read timeout
        below `stall_seconds`."""
        before = self.vendor_effects(action, rig)
        row = rig.action(action, self.action_payload(action, rig))
        connector = rig.connector()
        connector.check()  # credentials and tokens in hand: what stalls is the action's own call
        rig.faults(timeout=1.0, timeout_seconds=self.stall_seconds)
        with pytest.raises(VendorError):
            rig.perform(row, connector)
        rig.faults()
        result = rig.perform(rig.again(row), rig.connector())
        assert result.remote_id
        assert self.vendor_effects(action, rig) - before == 1

    @case(param="action_fault", values=action_faults, ids=lambda value: "-".join(value))
    def action_failure_raises_a_typed_error(self, rig: Rig, action_fault: tuple[str, FaultKind]) -> None:
        """With every vendor call failing one way (fault knob at 1.0: rate limit, 5xx, expired token, timeout),
        the action raises the typed error `fault_errors` names for it, after the toolkit's retries (on the
        fake clock: no real waiting), and makes no vendor object."""
        action, fault = action_fault
        before = self.vendor_effects(action, rig)
        payload = self.action_payload(action, rig)
        knobs: dict[str, Any] = {fault: 1.0}
        if fault == "timeout":
            knobs["timeout_seconds"] = self.stall_seconds
        rig.faults(**knobs)
        with pytest.raises(self.fault_errors[fault]):
            rig.perform(rig.action(action, payload))
        rig.faults()
        if fault != "timeout":  # a stalled call may have been acted on: the lost-response case covers it
            assert self.vendor_effects(action, rig) == before

    @case(param="action", values=action_kinds, applies=lambda suite: denies(suite))
    def action_without_permission_raises_permission_denied(self, rig: Rig, action: str) -> None:
        """When the app lacks a permission (`deny_permission`), the action raises `PermissionDenied` (never
        retried: an admin must grant it) and makes no vendor object."""
        before = self.vendor_effects(action, rig)
        payload = self.action_payload(action, rig)
        self.deny_permission(rig)
        with pytest.raises(PermissionDenied):
            rig.perform(rig.action(action, payload))
        assert self.vendor_effects(action, rig) == before
