"""HR's texts say what the evidence shows and nothing it does not, for every outcome class and sub-reason.

Each (class, sub-reason) reconciliation decides is rendered for every HR text its default playbook (and the
hand-over and second-miss tasks) can send, in zh-CN and en, over a trail that has exactly one SMS delivered
and nothing else; a claim (the number is wrong, the candidate read, tried to join, left early, missed) may
appear only where that sub-reason's evidence shows it.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifeline_hub.core.models import (
    AppointmentThread,
    AttendanceReport,
    AttendanceVerdict,
    Channel,
    DeliveryEvent,
    DeliveryType,
    Interview,
    InterviewKind,
    Notification,
    NotificationPurpose,
    Outcome,
    OutcomeClass,
)
from lifeline_hub.core.remediation.case import CandidateView, Case, Contact
from lifeline_hub.core.remediation.policies import DEFAULTS
from lifeline_hub.core.remediation.render import staff_text

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
RULES = Path(__file__).resolve().parents[2] / "core" / "reconcile" / "rules.py"

SUBS: dict[OutcomeClass, tuple[str, ...]] = {
    OutcomeClass.missed_technical: ("join_error", "repeated_attempts", "interviewer_reported"),
    OutcomeClass.missed_declined: ("declined", "reschedule_requested"),
    OutcomeClass.missed_read_no_show: ("confirmed_no_show", "link_opened", "read"),
    OutcomeClass.missed_not_reached: ("nothing_sent", "undelivered", "delivered_unread", "delivered_read_unknown"),
    OutcomeClass.attended_partial: ("short_attendance", "not_submitted"),
    OutcomeClass.unknown: ("no_attendance_source",),
}
"""What reconciliation decides that HR is told about (the other classes need no remediation)."""
QUIET = {
    OutcomeClass.cancelled: ("candidate_declined", "ats"),
    OutcomeClass.rescheduled: ("ats", "new_version", "request_approved"),
    OutcomeClass.pending: ("window_open", "stream_behind"),
    OutcomeClass.attended: ("on_time", "submitted", "interviewer_reported"),
    OutcomeClass.attended_late: ("late_join", "submitted_late", "interviewer_reported"),
}

Claim = tuple[str, str]
CONTACT_WRONG: Claim = ("核实候选人的联系方式", "Check the candidate's contact details")
READ: Claim = ("已读通知", "read the messages")
TRIED_TO_JOIN: Claim = ("尝试进入", "tried to join")
LEFT_EARLY: Claim = ("中途", "left early")
UNREAD: Claim = ("未读", "did not read")
MISSED: Claim = ("未参加", "missed")
ALLOWED: dict[Claim, set[tuple[OutcomeClass, str]]] = {
    CONTACT_WRONG: {(OutcomeClass.missed_not_reached, "undelivered")},
    READ: {(OutcomeClass.missed_read_no_show, "read")},
    TRIED_TO_JOIN: {(OutcomeClass.missed_technical, "join_error"), (OutcomeClass.missed_technical,
                                                                    "repeated_attempts")},
    LEFT_EARLY: set(),
    UNREAD: {(OutcomeClass.missed_not_reached, "delivered_unread")},
    MISSED: {(c, s) for c, subs in SUBS.items() if c.value.startswith("missed") for s in subs},
}


def a_case(outcome: OutcomeClass, sub: str) -> Case:
    interview = Interview(source="acme.fs", remote_id="iv1", kind=InterviewKind.video, start_at=START,
                          end_at=START + timedelta(minutes=45), interviewer_ids=("open_id:ou_a",),
                          thread=AppointmentThread(thread_id="t1", ical_uid="iv1@x"), candidate_id="acme.ats/c1")
    sms = Notification(source="acme.sms", remote_id="n1", interview_id=interview.id,
                       occurred_at=START - timedelta(days=1), purpose=NotificationPurpose.reminder_t1d,
                       channel=Channel.sms, recipient="138****5678")
    delivered = DeliveryEvent(source="acme.sms", remote_id="d1", interview_id=interview.id,
                              occurred_at=sms.occurred_at, notification_id=sms.id, type=DeliveryType.delivered,
                              channel=Channel.sms)
    decided = Outcome(interview_id=interview.id, outcome=outcome, sub_reason=sub, rule_version="t", decided_at=START)
    candidate = CandidateView("acme.ats/c1", "张三", "zh-CN", "Asia/Shanghai",
                              (Contact(Channel.sms, "138****5678", "h1"),))
    return Case("acme", decided, interview, candidate, (sms, delivered), None)


def hr_purposes(outcome: OutcomeClass) -> set[str]:
    """The HR texts a decision of `outcome` can send: its playbook's, the hand-over task (a candidate step that
    cannot be sent, re-invites used up) and, for a miss, the second-miss task."""
    steps = {s.purpose for s in DEFAULTS[outcome].steps if s.to in ("hr", "interviewers")} | {"hr_decision"}
    return steps | ({"second_miss"} if outcome.value.startswith("missed") else set()) | (
        {"hr_fyi_offer"} if "hr_fyi" in steps else set())


@pytest.mark.parametrize(("outcome", "sub"), [(c, s) for c, subs in SUBS.items() for s in subs])
def test_hr_texts_claim_only_what_the_evidence_shows(outcome: OutcomeClass, sub: str) -> None:
    case = a_case(outcome, sub)
    for purpose in sorted(hr_purposes(outcome)):
        for i, locale in enumerate(("zh-CN", "en")):
            title, text = staff_text(purpose, case, "Asia/Shanghai", locale)
            told = f"{title}\n{text}"
            for claim, where in ALLOWED.items():
                if (outcome, sub) not in where:
                    assert claim[i] not in told, f"{purpose}/{locale} says {claim[i]!r}:\n{told}"


def test_a_delivered_sms_with_no_sign_of_reading_is_not_a_contact_data_problem() -> None:
    silent = a_case(OutcomeClass.missed_not_reached, "delivered_read_unknown")
    title, text = staff_text("contact_fix", silent, "Asia/Shanghai", "en")
    assert "no sign they were read" in title and "the contact details need no check" in text
    assert "Call the candidate (phone 138****5678) or try a channel that shows reads" in text
    zh_title, zh = staff_text("contact_fix", silent, "Asia/Shanghai", "zh-CN")
    assert "没有已读迹象" in zh_title and "联系方式不必核实" in zh and "请直接致电候选人（手机 138****5678）" in zh
    bounced = a_case(OutcomeClass.missed_not_reached, "undelivered")
    assert "Check the candidate's contact details (phone 138****5678)" in staff_text(
        "contact_fix", bounced, "Asia/Shanghai", "en")[1]


def test_the_interviewers_answers_are_in_hr_s_evidence_counted_or_not() -> None:
    case = a_case(OutcomeClass.missed_technical, "interviewer_reported")
    answers = tuple(AttendanceReport(source="acme.fs", remote_id=f"answer:iv1:0:{who}", interview_id=case.interview.id,
                                     occurred_at=START + timedelta(hours=1), reporter_id=who, verdict=verdict)
                    for who, verdict in (("open_id:ou_a", AttendanceVerdict.technical),
                                         ("open_id:ou_z", AttendanceVerdict.attended)))
    told = dataclasses.replace(case, evidence=case.evidence + answers)
    title, text = staff_text("hr_fyi", told, "Asia/Shanghai", "en")
    assert title == "[Handled] The interviewer reported a technical problem in 张三's interview"
    assert "interviewer open_id:ou_a answered: Technical problem" in text
    assert "open_id:ou_z answered: Attended (not an interviewer of this interview, not counted)" in text


def test_every_sub_reason_reconciliation_gives_is_covered_here() -> None:
    """The sub-reasons are read from the rules' `_explained`: a new one needs its HR text checked above."""
    tree = ast.parse(RULES.read_text(encoding="utf-8"))
    explained = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "_explained")
    named = {n.value for n in ast.walk(explained) if isinstance(n, ast.Constant) and isinstance(n.value, str)
             and re.fullmatch(r"[a-z]+(_[a-z]+)+", n.value)}
    named |= {n.value for n in ast.walk(explained) if isinstance(n, ast.Constant) and n.value == "read"}
    covered = {s for subs in (*SUBS.values(), *QUIET.values()) for s in subs}
    assert named - covered == set()
    assert set(SUBS) | set(QUIET) == set(OutcomeClass)
