"""A remediation case: one decision about one interview, with what is needed to act on it.

Loaded from the store in one go: the outcome, the interview, the candidate as it may be shown
(name, locale, masked contacts and their look-up hashes, never the raw values), the evidence
trail of the interview, and the history that caps depend on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lifeline_hub.core.models import (
    RECORD_TYPES,
    Channel,
    Evidence,
    Interview,
    Outcome,
    OutcomeClass,
    known_channel,
)
from lifeline_hub.core.store.schema import candidates, contact_points, evidence, interviews, outcomes, remediation_cases


@dataclass(frozen=True)
class Contact:
    """A way to reach the candidate, safe to show: the channel, the mask and the look-up hash."""

    channel: Channel
    masked: str
    lookup: str
    reachable: bool = True
    """False when a vendor said it no longer reaches them (a contact change): nothing is sent there, people
    may still check it."""


@dataclass(frozen=True)
class CandidateView:
    id: str
    name: str
    locale: str
    timezone: str
    contacts: tuple[Contact, ...]

    def contact(self, channel: Channel) -> Contact | None:
        return next((c for c in self.contacts if c.channel is channel), None)

    @property
    def phone(self) -> str | None:
        """The masked phone number (of the first channel whose address is one), for people to check it."""
        found = next((c for c in self.contacts if c.channel.info.address == "phone"), None)
        return found.masked if found else None


@dataclass(frozen=True)
class PriorCase:
    outcome_version: int
    outcome: OutcomeClass
    origin_version: int
    sequence: int
    playbook: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    tenant: str
    outcome: Outcome
    interview: Interview
    candidate: CandidateView | None
    evidence: tuple[Evidence, ...]
    prior: PriorCase | None

    @property
    def sequence(self) -> int:
        return self.interview.thread.sequence

    @property
    def same_decision_as_prior(self) -> bool:
        """A new version of the same decision (late evidence that changed nothing that matters)."""
        return (self.prior is not None and self.prior.outcome is self.outcome.outcome
                and self.prior.sequence == self.sequence)

    @property
    def origin_version(self) -> int:
        """The outcome version the actions of this decision are keyed by."""
        return self.prior.origin_version if self.prior and self.same_decision_as_prior else self.outcome.version


def outcome_of(row: Any) -> Outcome:
    return Outcome(
        interview_id=row.interview_id, version=row.version, outcome=OutcomeClass(row.outcome),
        sub_reason=row.sub_reason, confidence=row.confidence, evidence_ids=tuple(row.evidence_ids or ()),
        rule_version=row.rule_version, decided_at=row.decided_at,
    )


def unplanned_outcomes(conn: sa.Connection, tenant: str, limit: int) -> list[Outcome]:
    """Current outcomes of the tenant's interviews that no case was opened for yet, oldest first."""
    planned = sa.exists().where(remediation_cases.c.interview_id == outcomes.c.interview_id,
                                remediation_cases.c.outcome_version == outcomes.c.version)
    query = (sa.select(outcomes).join(interviews, interviews.c.id == outcomes.c.interview_id)
             .where(interviews.c.tenant == tenant, outcomes.c.superseded_at.is_(None), ~planned)
             .order_by(outcomes.c.id).limit(limit))
    return [outcome_of(r) for r in conn.execute(query)]


def load_interview(conn: sa.Connection, interview_id: str) -> Interview | None:
    data = conn.execute(sa.select(interviews.c.data).where(interviews.c.id == interview_id)).scalar()
    return None if data is None else Interview.model_validate(data)


def load_candidate(conn: sa.Connection, candidate_id: str | None) -> CandidateView | None:
    if candidate_id is None:
        return None
    row = conn.execute(sa.select(candidates).where(candidates.c.id == candidate_id)).first()
    if row is None:
        return None
    cp = contact_points
    rows = conn.execute(sa.select(cp.c.channel, cp.c.masked, cp.c.lookup, cp.c.reachable)
                        .where(cp.c.candidate_id == candidate_id).order_by(cp.c.rank))
    # a contact on the channel of a plugin not loaded is left out: nothing here could send on it
    contacts = tuple(Contact(channel, r.masked, r.lookup, r.reachable) for r in rows
                     if (channel := known_channel(r.channel)))
    return CandidateView(row.id, row.name, row.locale, row.timezone, contacts)


def load_evidence(conn: sa.Connection, interview_id: str) -> tuple[Evidence, ...]:
    """The interview's evidence trail in time order, receipts of its notifications included."""
    sent = sa.select(evidence.c.source, evidence.c.remote_id).where(
        evidence.c.interview_id == interview_id, evidence.c.kind == "notification")
    refs = [f"{s}/{r}" for s, r in conn.execute(sent)]
    cond = evidence.c.interview_id == interview_id
    if refs:
        cond = sa.or_(cond, sa.and_(evidence.c.kind == "delivery_event", evidence.c.ref.in_(refs)))
    rows = conn.execute(sa.select(evidence.c.kind, evidence.c.data).where(cond)
                        .order_by(evidence.c.occurred_at, evidence.c.id))
    found: list[Evidence] = []
    for kind, data in rows:
        model = RECORD_TYPES.get(kind)
        if model is not None and issubclass(model, Evidence):
            found.append(model.model_validate(data))
    return tuple(found)


def prior_case(conn: sa.Connection, interview_id: str, before_version: int) -> PriorCase | None:
    rc = remediation_cases
    row = conn.execute(sa.select(rc).where(rc.c.interview_id == interview_id, rc.c.outcome_version < before_version)
                       .order_by(rc.c.outcome_version.desc()).limit(1)).first()
    if row is None:
        return None
    return PriorCase(row.outcome_version, OutcomeClass(row.outcome), row.origin_version, row.sequence, row.playbook,
                     tuple(row.steps))


def load_case(conn: sa.Connection, tenant: str, outcome: Outcome) -> Case | None:
    interview = load_interview(conn, outcome.interview_id)
    if interview is None:
        return None
    return Case(
        tenant=tenant, outcome=outcome, interview=interview,
        candidate=load_candidate(conn, interview.candidate_id),
        evidence=load_evidence(conn, interview.id),
        prior=prior_case(conn, interview.id, outcome.version),
    )


def earlier_misses(conn: sa.Connection, case: Case) -> int:
    """Misses decided before on the same application (other interviews, or this one at another time)."""
    rc = remediation_cases
    same = rc.c.interview_id == case.interview.id
    if case.interview.application_id:
        same = sa.or_(same, sa.and_(rc.c.tenant == case.tenant, rc.c.application_id == case.interview.application_id))
    query = sa.select(rc.c.interview_id, rc.c.sequence).where(same, rc.c.outcome.like("missed%")).distinct()
    return sum(1 for iv, seq in conn.execute(query) if (iv, seq) != (case.interview.id, case.sequence))
