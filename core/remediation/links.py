"""Links in remediation texts: the candidate's reschedule page, HR's one-click next steps, interviewers' answers.

The candidate's link is a `link_tokens` token of purpose `reschedule` (one per candidate per
interview version, like the join link). HR links are signed, not stored: `/hr/<data>.<mac>`
names the action, the interview, its version and when the link expires, with an HMAC under the
deployment's key (`LIFELINE_HASH_KEY`, which the commands and DAG tasks refuse to run real tenants
without); they open a confirmation page whose button does the action, so a link scanner does
nothing. A forged, altered or expired link reads as None: it is refused, never performed.

An interviewer's answer to "Did <candidate> attend?" is signed the same way, under its own MAC domain,
one per answer and per interviewer (`/ask/<data>.<mac>`, the subject is the interviewer's staff id): the
same signed value rides in a card button where the platform calls back (Feishu's card action).
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
from lifeline_hub.core.models import AttendanceVerdict, utcnow
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


@dataclass(frozen=True)
class AnswerLink:
    """One answer of one interviewer (`interviewer`, their staff id on `via`, the connector instance that asked
    them) about one version of an interview."""

    verdict: AttendanceVerdict
    tenant: str
    interview_id: str
    sequence: int
    interviewer: str
    via: str


Domain = Literal["hr-link", "ask-link"]
ANSWER_PATH = "/ask/"


def _mac(data: str, domain: Domain = "hr-link") -> str:
    digest = hmac.new(hash_key(), f"{domain}:{data}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def _sign(fields: list[object], domain: Domain, due_at: datetime | None) -> str:
    expires = int(((due_at or utcnow()) + HR_LINK_GRACE).timestamp())
    raw = json.dumps([*fields, expires], separators=(",", ":"), ensure_ascii=False)
    data = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    return f"{data}.{_mac(data, domain)}"


def _open(signed: str, domain: Domain, now: datetime | None) -> list[object] | None:
    """The signed fields (expiry removed), or None when forged, altered, malformed or expired."""
    data, _, mac = signed.partition(".")
    if not hmac.compare_digest(mac.encode(), _mac(data, domain).encode()):
        return None
    try:
        fields = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        if not isinstance(fields, list) or not fields:
            return None
        live = (now or utcnow()).timestamp() < int(fields[-1])
    except (ValueError, TypeError):
        return None
    return list(fields[:-1]) if live else None


def hr_link(link: HrLink, base_url: str | None = None, due_at: datetime | None = None) -> str:
    """The signed URL of `link`; it works until `HR_LINK_GRACE` after `due_at` (its task's due time, default now)."""
    signed = _sign([link.action, link.tenant, link.interview_id, link.sequence], "hr-link", due_at)
    return f"{(base_url or public_base_url()).rstrip('/')}/hr/{signed}"


def read_hr_link(signed: str, now: datetime | None = None) -> HrLink | None:
    """The link behind `signed`, or None when it was not made here, was altered or has expired (by `now`)."""
    fields = _open(signed, "hr-link", now) or []
    try:
        action, tenant, interview_id, sequence = fields
        link = HrLink(cast(HrAction, action), str(tenant), str(interview_id), int(cast(int, sequence)))
    except (ValueError, TypeError):
        return None
    return link if link.action in HR_ACTIONS else None


def answer_token(link: AnswerLink, due_at: datetime | None = None) -> str:
    """The signed value of `link` (what a card button carries); it works until `HR_LINK_GRACE` after `due_at`."""
    return _sign([link.verdict.value, link.tenant, link.interview_id, link.sequence, link.interviewer, link.via],
                 "ask-link", due_at)


def answer_url(token: str, base_url: str | None = None) -> str:
    return f"{(base_url or public_base_url()).rstrip('/')}{ANSWER_PATH}{token}"


def read_answer(token: str, now: datetime | None = None) -> AnswerLink | None:
    """The answer behind a signed `token` (a link's last path part or a card button's value), or None."""
    fields = _open(token, "ask-link", now) or []
    try:
        verdict, tenant, interview_id, sequence, interviewer, via = fields
        link = AnswerLink(AttendanceVerdict(str(verdict)), str(tenant), str(interview_id), int(cast(int, sequence)),
                          str(interviewer), str(via))
    except (ValueError, TypeError):
        return None
    return link if link.interviewer and link.via else None


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
