"""Link tokens: one unguessable token per candidate, interview version and purpose.

`join_link(store, interview_id)` is what reminders and remediation call: it returns the live link
for the interview's current version (issuing it on first use) and, with `reissue=True`, a fresh
one that replaces every earlier token of the appointment thread. A token whose interview moved on
to a newer version (a reschedule, a re-issued platform link) counts as rotated even before the
new one is issued; a token past the interview window (plus `EXPIRY_GRACE`) counts as expired.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, StrEnum

import sqlalchemy as sa

from lifeline_hub.core.models import Interview, InterviewStatus, utcnow
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import candidates, interviews, link_tokens

PUBLIC_URL_ENV = "LIFELINE_PUBLIC_URL"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"
EXPIRY_GRACE = timedelta(minutes=30)
"""How long after the interview window a join link still opens the interstitial."""
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a token can look like (`secrets.token_urlsafe`); anything else is not looked up."""


class LinkPurpose(Enum):
    """What a token opens (a plain Enum: a `str` mix-in would clash with `str.join`)."""

    join = "join"
    confirm = "confirm"
    reschedule = "reschedule"


class LinkStatus(StrEnum):
    live = "live"
    rotated = "rotated"
    """Replaced by a newer link, or the interview changed version (a new link is or will be sent)."""
    expired = "expired"
    cancelled = "cancelled"


@dataclass(frozen=True)
class LinkToken:
    """A row of `link_tokens`; `repr` never shows the token itself."""

    token: str = field(repr=False)
    tenant: str
    interview_id: str
    candidate_id: str | None
    purpose: LinkPurpose
    sequence: int
    created_at: datetime
    expires_at: datetime | None
    rotated_at: datetime | None = None
    replaced_by: str | None = field(default=None, repr=False)

    @property
    def fingerprint(self) -> str:
        """A short, non-secret name for the token (event ids, logs)."""
        return hashlib.sha256(self.token.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ResolvedLink:
    """A token with its interview as stored now, what the link may do, and the candidate's preferences."""

    link: LinkToken
    interview: Interview
    status: LinkStatus
    candidate_locale: str | None = None
    candidate_timezone: str | None = None


def public_base_url() -> str:
    """Where `lifeline serve` is reachable for candidates (`LIFELINE_PUBLIC_URL`)."""
    url = os.environ.get(PUBLIC_URL_ENV) or DEFAULT_PUBLIC_URL
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"{PUBLIC_URL_ENV} must be an http(s) URL")
    return url.rstrip("/")


def join_link(store: Store, interview_id: str, *, reissue: bool = False, candidate_id: str | None = None,
              base_url: str | None = None, now: datetime | None = None) -> str:
    """The candidate's join link (`<public url>/j/<token>`) for the interview's current version.

    `reissue=True` rotates: a new token, every earlier one of the thread marked replaced by it.
    Raises LookupError when the interview is not in the store.
    """
    link = issue_token(store, interview_id, purpose=LinkPurpose.join, candidate_id=candidate_id,
                       reissue=reissue, now=now)
    return f"{(base_url or public_base_url()).rstrip('/')}/j/{link.token}"


def issue_token(store: Store, interview_id: str, *, purpose: LinkPurpose = LinkPurpose.join,
                candidate_id: str | None = None, reissue: bool = False, now: datetime | None = None) -> LinkToken:
    """The live token for (candidate, interview version, purpose), creating and rotating as needed."""
    now = now or utcnow()
    t = link_tokens
    with store.begin() as conn:
        row = conn.execute(sa.select(interviews).where(interviews.c.id == interview_id).with_for_update()).first()
        if row is None:
            raise LookupError(f"interview {interview_id!r} is not in the store")
        candidate = candidate_id or row.candidate_id
        thread = sa.select(interviews.c.id).where(interviews.c.thread_id == row.thread_id)
        owner = t.c.candidate_id.is_(None) if candidate is None else t.c.candidate_id == candidate
        live = [_token(r) for r in conn.execute(
            sa.select(t).where(t.c.interview_id.in_(thread), t.c.purpose == purpose.value, owner,
                               t.c.rotated_at.is_(None)).order_by(t.c.created_at.desc())
        )]
        current = next((k for k in live if k.interview_id == interview_id and k.sequence == row.sequence), None)
        if current is not None and not reissue:
            return current
        new = LinkToken(
            token=secrets.token_urlsafe(24), tenant=row.tenant, interview_id=interview_id, candidate_id=candidate,
            purpose=purpose, sequence=row.sequence, created_at=now, expires_at=row.end_at + EXPIRY_GRACE,
        )
        conn.execute(sa.insert(t).values(
            token=new.token, tenant=new.tenant, interview_id=new.interview_id, candidate_id=new.candidate_id,
            purpose=new.purpose.value, sequence=new.sequence, created_at=now, expires_at=new.expires_at,
        ))
        if live:
            conn.execute(sa.update(t).where(t.c.token.in_([k.token for k in live]))
                         .values(rotated_at=now, replaced_by=new.token))
        return new


def resolve(store: Store, token: str, now: datetime | None = None) -> ResolvedLink | None:
    """The token with its interview and status; None for an unknown token or a vanished interview."""
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    now = now or utcnow()
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(link_tokens).where(link_tokens.c.token == token)).first()
        if row is None:
            return None
        link = _token(row)
        data = conn.execute(sa.select(interviews.c.data).where(interviews.c.id == link.interview_id)).scalar()
        if data is None:
            return None
        interview = Interview.model_validate(data)
        who = link.candidate_id or interview.candidate_id
        prefs = conn.execute(sa.select(candidates.c.locale, candidates.c.timezone)
                             .where(candidates.c.id == who)).first() if who else None
    return ResolvedLink(link, interview, _status(link, interview, now), *(prefs or (None, None)))


def _status(link: LinkToken, interview: Interview, now: datetime) -> LinkStatus:
    if link.rotated_at is not None or interview.thread.sequence > link.sequence:
        return LinkStatus.rotated
    if interview.status is InterviewStatus.rescheduled:
        return LinkStatus.rotated
    if interview.status is InterviewStatus.cancelled:
        return LinkStatus.cancelled
    expires = interview.end_at + EXPIRY_GRACE
    if link.expires_at is not None and link.purpose is not LinkPurpose.join:
        expires = link.expires_at
    return LinkStatus.expired if now > expires else LinkStatus.live


def _token(row: sa.Row[tuple[object, ...]]) -> LinkToken:
    return LinkToken(
        token=row.token, tenant=row.tenant, interview_id=row.interview_id, candidate_id=row.candidate_id,
        purpose=LinkPurpose(row.purpose), sequence=row.sequence, created_at=row.created_at,
        expires_at=row.expires_at, rotated_at=row.rotated_at, replaced_by=row.replaced_by,
    )
