"""Interviewers' answers to "Did <candidate> attend?": one `AttendanceReport` per person per interview version.

Whatever way an answer comes (a signed link's page, a card button the platform calls back about), it is
stored under the connector instance that asked (`AnswerLink.via`, the source of the interviewer's id and of
the card callback) as `answer:<interview>:<sequence>:<who answered>`: a second click is
the same record, never a second one, and a changed mind re-writes it (the latest answer stands, dated
when it was given; the store's upsert puts the interview back in reconcile's scope, so it is decided
again). `who answered` is the signed subject of a link, or the operator a platform names for a card
click: when that is not the interviewer the card was for, the answer is still kept under the operator,
and reconciliation counts only answers from the interview's own interviewers.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa

from lifeline_hub.core.models import AttendanceReport, AttendanceVerdict, Role
from lifeline_hub.core.remediation.case import load_interview
from lifeline_hub.core.remediation.links import AnswerLink
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import evidence, interviews

VERDICTS: tuple[AttendanceVerdict, ...] = (AttendanceVerdict.attended, AttendanceVerdict.attended_late,
                                           AttendanceVerdict.no_show, AttendanceVerdict.technical)
"""The answers, in the order the question offers them."""


class Answered(StrEnum):
    recorded = "recorded"
    changed = "changed"
    """A different answer than before from the same person: it replaces the earlier one."""
    already = "already"
    """The same answer again: nothing changes."""
    not_counted = "not_counted"
    """Kept, but the person is not (or no longer) one of the interview's interviewers."""
    stale = "stale"
    """The interview (or its tenant) is gone."""


def report_of(link: AnswerLink, answered_by: str, at: datetime) -> AttendanceReport:
    """The evidence of `link` answered by `answered_by` (a staff id) at `at`."""
    return AttendanceReport(
        source=link.via, remote_id=f"answer:{link.interview_id}:{link.sequence}:{answered_by}",
        interview_id=link.interview_id, occurred_at=at, reported_by=Role.interviewer, reporter_id=answered_by,
        verdict=link.verdict, sequence_seen=link.sequence,
    )


def record(store: Store, link: AnswerLink, answered_by: str, now: datetime) -> Answered:
    """Store `link`'s answer from `answered_by` (idempotent); says what it changed."""
    mark = report_of(link, answered_by, now)
    with store.engine.connect() as conn:
        interview = load_interview(conn, link.interview_id)
        tenant = conn.execute(sa.select(interviews.c.tenant).where(interviews.c.id == link.interview_id)).scalar()
        before = conn.execute(sa.select(evidence.c.data).where(
            evidence.c.source == mark.source, evidence.c.kind == mark.record_type,
            evidence.c.remote_id == mark.remote_id)).scalar()
    if interview is None or tenant != link.tenant:
        return Answered.stale
    if before is not None and before.get("verdict") == link.verdict.value:
        return Answered.already
    store.write(link.tenant, [mark])
    if answered_by not in interview.interviewer_ids:
        return Answered.not_counted
    return Answered.recorded if before is None else Answered.changed
