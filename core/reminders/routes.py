"""Who gets a reminder where: the candidate's channels in order, and the interviewers' work chat.

A candidate channel counts when the candidate has a reachable contact point on it (no contact change
said the vendor cannot deliver there) and the tenant has a connector instance for it
(`Config.channel_instance`: `policy.candidate_connectors` names one, else the first that sends on the
channel); the order is the candidate's own preference, then `policy.reminder_channels`. Reminders go on
channels with a `candidate_action` (SMS, e-mail, an IM account by `send_message`: WeCom, WeChat, a
plugin's). An SMS instance without an approved template for the purpose cannot say it and is passed
over. Interviewers are reached on the staff platform (`Connector.staff_messenger`: DingTalk, Feishu,
WeCom, a plugin's) the interview came from, else the tenant's `hr_connector`, else the first one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from lifeline_hub.core.config import Config, ConnectorSetup
from lifeline_hub.core.models import Channel, Interview, NotificationPurpose, known_channel, send_actions
from lifeline_hub.core.store.schema import candidates, contact_points


@dataclass(frozen=True)
class Person:
    """The candidate as the planner needs them: no raw contact values, just the channels they have."""

    id: str
    name: str
    locale: str
    timezone: str
    preferred: tuple[Channel, ...]
    reachable: frozenset[Channel]
    """The channels of their reachable contact points."""
    accounts: Mapping[Channel, str] = field(default_factory=dict)
    """IM channel -> the account id of their first reachable contact point there (not personal data)."""


@dataclass(frozen=True)
class Route:
    channel: Channel
    setup: ConnectorSetup
    kind: str
    account: str | None = None
    """`send_message`: the candidate's account id on the channel."""


def load_person(conn: sa.Connection, candidate_id: str | None) -> Person | None:
    row = conn.execute(sa.select(candidates).where(candidates.c.id == candidate_id)).first() if candidate_id else None
    if row is None:
        return None
    cp = contact_points
    accounts: dict[Channel, str] = {}
    for name, masked in conn.execute(sa.select(cp.c.channel, cp.c.masked).where(
            cp.c.candidate_id == row.id, cp.c.reachable).order_by(cp.c.rank)):
        channel = known_channel(name)  # a channel of a plugin not loaded: not usable
        if channel is not None:
            accounts.setdefault(channel, masked)  # an account id is shown as is: its mask is the id
    preferred = tuple(c for c in map(known_channel, (row.data or {}).get("preferred_channels", ())) if c is not None)
    ims = {c: a for c, a in accounts.items() if c.info.address == "account"}
    return Person(row.id, row.name, row.locale, row.timezone, preferred, frozenset(accounts), ims)


def _can_say(setup: ConnectorSetup, purpose: NotificationPurpose) -> bool:
    templates = getattr(setup.settings, "templates", None)
    return not isinstance(templates, dict) or purpose in templates


def candidate_routes(config: Config, tenant: str, person: Person, purpose: NotificationPurpose) -> list[Route]:
    """The candidate's usable channels for `purpose`, in order."""
    policy = config.tenant(tenant).policy
    order = dict.fromkeys([*person.preferred, *(Channel(c) for c in policy.reminder_channels)])
    routes = []
    for channel in order:
        kind = send_actions().get(channel.value)
        if kind is None or channel not in person.reachable or not channel.info.click_known:  # reminders carry links
            continue
        setup = config.channel_instance(tenant, channel.value)
        account = person.accounts.get(channel)
        if kind == "send_message" and account is None:  # an IM message goes to an account id, nothing else
            continue
        if setup is not None and kind in setup.connector_class.actions and _can_say(setup, purpose):
            routes.append(Route(channel, setup, kind, account))
    return routes


def staff_route(config: Config, tenant: str, interview: Interview) -> ConnectorSetup | None:
    """The work-chat instance for the interview's interviewers, or None when there is none or nobody to tell."""
    if not interview.interviewer_ids:
        return None
    usable = {s.instance.name: s for s in config.staff_instances(tenant)}
    hr = config.tenant(tenant).policy.hr_connector
    return usable.get(interview.source) or usable.get(f"{tenant}.{hr}") or next(iter(usable.values()), None)
