"""The evidence export: one interview's time-ordered trail, in the tenant's zone.

What was sent when and on which channel, delivered / failed / read, link opens (machine-made ones
shown but marked as not counted), join attempts and errors, joins and leaves, confirmations,
reschedule requests, and the outcome history. Receipts that carry only their notification's id are
included through it. Messages to staff (HR tasks, interviewers' reminders) and their receipts are
shown but marked as not counted: they never reach the candidate. A read reported on a channel that
knows no reads (`ChannelInfo.read_known`: an e-mail open) is shown as counted as a delivery only.
An answer to "Did the candidate attend?" counts only from one of the interview's own interviewers and
about its current version; others are shown, marked as not counted.
Changes of the candidate's contact points (a contact deleted, a number dead) are shown, not counted:
they say where reminders can no longer go, not whether the candidate was reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lifeline_hub.core.config import Config
from lifeline_hub.core.models import Audience, InterviewKind, OutcomeClass, channel_info, utcnow, zone_info
from lifeline_hub.core.reconcile.gate import waiting_for
from lifeline_hub.core.reconcile.needs import needs_of
from lifeline_hub.core.reconcile.outcomes import to_outcome
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import contact_points, evidence, interviews, outcomes

_LINK = {"open": "link opened", "join_attempt": "join attempt", "join_ok": "join link worked",
         "join_error": "join error"}
_ANSWER = {"confirm": "confirmed", "decline": "declined", "reschedule": "asked to reschedule"}


@dataclass(frozen=True)
class Entry:
    at: datetime
    event: str
    channel: str | None
    detail: str
    source: str
    evidence_id: int | None
    counted: bool = True


@dataclass(frozen=True)
class Trail:
    interview: dict[str, Any]
    timezone: str
    entries: tuple[Entry, ...]
    outcomes: tuple[dict[str, Any], ...]

    def local(self, at: datetime) -> datetime:
        return at.astimezone(zone_info(self.timezone))

    def as_dict(self) -> dict[str, Any]:
        iv = self.interview
        return {
            "interview": {**iv, "start_at": self.local(iv["start_at"]).isoformat(),
                          "end_at": self.local(iv["end_at"]).isoformat()},
            "timezone": self.timezone,
            "trail": [{"at": self.local(e.at).isoformat(), "event": e.event, "channel": e.channel,
                       "detail": e.detail, "source": e.source, "evidence_id": e.evidence_id, "counted": e.counted}
                      for e in self.entries],
            "outcomes": [{**o, "decided_at": self.local(o["decided_at"]).isoformat(),
                          "superseded_at": self.local(o["superseded_at"]).isoformat() if o["superseded_at"] else None}
                         for o in self.outcomes],
        }


def evidence_trail(store: Store, interview_id: str, zone: str | None = None) -> Trail | None:
    """The trail of one interview (None when there is no such interview); `zone` defaults to its own."""
    i, e, o = interviews, evidence, outcomes
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(i).where(i.c.id == interview_id)).first()
        if row is None:
            return None
        sent = sa.select(e.c.source + "/" + e.c.remote_id).where(e.c.interview_id == interview_id,
                                                                e.c.kind == "notification")
        cp = contact_points
        own_contact = sa.exists().where(cp.c.candidate_id == row.candidate_id, cp.c.channel == e.c.channel,
                                        cp.c.lookup == e.c.code)
        rows = conn.execute(sa.select(e).where(sa.or_(
            e.c.interview_id == interview_id,
            sa.and_(e.c.interview_id.is_(None), e.c.kind == "delivery_event", e.c.ref.in_(sent)),
            sa.and_(e.c.kind == "contact_change", e.c.tenant == row.tenant,
                    sa.or_(e.c.ref == row.candidate_id, sa.and_(e.c.ref.is_(None), own_contact))),
        ))).all()
        history = conn.execute(sa.select(o).where(o.c.interview_id == interview_id).order_by(o.c.version)).all()
    panel = Panel(tuple((row.data or {}).get("interviewer_ids") or ()), row.sequence)
    entries = [entry for r in rows for entry in _entries(r._mapping, panel)]
    decided = []
    for h in history:
        outcome = to_outcome(h._mapping)
        ids = ", ".join(str(n) for n in outcome.evidence_ids) or "-"
        note = f"; superseded {h.superseded_at.isoformat()}" if h.superseded_at else ""
        entries.append(Entry(h.decided_at, f"outcome v{h.version}: {h.outcome}", None,
                             f"{h.sub_reason or '-'}, {h.confidence} confidence, evidence {ids}, "
                             f"rules {h.rule_version}{note}", "lifeline", None))
        decided.append({**outcome.model_dump(mode="json"), "decided_at": h.decided_at,
                        "superseded_at": h.superseded_at})
    entries.sort(key=lambda x: (x.at, x.evidence_id is None, x.evidence_id or 0))
    interview = {
        "id": row.id, "tenant": row.tenant, "kind": row.kind, "status": row.status, "start_at": row.start_at,
        "end_at": row.end_at, "thread_id": row.thread_id, "sequence": row.sequence, "platform": row.platform,
    }
    return Trail(interview, zone or row.timezone, tuple(entries), tuple(decided))


@dataclass(frozen=True)
class Panel:
    """Whose answers about attendance count: the interview's own interviewers, about its current version."""

    interviewers: tuple[str, ...]
    sequence: int

    def why_not(self, reporter: str, sequence: int | None) -> str:
        if reporter not in self.interviewers:
            return "not one of the interview's interviewers, not counted"
        if sequence is not None and sequence < self.sequence:
            return f"about version {sequence}, not counted"
        return ""


def pending_because(store: Store, trail: Trail, config: Config, now: datetime | None = None) -> tuple[str, ...]:
    """Why an interview still pending (its current outcome, or none yet) is not decided: its window and grace
    are not over, or which needed streams are behind its window end + grace, since when."""
    if trail.outcomes and trail.outcomes[-1]["outcome"] != OutcomeClass.pending.value:
        return ()
    iv = trail.interview
    settings = config.tenant(iv["tenant"])
    policy, now = settings.policy, now or utcnow()
    closes = iv["end_at"] + timedelta(minutes=policy.grace_minutes)
    if closes > now:
        return (f"window open: it ends {trail.local(iv['end_at']).isoformat()}, decided after "
                f"{policy.grace_minutes} min of grace ({trail.local(closes).isoformat()})",)
    with store.engine.connect() as conn:
        waiting = waiting_for(conn, needs_of(config.instances(iv["tenant"])), policy, InterviewKind(iv["kind"]),
                              iv["end_at"])
    return tuple(w.describe() for w in waiting)


def _entries(r: Any, panel: Panel) -> list[Entry]:
    data, kind, kind_type = r["data"], r["kind"], r["type"]
    base = {"channel": r["channel"], "source": r["source"], "evidence_id": r["id"]}
    if kind == "attendance_report":
        why = panel.why_not(r["code"], r["sequence"])
        return [Entry(r["occurred_at"], f"attendance reported: {kind_type}",
                      detail=_join(f"by {data.get('reported_by', '?')} {r['code']}", why), counted=not why, **base)]
    if kind in ("notification", "delivery_event"):
        audience = r["audience"]
        counted = audience == Audience.candidate.value
        why = "" if counted else "to staff, not counted" if audience == Audience.staff.value else \
            "notification unknown, not counted"
        if kind == "notification":
            return [Entry(r["occurred_at"], f"sent {kind_type}", detail=_join(
                f"to {data.get('recipient', '?')}, status {r['code']}", why), counted=counted, **base)]
        info = channel_info(r["channel"] or "")
        if kind_type == "read" and counted and not (info and info.read_known):
            why = f"{info.label if info else r['channel']} reports no reads: counted as delivered"
        return [Entry(r["occurred_at"], kind_type, detail=_join(r["code"], f"for {r['ref']}", why), counted=counted,
                      **base)]
    if kind == "link_event":
        counted = bool(r["human"])
        why = "" if counted else f"machine-made ({data.get('machine_reason') or 'flagged'}), not counted"
        return [Entry(r["occurred_at"], _LINK.get(kind_type, kind_type), detail=_join(r["code"], why),
                      counted=counted, **base)]
    if kind == "attendance":
        out = [Entry(r["occurred_at"], "joined" if r["code"] != "completed" else "started",
                     detail=f"{kind_type}", **base)]
        if r["ended_at"] is not None:
            done = "submitted" if r["code"] == "completed" else "left"
            out.append(Entry(r["ended_at"], done, detail=_join(kind_type, data.get("leave_reason")), **base))
        return out
    if kind == "contact_change":
        gone = kind_type == "unreachable"
        return [Entry(r["occurred_at"], "contact unreachable" if gone else "contact reachable again",
                      detail=_join(data.get("address"), data.get("reason"),
                                   "no more sends there, not counted" if gone else "not counted"),
                      counted=False, **base)]
    if kind == "confirmation":
        return [Entry(r["occurred_at"], _ANSWER.get(kind_type, kind_type), detail="", **base)]
    return [Entry(r["occurred_at"], f"reschedule request {kind_type}",
                  detail=_join(f"by {data.get('requested_by', '?')}", r["code"]), **base)]


def _join(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)
