"""Links in remediation texts: the candidate's reschedule page, and HR's one-click next steps.

The candidate's link is a `link_tokens` token of purpose `reschedule` (one per candidate per
interview version, like the join link). HR links are signed, not stored: `/hr/<data>.<mac>`
names the action, the interview, its version and when the link expires, with an HMAC under the
deployment's key (`LIFELINE_HASH_KEY`, which the commands and DAG tasks refuse to run real tenants
without); they open a confirmation page whose button does the action, so a link scanner does
nothing. A forged, altered or expired link reads as None: it is refused, never performed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

import sqlalchemy as sa

from lifeline_hub.core.links import LinkPurpose, issue_token, public_base_url
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.models.contact import hash_key
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import link_tokens

HrAction = Literal["attended", "reissue", "offer"]
HR_ACTIONS: tuple[HrAction, ...] = ("attended", "reissue", "offer")
RESCHEDULE_TTL = timedelta(days=14)
HR_LINK_GRACE = timedelta(days=7)
"""How long HR's links keep working after their task is due."""


@dataclass(frozen=True)
class HrLink:
    action: HrAction
    tenant: str
    interview_id: str
    sequence: int


def _mac(data: str) -> str:
    digest = hmac.new(hash_key(), f"hr-link:{data}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def hr_link(link: HrLink, base_url: str | None = None, due_at: datetime | None = None) -> str:
    """The signed URL of `link`; it works until `HR_LINK_GRACE` after `due_at` (its task's due time, default now)."""
    expires = int(((due_at or utcnow()) + HR_LINK_GRACE).timestamp())
    raw = json.dumps([link.action, link.tenant, link.interview_id, link.sequence, expires], separators=(",", ":"))
    data = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    return f"{(base_url or public_base_url()).rstrip('/')}/hr/{data}.{_mac(data)}"


def read_hr_link(signed: str, now: datetime | None = None) -> HrLink | None:
    """The link behind `signed`, or None when it was not made here, was altered or has expired (by `now`)."""
    data, _, mac = signed.partition(".")
    if not hmac.compare_digest(mac.encode(), _mac(data).encode()):
        return None
    try:
        action, tenant, interview_id, sequence, expires = json.loads(
            base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        link = HrLink(cast(HrAction, action), str(tenant), str(interview_id), int(sequence))
        live = (now or utcnow()).timestamp() < int(expires)
    except (ValueError, TypeError):
        return None
    return link if live and link.action in HR_ACTIONS else None


def reschedule_link(store: Store, interview_id: str, now: datetime, base_url: str | None = None) -> str:
    """The candidate's reschedule page for the interview's current version (`/r/<token>`).

    Offers go out after a miss, so the token lives `RESCHEDULE_TTL` from now rather than ending
    with the interview window like a join token.
    """
    token = issue_token(store, interview_id, purpose=LinkPurpose.reschedule, now=now)
    until = now + RESCHEDULE_TTL
    with store.begin() as conn:
        conn.execute(sa.update(link_tokens).where(
            link_tokens.c.token == token.token,
            sa.or_(link_tokens.c.expires_at.is_(None), link_tokens.c.expires_at < until),
        ).values(expires_at=until))
    return f"{(base_url or public_base_url()).rstrip('/')}/r/{token.token}"
