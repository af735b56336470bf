"""Where a step goes: the connector instance that performs it, the action kind and who receives it.

HR is reached on `policy.hr_connector` (their platform ids); interviewers on the platform the interview
came from (their ids are that platform's), else through HR. The candidate is
reached on the first of their reachable contact points (in their ranking; a contact change may say one
is gone) whose channel the tenant has a connector for (`Config.channel_instance`, the rule the reminders
use too), with the kind that connector performs: `send_email` and `send_sms` take the candidate id and
resolve the address through the store, never the payload; `send_message` (an IM account) takes the
account id. A platform step goes to the connector the
interview came from, when it can do that action.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from lifeline_hub.core.config import Config
from lifeline_hub.core.models import Channel
from lifeline_hub.core.remediation.case import CandidateView, Case
from lifeline_hub.core.remediation.policies import Step
from lifeline_hub.core.remediation.trail import summarise

CANDIDATE_KINDS = ("send_email", "send_sms", "send_message")
"""The message actions a candidate channel's connector may perform, preferred first."""
FREE_TEXT = ("send_email", "send_message")
"""Those that carry any text (an SMS only says what an approved template says)."""


@dataclass(frozen=True)
class Route:
    connector: str
    kind: str
    recipients: tuple[str, ...]
    channel: Channel | None = None


class Unroutable(LookupError):
    """The step cannot be sent anywhere with this configuration (the reason says why)."""


def instance(tenant: str, key: str) -> str:
    return f"{tenant}.{key}"


def _declared(config: Config, name: str, kind: str) -> None:
    setup = config.setups.get(name)
    if setup is None:
        raise Unroutable(f"connector {name!r} is not configured")
    if kind not in setup.connector_class.actions:
        raise Unroutable(f"connector {name!r} ({setup.connector_class.name}) cannot {kind}")


def hr_people(config: Config, tenant: str, kind: str) -> list[str]:
    """HR's ids for `kind`: message recipients may be other ids than task assignees (DingTalk)."""
    policy = config.tenant(tenant).policy
    return (policy.hr_recipients or policy.hr_assignees) if kind == "send_message" else policy.hr_assignees


def staff(config: Config, tenant: str, kind: str, people: list[str] | tuple[str, ...]) -> Route:
    """A route to staff on the tenant's HR connector."""
    policy = config.tenant(tenant).policy
    if not policy.hr_connector:
        raise Unroutable("policy.hr_connector is not set")
    if not people:
        raise Unroutable("policy.hr_assignees (or hr_recipients) is empty")
    name = instance(tenant, policy.hr_connector)
    _declared(config, name, kind)
    return Route(name, kind, tuple(people))


def interviewers(config: Config, case: Case, kind: str) -> Route:
    """The interview's interviewers on the platform their ids come from (the interview's source, when it
    messages staff: the rule the interviewers' reminders follow), else on the HR connector when that is the same
    platform; otherwise HR in their place (another platform's ids would reach nobody there)."""
    tenant, interview = case.tenant, case.interview
    ids = interview.interviewer_ids
    own = config.setups.get(interview.source)
    if ids and own is not None and own in config.staff_instances(tenant) and kind in own.connector_class.actions:
        return Route(own.instance.name, kind, tuple(ids))
    hr = config.setups.get(instance(tenant, config.tenant(tenant).policy.hr_connector or ""))
    same_platform = own is None or (hr is not None and hr.connector_class is own.connector_class)
    return staff(config, tenant, kind, ids if ids and same_platform else hr_people(config, tenant, kind))


def candidate_route(config: Config, tenant: str, candidate: CandidateView, avoid: Collection[Channel] = (),
                    kinds: tuple[str, ...] = CANDIDATE_KINDS) -> Route | None:
    """The candidate's first reachable contact (skipping channels in `avoid`, those that cannot carry the
    message's links and contacts a vendor said are gone) by one of `kinds`, or None."""
    for contact in candidate.contacts:
        if contact.channel in avoid or not contact.channel.info.click_known or not contact.reachable:
            continue
        setup = config.channel_instance(tenant, contact.channel.value)
        if setup is None:
            continue
        kind = next((k for k in kinds if k in setup.connector_class.actions), None)
        if kind is not None:
            who = contact.masked if kind == "send_message" else candidate.id
            return Route(setup.instance.name, kind, (who,), contact.channel)
    return None


def route(config: Config, case: Case, step: Step) -> Route:
    """Where `step` of `case` goes; raises `Unroutable` with the reason."""
    tenant = case.tenant
    if step.to == "hr":
        return staff(config, tenant, step.kind, hr_people(config, tenant, step.kind))
    if step.to == "interviewers":
        return interviewers(config, case, step.kind)
    if step.to == "platform":
        _declared(config, case.interview.source, step.kind)
        return Route(case.interview.source, step.kind, ())
    if case.candidate is None:
        raise Unroutable("the interview has no candidate in the store")
    avoid = summarise(case.evidence).channels_tried() if step.channel == "alternate" else ()
    found = candidate_route(config, tenant, case.candidate, avoid)
    if found is None:
        which = "another channel" if avoid else "a channel"
        raise Unroutable(f"no connector for {which} of the candidate (policy.candidate_connectors)")
    return found
