"""Playbooks: for each outcome class, the steps Lifeline takes; tenant overrides, plugin playbooks, caps.

A step names an action kind, who it is for and what it says. The defaults follow DESIGN.md;
a tenant replaces an outcome's playbook in `plugins.toml` with built-in step names, or picks a
plugin's playbook by `plugin:name`:

    [tenants.acme.policy.playbooks]
    missed_read_no_show = ["hr_decision"]          # no self-reschedule offer for acme
    missed_technical = "myplugin:fast_lane"

A plugin registers playbooks with `lifeline_register_policies(register)`:
`register("missed_technical", Playbook("fast_lane", (STEPS["new_link"], Step("page_oncall", ...))))`;
an installed plugin's playbook replaces the default of its outcome class unless the tenant says
otherwise. Caps apply to every playbook: at most `max_auto_reinvites` automatic re-invitations of
a candidate per interview, and a second miss on the same application goes to a person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from lifeline_hub.core.models import OutcomeClass

Audience = Literal["candidate", "hr", "interviewers", "platform"]


@dataclass(frozen=True)
class Step:
    """One action of a playbook. `name` is unique in its playbook and part of the idempotency key."""

    name: str
    kind: str
    to: Audience
    purpose: str
    """Which text is rendered (and the message purpose recorded)."""
    channel: Literal["preferred", "alternate"] = "preferred"
    """For a candidate: the preferred channel, or one not tried for this interview yet."""
    reinvite: bool = False
    """Counts against `max_auto_reinvites`."""
    delay_minutes: int = 0


@dataclass(frozen=True)
class Playbook:
    name: str
    steps: tuple[Step, ...]


STEPS: dict[str, Step] = {s.name: s for s in (
    Step("reissue_platform", "reissue_link", "platform", "reissue"),
    Step("new_link", "send_message", "candidate", "reissued_link", reinvite=True),
    Step("hr_fyi", "send_message", "hr", "hr_fyi"),
    Step("hr_decision", "create_task", "hr", "hr_decision"),
    Step("contact_fix", "create_task", "hr", "contact_fix"),
    Step("resend_other_channel", "send_message", "candidate", "resend", channel="alternate", reinvite=True),
    Step("reschedule_offer", "send_message", "candidate", "reschedule_offer", reinvite=True),
    Step("ask_hr_partial", "create_task", "hr", "partial"),
    Step("update_ats", "create_task", "hr", "update_ats"),
    Step("ask_interviewer", "send_message", "interviewers", "ask"),
    Step("ask_hr_unanswered", "create_task", "hr", "unanswered", delay_minutes=24 * 60),
    Step("second_miss", "create_task", "hr", "second_miss"),
)}
"""The built-in steps, by name (what `plugins.toml` playbooks list)."""


def _playbook(name: str, *steps: str) -> Playbook:
    return Playbook(name, tuple(STEPS[s] for s in steps))


NOTHING = Playbook("none", ())
DEFAULTS: dict[OutcomeClass, Playbook] = {
    OutcomeClass.attended_partial: _playbook("ask_hr", "ask_hr_partial"),
    OutcomeClass.missed_technical: _playbook("reissue_link", "reissue_platform", "new_link", "hr_fyi"),
    OutcomeClass.missed_declined: _playbook("reschedule_flow", "reschedule_offer", "update_ats"),
    OutcomeClass.missed_read_no_show: _playbook("hr_decision", "hr_decision", "reschedule_offer"),
    OutcomeClass.missed_not_reached: _playbook("fix_channel", "resend_other_channel", "contact_fix"),
    OutcomeClass.unknown: _playbook("ask_interviewer", "ask_interviewer", "ask_hr_unanswered"),
}
"""DESIGN.md's defaults; cancelled, rescheduled, pending and attended need no remediation (reminders
are re-planned by their own planner). `unknown` asks the interviewers at once and HR a day later: an
answer re-decides the interview first, which cancels HR's task while it is still waiting."""
SECOND_MISS = _playbook("second_miss", "second_miss")


class PolicyError(ValueError):
    """A playbook setting that cannot be used."""


def check_playbook(value: Sequence[str] | str) -> None:
    """Validate a `plugins.toml` playbook: built-in step names, or `plugin:name`."""
    if isinstance(value, str):
        plugin, sep, name = value.partition(":")
        if not (sep and plugin and name):
            raise PolicyError(f"{value!r}: a plugin playbook is named 'plugin:playbook'")
        return
    unknown = [s for s in value if s not in STEPS]
    if unknown:
        raise PolicyError(f"unknown step {unknown[0]!r} (built-in steps: {', '.join(STEPS)})")
    if len(set(value)) != len(value):
        raise PolicyError("a step is listed twice")


def _validate(found: Any, plugin: str) -> Playbook:
    if not isinstance(found, Playbook) or not all(isinstance(s, Step) for s in found.steps):
        raise PolicyError(f"plugin {plugin!r} registered {found!r}, not a Playbook of Steps")
    if len({s.name for s in found.steps}) != len(found.steps):
        raise PolicyError(f"plugin {plugin!r}: playbook {found.name!r} has two steps of one name")
    return found


def choose(outcome: OutcomeClass, overrides: Mapping[str, Sequence[str] | str],
           registered: Mapping[str, Sequence[tuple[str, Any]]]) -> Playbook:
    """The playbook for `outcome`: the tenant's override, else a plugin's, else the default."""
    override = overrides.get(outcome.value)
    plugin_books = registered.get(outcome.value, ())
    if isinstance(override, str):
        plugin, _, name = override.partition(":")
        for owner, found in plugin_books:
            if owner == plugin and getattr(found, "name", None) == name:
                return _validate(found, owner)
        raise PolicyError(f"no plugin playbook {override!r} is registered for {outcome.value}")
    if override is not None:
        check_playbook(override)
        return Playbook("tenant", tuple(STEPS[s] for s in override))
    if plugin_books:
        owner, found = plugin_books[0]
        return _validate(found, owner)
    return DEFAULTS.get(outcome, NOTHING)


def capped(playbook: Playbook, *, earlier_misses: int, reinvites_used: int, max_reinvites: int,
           is_miss: bool) -> Playbook:
    """Apply the caps: a second miss on the application goes to a person; re-invites are rationed."""
    if is_miss and earlier_misses > 0:
        return SECOND_MISS
    if reinvites_used + sum(s.reinvite for s in playbook.steps) <= max_reinvites:
        return playbook
    kept: list[Step] = []
    budget = max_reinvites - reinvites_used
    for step in playbook.steps:
        if step.reinvite:
            if budget <= 0:
                continue
            budget -= 1
        kept.append(step)
    if not any(s.to == "hr" and s.kind == "create_task" for s in kept):
        kept.append(STEPS["hr_decision"])
    return replace(playbook, name=f"{playbook.name}+capped", steps=tuple(kept))
