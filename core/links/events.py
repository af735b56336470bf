"""LinkEvents from requests to Lifeline's links: who (UA family, hashed IP prefix), when, human or not.

Events are stored under the source `<tenant>.links` (see `links_source`), kind `link_event`, tied
to the token's interview. The IP is never stored: only a keyed hash of its /24 (IPv4) or /48
(IPv6) prefix, so clicks from one network can be told apart from a scanner's without keeping
personal data. The token is never stored either: event ids carry its fingerprint.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from lifeline_hub.core.links.scanners import BURST, classify_agent, machine_reason
from lifeline_hub.core.links.tokens import LinkToken
from lifeline_hub.core.models import (
    Audience,
    DeliveryEvent,
    DeliveryType,
    LinkEvent,
    LinkEventType,
    Notification,
    to_epoch_millis,
)
from lifeline_hub.core.models.contact import hash_key
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import evidence

FOLLOW_UP_WINDOW = timedelta(minutes=30)
"""A join this soon after a burst-flagged open from the same client shows that open was a person."""
DELIVERY_SKEW = timedelta(seconds=5)
"""Delivery reports may be stamped a little after the click they caused."""


@dataclass(frozen=True)
class Visit:
    """One request to a link, as the receiver saw it (headers lower-cased)."""

    method: str
    headers: Mapping[str, str]
    ip: str | None
    at: datetime

    @property
    def user_agent(self) -> str | None:
        return self.headers.get("user-agent")


def links_source(tenant: str) -> str:
    """The `source` of the LinkEvents Lifeline's own links record for `tenant` (pushed, real time)."""
    return f"{tenant}.links"


def ip_prefix_hash(ip: str | None) -> str | None:
    """Keyed hash (HMAC-SHA256, `LIFELINE_HASH_KEY`) of the /24 or /48 network of an address."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return hmac.new(hash_key(), f"ip:{network}".encode(), hashlib.sha256).hexdigest()[:32]


def record_visit(store: Store, link: LinkToken, kind: LinkEventType, visit: Visit,
                 code: str | None = None) -> LinkEvent:
    """Judge and store one LinkEvent; a join also clears burst flags on this client's earlier opens."""
    family, _ = classify_agent(visit.user_agent)
    ip_hash = ip_prefix_hash(visit.ip)
    with store.begin() as conn:
        reason = machine_reason(visit.method, visit.headers, visit.user_agent,
                                _last_delivery(conn, link.interview_id, visit.at), visit.at)
        if kind is not LinkEventType.open and reason == BURST:
            reason = None  # pressing Join is the follow-up a scanner never makes
        event = LinkEvent(
            source=links_source(link.tenant),
            remote_id=f"{link.fingerprint}-{to_epoch_millis(visit.at)}-{secrets.token_hex(3)}",
            interview_id=link.interview_id, occurred_at=visit.at, type=kind, machine_made=reason is not None,
            machine_reason=reason, code=code, ua_family=family, ip_hash=ip_hash,
        )
        cleared = _cleared_opens(conn, link, event) if kind is LinkEventType.join_attempt and not reason else []
        store.write(link.tenant, [event, *cleared], conn)
    return event


def _last_delivery(conn: sa.Connection, interview_id: str, at: datetime) -> datetime | None:
    """The latest message sent or delivered to the candidate for this interview, up to `at`.

    Only audience `candidate` counts: a notification to the candidate or a receipt of one (a receipt
    carries its notification's audience; while that notification is unknown, it counts for nothing,
    as in reconcile). Staff's messages - HR tasks, interviewers' reminders - and their receipts never
    make a candidate's click look like a scanner. Reads only columns of `ix_evidence_reconcile`.
    """
    e = evidence
    sent = e.c.kind == Notification.record_type
    delivered = sa.and_(e.c.kind == DeliveryEvent.record_type, e.c.type == DeliveryType.delivered.value)
    query = sa.select(sa.func.max(e.c.occurred_at)).where(
        e.c.interview_id == interview_id, sa.or_(sent, delivered), e.c.audience == Audience.candidate.value,
        e.c.occurred_at <= at + DELIVERY_SKEW,
    )
    value: datetime | None = conn.execute(query).scalar()
    return value


def _cleared_opens(conn: sa.Connection, link: LinkToken, join: LinkEvent) -> list[LinkEvent]:
    """This client's burst-flagged opens of the same token shortly before `join`, now marked human."""
    e = evidence
    rows = conn.execute(sa.select(e.c.data).where(
        e.c.source == join.source, e.c.kind == LinkEvent.record_type, e.c.interview_id == link.interview_id,
        e.c.type == LinkEventType.open.value, e.c.human.is_(False),
        e.c.occurred_at >= join.occurred_at - FOLLOW_UP_WINDOW,
    ))
    opens = [LinkEvent.model_validate(data) for (data,) in rows]
    return [
        o.model_copy(update={"machine_made": False, "machine_reason": None})
        for o in opens
        if o.machine_reason == BURST and o.remote_id.startswith(f"{link.fingerprint}-")
        and o.ip_hash == join.ip_hash and o.ua_family == join.ua_family
    ]
