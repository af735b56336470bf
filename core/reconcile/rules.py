"""The classification rules as set-based SQL statements (SQLAlchemy Core; SQLite and PostgreSQL).

For the interviews in scope, a first pass reads their attendance (which decides most of them), a
second pass the rest of the evidence of those it did not decide (answers, link events, reach), then
the first matching class wins, in DESIGN.md's order (the evidence ids behind a decision are looked up
afterwards, only for decisions that changed):

1. `cancelled` (ATS status; `candidate_declined` when the candidate had declined, else `ats`). A
   cancellation at or after the start (`source_updated_at`) of an interview Lifeline had already decided
   is decided by the evidence like any other interview: a cancellation after a no-show keeps the
   no-show. One seen before any decision is `cancelled` whatever the update time says (a later edit
   of a cancelled interview moves it; never a miss from that). `rescheduled` (ATS status `ats`; a later
   version in the same thread known before the start `new_version`) - decided at once.
2. `pending`: `window_open` while now < end + grace; `stream_behind` while a needed stream's
   watermark has not passed end + grace (the completeness gate; `gate.waiting_for` says which).
3. attendance (candidate segments overlapping [start - 15 min, end]): `attended_partial`
   (`short_attendance`) below the minimum, counting the union of the segments from the start on
   (overlapping segments once, lobby time before the start not at all); `attended` when the first
   join is at most `late_after` after the start, else `attended_late` (`late_join`). Async
   interviews: a submission by the deadline is `attended` (`submitted`), after it `attended_late`
   (`submitted_late`), a start without one `attended_partial` (`not_submitted`) unless it had errors
   (then technical).
4. Without machine attendance, an interviewer's answer to "Did <candidate> attend?" (an
   `attendance_report` from one of the interview's own interviewers, `Interview.interviewer_ids`,
   about this version or a later one; anyone else's is kept in the trail and counts for nothing):
   `attended_late`, `attended` or `missed_technical`, sub-reason `interviewer_reported`. Conflicting
   answers: the highest of attended_late > attended > technical > no_show wins (who saw the candidate
   outweighs who did not; a reported lateness outweighs "on time"; a technical problem outweighs
   "did not come"), with medium confidence. A `no_show` answer lets the missed classes below decide
   by the reach evidence instead of `unknown`. Then a reschedule request approved before the start
   that nobody carried out is `rescheduled` (`request_approved`); one Lifeline carried out (approved,
   and the interview moved to a new version: `reschedule_requests`) is history.
5. `missed_technical`: a human join error (`join_error`) or at least `technical_clicks` human
   join attempts (`repeated_attempts`) in [start - 15 min, end]: for a live interview any human
   link event (its link leads into the meeting), for an async one only join attempts (opening a
   multi-day invitation is no attempt). Needs an attendance source.
6. `missed_declined`: the latest answer before the end was a decline (`declined`) or a request to
   move it (`reschedule_requested`: the candidate's answer, or anyone's request nobody acted on),
   and nobody cancelled.
7. `unknown` (`no_attendance_source`): without an attendance source and without an answer, no join
   seen proves nothing.
8. `missed_read_no_show`: reached before the end - a confirmation (`confirmed_no_show`), a human
   link event (`link_opened`), or a read receipt on a channel that knows reads (`read`; the
   channel's `ChannelInfo.read_known`: e-mail opens and the like count as a delivery, not a read).
9. `missed_not_reached`: `nothing_sent`, every send failed (`undelivered`), or some send was
   delivered or accepted without a failure report (an e-mail accepted after a failed SMS): then
   `delivered_unread` when a message went on a channel that knows reads, else
   `delivered_read_unknown` ("delivered, no sign of reading": SMS, WeChat, e-mail cannot tell, so
   "unread" is not claimed, and it is no contact-data problem).

Evidence belongs to a version of the interview: confirmations, notifications (and their receipts)
and answers that say which `thread.sequence` they were about (`evidence.sequence`) count only for
that version or a later one; those that do not say count for every version. Machine-made link
events never count (opens a vendor reports are judged by the scanner rule when stored). Only
evidence at or before the window end counts as reach, so follow-ups sent after a miss do not change
why it was missed; a notification re-stored as read counts as read only when the read was seen by
the end (`Notification.read_at`, in `ended_at`). Only what went to the candidate is reach:
notifications of audience `candidate` and the receipts of those (a receipt carries its
notification's audience in the store; while that notification is unknown, it counts for nothing).
HR tasks and messages, and the interviewers' reminders - their sends, deliveries, reads and a
todo marked done - are staff's and never make a candidate "reached".

Both passes read only columns of the covering index `ix_evidence_reconcile` of the evidence, never
the table; the scope is filled from the interviews (their interviewers from `data`) and, for carried
out reschedules, `reschedule_requests`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lifeline_hub.core.config import PolicySettings
from lifeline_hub.core.models import (
    AttendanceReport,
    AttendanceVerdict,
    Audience,
    InterviewKind,
    InterviewStatus,
    OutcomeClass,
    RequestStatus,
    read_known_channels,
)
from lifeline_hub.core.reconcile.gate import Gate
from lifeline_hub.core.reconcile.needs import Needs
from lifeline_hub.core.reconcile.scope import CHANGED, DECISION, JOINED, SCOPE, SIGNALS
from lifeline_hub.core.reconcile.sqlfn import id_list, json_text, millis_between, quoted_in, shift, unindexed
from lifeline_hub.core.store.schema import evidence, interviews, outcomes, reschedule_requests

RULE_VERSION = "2026.3"
"""Bump when a rule changes: the next run re-decides every interview (a full run)."""
PRE_JOIN_SECONDS = 15 * 60
"""Joins and link events this long before the start count for the interview."""

OC = OutcomeClass
V = AttendanceVerdict
ANSWER_RANK = {V.no_show.value: 1, V.technical.value: 2, V.attended.value: 3, V.attended_late.value: 4}
"""Conflicting answers: the highest rank wins (someone who saw the candidate outweighs someone who did not;
a reported lateness outweighs "on time"; a technical problem outweighs "did not come")."""


def fill_scope(conn: sa.Connection, tenant: str, ids: sa.CompoundSelect[tuple[str]] | None,
               gate: Gate, needs: Needs, policy: PolicySettings) -> int:
    """Copy the interviews in scope (all of the tenant's when `ids` is None) with their bounds."""
    i, later = interviews, interviews.alias("later")
    moved = sa.exists().where(
        later.c.thread_id == i.c.thread_id, unindexed(later.c.tenant) == i.c.tenant, later.c.sequence > i.c.sequence,
        sa.or_(later.c.source_updated_at.is_(None), later.c.source_updated_at < i.c.start_at),
    )
    rr = reschedule_requests
    carried_at = (sa.select(sa.func.max(rr.c.decided_at))
                  .where(rr.c.interview_id == i.c.id, rr.c.status == RequestStatus.approved.value,
                         rr.c.sequence < i.c.sequence)
                  .scalar_subquery())
    decided = sa.exists().where(outcomes.c.interview_id == i.c.id, outcomes.c.superseded_at.is_(None),
                                outcomes.c.outcome.not_in([OC.pending.value, OC.cancelled.value, OC.rescheduled.value]))
    cancelled_late = sa.and_(i.c.status == InterviewStatus.cancelled.value, i.c.source_updated_at >= i.c.start_at,
                             decided)
    decidable = sa.or_(sa.false(), *[
        sa.and_(i.c.kind == kind.value, i.c.end_at <= cut) for kind, cut in gate.cutoffs.items() if cut is not None
    ])
    rows = sa.select(
        i.c.id, i.c.kind, sa.case((cancelled_late, CANCELLED_LATE), else_=i.c.status), i.c.start_at, i.c.end_at,
        shift(i.c.start_at, sa.literal(-PRE_JOIN_SECONDS)),
        shift(i.c.start_at, sa.literal(policy.late_after_minutes * 60)),
        _flag(moved),
        sa.case((i.c.end_at > gate.open_after, "window_open"), (sa.not_(decidable), "stream_behind")),
        _flag(i.c.kind.in_([k.value for k in needs.attendance])),
        i.c.sequence, json_text(i.c.data, sa.literal("interviewer_ids")), carried_at,
    )
    if ids is None:
        rows = rows.where(i.c.tenant == tenant)
    else:
        rows = rows.where(i.c.id.in_(ids), unindexed(i.c.tenant) == tenant)
    conn.execute(sa.insert(SCOPE).from_select(list(SCOPE.c.keys()), rows))
    return int(conn.execute(sa.select(sa.func.count()).select_from(SCOPE)).scalar_one())


CANCELLED_LATE = "cancelled_late"
"""Scope status of an interview cancelled at or after its start (`source_updated_at`) that Lifeline had already
decided (with its schedule complete up to the window's end): decided by its evidence, so a cancellation after a
no-show keeps the no-show. The update time alone is no cancellation time (any later edit moves it), so a
cancellation Lifeline saw before deciding is `cancelled`."""


def _flag(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.case((condition, 1), else_=0)


Condition = sa.ColumnElement[bool]


@dataclass(frozen=True)
class Facts:
    """What one evidence row `e` says about the interview in scope `s`, per kind.

    The conditions do not test `kind` themselves: `of(kind, ...)` adds the test where needed, and
    the packed counters test it once per row for all their counts.
    """

    attended: Condition
    """attendance: a candidate segment overlapping [start - 15 min, end]."""
    completed: Condition
    """attendance: such a segment marked completed (an async submission)."""
    window_link: Condition
    """link_event: a human one in [start - 15 min, end]."""
    window_join: Condition
    """link_event: a human one in [start - 15 min, end] that tried to join: of a live interview any (its link
    leads into the meeting), of an async one a join attempt (opening a multi-day invitation is no attempt)."""
    engaged: Condition
    """link_event: a human one up to the end."""
    declined: Condition
    """confirmation: a decline up to the end."""
    asked: Condition
    """confirmation: a reschedule answer up to the end."""
    requested: Condition
    """reschedule_request: submitted or approved up to the end, after the last approved move carried out."""
    approved: Condition
    """reschedule_request: approved before the start and after the last approved move carried out."""
    answered: Condition
    """attendance_report: an answer from one of the interview's own interviewers about this version or a later one."""
    confirmed: Condition
    """confirmation: a confirmation up to the end."""
    sent: Condition
    """notification: sent to the candidate (audience `candidate`, not only queued) up to the end."""
    receipt: Condition
    """delivery_event: of a notification to the candidate, up to the end."""
    trusted: Condition
    """a channel whose read receipts are real (`ChannelInfo.read_known`; not e-mail opens, not SMS)."""

    @staticmethod
    def of(kind: str, condition: Condition) -> Condition:
        return sa.and_(evidence.c.kind == kind, condition)

    def any_declined(self) -> Condition:
        """Declines, reschedule answers and requests up to the end."""
        return sa.or_(self.of("confirmation", sa.or_(self.declined, self.asked)),
                      self.of("reschedule_request", self.requested))

    def any_asked(self) -> Condition:
        """Reschedule answers and requests up to the end."""
        return sa.or_(self.of("confirmation", self.asked), self.of("reschedule_request", self.requested))

    def answer_rank(self) -> sa.ColumnElement[int]:
        """An own interviewer's answer's `ANSWER_RANK` (NULL for any other row)."""
        rank = sa.case(ANSWER_RANK, value=evidence.c.type)
        return sa.case((self.of(AttendanceReport.record_type, self.answered), rank))

    def reach(self) -> Condition:
        """Read receipts, human link events and confirmations up to the end."""
        read = sa.or_(self.of("delivery_event", sa.and_(self.receipt, evidence.c.type == "read", self.trusted)),
                      self.of("notification", sa.and_(self.sent, _notification_status() == "read", self.trusted)))
        return sa.or_(read, self.of("link_event", self.engaged), self.of("confirmation", self.confirmed))


def _notification_status() -> sa.ColumnElement[str]:
    """A notification's status as of the window end: `read` seen after it (`ended_at`: its read_at) is delivered."""
    e, s = evidence, SCOPE
    late_read = sa.and_(e.c.code == "read", sa.func.coalesce(e.c.ended_at, e.c.occurred_at) > s.c.end_at)
    return sa.case((late_read, "delivered"), else_=e.c.code)


def _facts() -> Facts:
    s, e = SCOPE, evidence
    at, kind_type, before_end = e.c.occurred_at, e.c.type, e.c.occurred_at <= s.c.end_at
    attended = sa.and_(kind_type == "candidate", before_end, sa.func.coalesce(e.c.ended_at, at) >= s.c.pre_start)
    human = e.c.human == sa.true()
    to_candidate = e.c.audience == Audience.candidate.value
    current = sa.or_(e.c.sequence.is_(None), e.c.sequence >= s.c.sequence)  # about this version or a later one
    window_link = sa.and_(human, at >= s.c.pre_start, before_end)
    not_carried_out = sa.or_(s.c.carried_at.is_(None), at > s.c.carried_at)  # a request the last move settled
    return Facts(
        attended=attended,
        completed=sa.and_(attended, e.c.code == "completed"),
        window_link=window_link,
        window_join=sa.and_(window_link, kind_type != "join_error",
                            sa.or_(s.c.kind != InterviewKind.ai_async.value, kind_type == "join_attempt")),
        engaged=sa.and_(human, before_end),
        declined=sa.and_(kind_type == "decline", before_end, current),
        asked=sa.and_(kind_type == "reschedule", before_end, current),
        requested=sa.and_(kind_type.in_(["submitted", "approved"]), before_end, not_carried_out),
        approved=sa.and_(kind_type == "approved", at < s.c.start_at, not_carried_out),
        answered=sa.and_(kind_type.in_(list(ANSWER_RANK)), current, quoted_in(e.c.code, s.c.interviewers)),
        confirmed=sa.and_(kind_type == "confirm", before_end, current),
        sent=sa.and_(to_candidate, e.c.code != "queued", before_end, current),
        receipt=sa.and_(to_candidate, before_end, current),
        trusted=e.c.channel.in_(read_known_channels()),
    )


BASE = 1_000_000
"""A packed counter holds up to three counts, each below BASE, as base-BASE digits of one SUM."""


def _digit_one(position: int) -> sa.ColumnElement[int]:
    """1 in the given digit, as a BIGINT (PostgreSQL would bind a large Python int as INTEGER)."""
    return sa.literal(BASE ** position, sa.BigInteger)


def _packed(weights: dict[str, sa.ColumnElement[int]]) -> sa.ColumnElement[int]:
    """SUM of each row's weight for its kind: the kind is read once, the digits add up separately."""
    return sa.func.sum(sa.case(weights, value=evidence.c.kind, else_=0))


def _by_status(status: sa.ColumnElement[str], trusted: Condition) -> sa.ColumnElement[int]:
    """Digits failed (0), delivered or read (1), read on a trusted channel (2)."""
    return sa.case((status == "failed", _digit_one(0)), (status == "delivered", _digit_one(1)),
                   (status == "read", _digit_one(1) + sa.case((trusted, _digit_one(2)), else_=0)), else_=0)


def _digit(packed: Any, position: int) -> sa.ColumnElement[int]:
    shifted: sa.ColumnElement[int] = sa.cast(packed, sa.BigInteger) // _digit_one(position)
    digit: sa.ColumnElement[int] = shifted % _digit_one(1)
    return digit


def _later(a: Any, b: Any) -> sa.ColumnElement[Any]:
    return sa.case((a > b, a), else_=b)


def _joined() -> sa.Select[Any]:
    """Pass 1, every interview in scope: its attendance (one index seek each).

    The time attended is the union of the segments from the start on: overlapping segments (phone and
    laptop in one meeting) count once, time in the lobby before the start not at all.
    """
    s, e, f = SCOPE, evidence, _facts()
    at = e.c.occurred_at
    left = sa.func.coalesce(e.c.ended_at, s.c.end_at)
    counted_from = _later(at, s.c.start_at)
    covered = sa.func.max(sa.case((f.attended, left))).over(
        partition_by=s.c.interview_id, order_by=(counted_from, left), rows=(None, -1))
    rows = (sa.select(s.c.interview_id, at.label("at"), e.c.ended_at, e.c.code, e.c.id,
                      sa.case((f.attended, 1), else_=0).label("attended"), left.label("left"),
                      _later(counted_from, sa.func.coalesce(covered, counted_from)).label("new_from"))
            .select_from(s.outerjoin(e, sa.and_(e.c.interview_id == s.c.interview_id, e.c.kind == "attendance")))
            .subquery("segments"))
    attended = rows.c.attended == 1
    return (
        sa.select(
            rows.c.interview_id,
            sa.func.min(rows.c.at).filter(attended),
            sa.func.coalesce(sa.func.sum(millis_between(rows.c.new_from, rows.c.left))
                             .filter(attended, rows.c.left > rows.c.new_from), 0),
            sa.func.min(sa.func.coalesce(rows.c.ended_at, rows.c.at)).filter(attended, rows.c.code == "completed"),
            id_list(rows.c.id).filter(attended),
        )
        .group_by(rows.c.interview_id)
    )


def _signals() -> sa.Select[Any]:
    """Pass 2, only interviews attendance did not decide: answers, link events and reach.

    Few aggregates: counts share packed SUMs, the rest use FILTER (no aggregate step for other rows).
    """
    s, j, e, f = SCOPE, JOINED, evidence, _facts()
    at, code, kind_type = e.c.occurred_at, e.c.code, e.c.type
    settled = sa.case((s.c.kind == InterviewKind.ai_async.value, j.c.first_submit.is_not(None)),
                      else_=j.c.first_join.is_not(None))
    readable = sa.or_(f.of("notification", sa.and_(f.sent, code != "failed")),  # not failed, on a channel knowing reads
                      f.of("delivery_event", sa.and_(f.receipt, kind_type != "failed")))
    undecided = sa.or_(s.c.status == InterviewStatus.cancelled.value, sa.and_(
        s.c.pending.is_(None), s.c.status != "rescheduled", s.c.moved == 0, sa.not_(settled)))
    return (
        sa.select(
            j.c.interview_id,
            sa.func.max(at).filter(f.any_declined()),
            sa.func.max(at).filter(f.any_asked()),
            sa.func.max(at).filter(f.of("confirmation", f.confirmed)),
            _packed({"link_event": sa.case((f.engaged, _digit_one(2) + sa.case((at >= s.c.pre_start, sa.case(
                (kind_type == "join_error", _digit_one(0)), (f.window_join, _digit_one(1)), else_=0)),
                else_=0)), else_=0)}),
            _packed({"delivery_event": sa.case((f.receipt, _by_status(kind_type, f.trusted)), else_=0),
                     "notification": sa.case((f.sent, _by_status(_notification_status(), f.trusted)), else_=0)}),
            sa.func.count().filter(sa.or_(f.of("notification", f.sent), f.of("delivery_event", f.receipt))),
            sa.func.count().filter(f.trusted, readable),
            sa.func.count().filter(f.of("reschedule_request", f.approved)),
            sa.func.count().filter(f.of("notification", f.sent)),
            sa.func.max(f.answer_rank()),
            sa.func.min(f.answer_rank()),
        )
        .select_from(j.join(s, s.c.interview_id == j.c.interview_id)
                     .outerjoin(e, e.c.interview_id == s.c.interview_id))
        .where(undecided)
        .group_by(j.c.interview_id)
    )


def _facts_table() -> sa.Subquery:
    """Scope, pass 1 and pass 2 side by side, the packed counts unpacked (0 where pass 2 did not run)."""
    s, j, g = SCOPE, JOINED, SIGNALS
    links, reach = sa.func.coalesce(g.c.links, 0), sa.func.coalesce(g.c.reach, 0)
    counts = {
        "errors": _digit(links, 0), "clicks": _digit(links, 1), "engaged_n": _digit(links, 2),
        "failed_n": _digit(reach, 0), "reached_n": _digit(reach, 1), "read_n": _digit(reach, 2),
        "sent_n": sa.func.coalesce(g.c.sent_n, 0), "readable_n": sa.func.coalesce(g.c.readable_n, 0),
        "approved_n": sa.func.coalesce(g.c.approved_n, 0), "notified_n": sa.func.coalesce(g.c.notified_n, 0),
    }
    return (sa.select(s, j.c.first_join, j.c.att_ms, j.c.first_submit, j.c.att_ids, g.c.last_no, g.c.last_asked,
                      g.c.last_yes, g.c.answer_max, g.c.answer_min,
                      *[value.label(name) for name, value in counts.items()])
            .select_from(s.join(j, j.c.interview_id == s.c.interview_id)
                         .outerjoin(g, g.c.interview_id == s.c.interview_id))
            .subquery("facts"))


def _outcome(f: Any, policy: PolicySettings) -> sa.ColumnElement[str]:
    is_async = f.kind == InterviewKind.ai_async.value
    live = sa.not_(is_async)
    joined = f.first_join.is_not(None)
    return sa.case(
        (f.status == "cancelled", OC.cancelled.value),
        (sa.or_(f.status == "rescheduled", f.moved == 1), OC.rescheduled.value),
        (f.pending.is_not(None), OC.pending.value),
        (sa.and_(is_async, f.first_submit <= f.end_at), OC.attended.value),
        (sa.and_(is_async, f.first_submit.is_not(None)), OC.attended_late.value),
        (sa.and_(is_async, joined, f.errors > 0), OC.missed_technical.value),
        (sa.and_(is_async, joined), OC.attended_partial.value),
        (sa.and_(live, joined, f.att_ms < policy.min_attendance_minutes * 60_000), OC.attended_partial.value),
        (sa.and_(live, joined, f.first_join <= f.late_bound), OC.attended.value),
        (sa.and_(live, joined), OC.attended_late.value),
        (f.answer_max == ANSWER_RANK[V.attended_late], OC.attended_late.value),
        (f.answer_max == ANSWER_RANK[V.attended], OC.attended.value),
        (f.answer_max == ANSWER_RANK[V.technical], OC.missed_technical.value),
        (f.approved_n > 0, OC.rescheduled.value),
        (sa.and_(f.has_source == 1, sa.or_(f.errors > 0, f.clicks >= policy.technical_clicks)),
         OC.missed_technical.value),
        (sa.and_(f.last_no.is_not(None), sa.or_(f.last_yes.is_(None), f.last_no > f.last_yes)),
         OC.missed_declined.value),
        (sa.and_(f.has_source == 0, f.answer_max.is_(None)), OC.unknown.value),
        (sa.or_(f.read_n > 0, f.engaged_n > 0, f.last_yes.is_not(None)), OC.missed_read_no_show.value),
        else_=OC.missed_not_reached.value,
    )


def _explained(d: Any) -> tuple[sa.ColumnElement[str], sa.ColumnElement[str]]:
    """Sub-reason and confidence of each class."""
    oc, is_async = d.outcome, d.kind == InterviewKind.ai_async.value
    delivered = sa.or_(d.reached_n > 0, d.failed_n < d.notified_n)  # a send with no failure reported went out
    by_answer = sa.and_(d.first_join.is_(None), d.first_submit.is_(None), d.answer_max.is_not(None))
    told = "interviewer_reported"
    sub = sa.case(
        (oc == OC.cancelled.value, sa.case((d.last_no.is_not(None), "candidate_declined"), else_="ats")),
        (oc == OC.rescheduled.value, sa.case((d.status == "rescheduled", "ats"), (d.moved == 1, "new_version"),
                                            else_="request_approved")),
        (oc == OC.pending.value, d.pending),
        (oc == OC.attended.value, sa.case((by_answer, told), (is_async, "submitted"), else_="on_time")),
        (oc == OC.attended_late.value, sa.case((by_answer, told), (is_async, "submitted_late"), else_="late_join")),
        (oc == OC.attended_partial.value, sa.case((is_async, "not_submitted"), else_="short_attendance")),
        (oc == OC.missed_technical.value, sa.case((d.answer_max == ANSWER_RANK[V.technical], told),
                                                 (d.errors > 0, "join_error"), else_="repeated_attempts")),
        (oc == OC.missed_declined.value, sa.case((d.last_asked == d.last_no, "reschedule_requested"),
                                                else_="declined")),
        (oc == OC.unknown.value, "no_attendance_source"),
        (oc == OC.missed_read_no_show.value, sa.case((d.last_yes.is_not(None), "confirmed_no_show"),
                                                    (d.engaged_n > 0, "link_opened"), else_="read")),
        else_=sa.case((d.sent_n == 0, "nothing_sent"), (sa.not_(delivered), "undelivered"),
                      (d.readable_n > 0, "delivered_unread"), else_="delivered_read_unknown"),
    )
    confidence = sa.case(
        (oc == OC.pending.value, sa.case((d.pending == "window_open", "high"), else_="low")),
        (oc == OC.unknown.value, "low"),
        (oc == OC.attended_partial.value, "medium"),
        (sa.and_(by_answer, d.answer_min != d.answer_max,
                 oc.in_([OC.attended.value, OC.attended_late.value, OC.missed_technical.value])), "medium"),
        (sa.and_(oc == OC.missed_technical.value, d.answer_max == ANSWER_RANK[V.technical]), "high"),
        (sa.and_(oc == OC.missed_technical.value, d.errors == 0), "medium"),
        (sa.and_(oc == OC.missed_read_no_show.value, d.engaged_n == 0, d.last_yes.is_(None)), "medium"),
        (sa.and_(oc == OC.missed_not_reached.value, d.sent_n > 0, delivered), "medium"),
        else_="high",
    )
    return sub, confidence


def decide(conn: sa.Connection, policy: PolicySettings) -> None:
    """Classify every interview in scope into the decision table: two passes, then one statement."""
    conn.execute(sa.insert(JOINED).from_select(list(JOINED.c.keys()), _joined()))
    conn.execute(sa.insert(SIGNALS).from_select(list(SIGNALS.c.keys()), _signals()))
    facts = _facts_table()
    # materialized: the outcome is computed once per interview, not once per reference to it below
    d = sa.select(facts, _outcome(facts.c, policy).label("outcome")).cte("d").prefix_with("MATERIALIZED")
    sub, confidence = _explained(d.c)
    attended = [OC.attended.value, OC.attended_late.value, OC.attended_partial.value]
    by_attendance = sa.and_(d.c.outcome.in_(attended), d.c.att_ids.is_not(None))
    ids = sa.case((by_attendance, d.c.att_ids))  # the others (and answers): fill_evidence_ids
    rows = sa.select(d.c.interview_id, d.c.outcome, sub, confidence, ids, sa.literal(RULE_VERSION))
    conn.execute(sa.insert(DECISION).from_select(list(DECISION.c.keys()), rows))


def fill_evidence_ids(conn: sa.Connection) -> None:
    """The ids of the evidence behind each changed decision still without them.

    Attendance decisions got theirs from pass 1, and the hook's own ids are kept; the others are
    looked up per interview through the covering index, only among the kinds the class rests on.
    """
    d, s, e, f = DECISION, SCOPE, evidence, _facts()

    def ids(kinds: list[str], condition: Condition) -> sa.ScalarSelect[str]:
        # the condition filters the aggregate: only (interview_id, kind) can pick an index, the covering one
        rows = s.join(e, sa.and_(e.c.interview_id == s.c.interview_id, e.c.kind.in_(kinds)))
        return (sa.select(id_list(e.c.id).filter(condition)).select_from(rows)
                .where(s.c.interview_id == d.c.interview_id).scalar_subquery())

    answered = f.of(AttendanceReport.record_type, f.answered)
    attended = sa.or_(f.of("attendance", f.attended), answered)
    window_link = sa.or_(f.of("link_event", f.window_link), answered)
    reach = ["delivery_event", "notification", "link_event", "confirmation", AttendanceReport.record_type]
    oc, is_async = d.c.outcome, sa.select(s.c.kind).where(s.c.interview_id == d.c.interview_id).scalar_subquery()
    chosen = sa.case(
        (oc.in_([OC.cancelled.value, OC.missed_declined.value]),
         ids(["confirmation", "reschedule_request"], f.any_declined())),
        (oc == OC.rescheduled.value, ids(["reschedule_request"], f.of("reschedule_request", f.approved))),
        (oc.in_([OC.attended.value, OC.attended_late.value, OC.attended_partial.value]),
         ids(["attendance", AttendanceReport.record_type], attended)),
        (sa.and_(oc == OC.missed_technical.value, is_async == InterviewKind.ai_async.value),
         ids(["attendance", "link_event", AttendanceReport.record_type], sa.or_(attended, window_link))),
        (oc == OC.missed_technical.value, ids(["link_event", AttendanceReport.record_type], window_link)),
        (oc == OC.missed_read_no_show.value, ids(reach, sa.or_(f.reach(), answered))),
        (oc == OC.missed_not_reached.value,
         ids(["notification", "delivery_event", AttendanceReport.record_type],
             sa.or_(f.of("notification", f.sent), f.of("delivery_event", f.receipt), answered))),
    )
    conn.execute(sa.update(d).where(d.c.evidence_ids.is_(None), d.c.interview_id.in_(
        sa.select(CHANGED.c.interview_id))).values(evidence_ids=chosen))
