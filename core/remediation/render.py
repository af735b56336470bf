"""Texts of HR tasks and messages, and of the candidate's messages, in the reader's locale.

An HR text says in one glance who (name, masked phone), which interview, what happened with the
evidence (what was sent when on which channel, read or not, clicks and join attempts), and one
clear next step. Texts are plain text; the links (the next step's buttons) travel beside them in the
payload, never inside. Values from outside Lifeline (names, platforms, error codes) are filled in
through the templates' `!u` fields (`lifeline_hub.core.markup.fill`): defanged, on one line. Everything meant for
staff passes `redact`, so neither a raw phone number nor a secret gets through, even from a
`lifeline_render_task` plugin.
"""

from __future__ import annotations

from datetime import datetime

from lifeline_hub.core.http.redact import redact
from lifeline_hub.core.markup import fill
from lifeline_hub.core.models import Interview, OutcomeClass
from lifeline_hub.core.remediation.case import Case
from lifeline_hub.core.remediation.texts import T, short, when, window
from lifeline_hub.core.remediation.trail import Sent, Trail, summarise

STAFF_PURPOSES = ("hr_fyi", "hr_fyi_offer", "hr_decision", "contact_fix", "partial", "update_ats", "second_miss", "ask",
                  "unanswered")
OFFERS = ("technical", "resend", "reschedule_offer")
"""Candidate messages whose text already points to the reschedule link."""


def _state_key(sent: Sent) -> str:
    """What is known of a send, never more than its channel observes (`ChannelInfo`)."""
    info = sent.channel.info
    if sent.state == "sent" and not info.delivery_known:
        return "state.sent_unobservable"
    if sent.state == "delivered" and not info.read_known:
        return "state.delivered_read_unknown"
    return f"state.{sent.state}"


def evidence_lines(trail: Trail, zone: str, locale: str) -> list[str]:
    t = T[locale]
    lines = [fill(t["ev.sent"], at=short(s.at, zone), channel=s.channel.info.label_for(locale),
                  purpose=t[f"purpose.{s.purpose.value}"], state=t[_state_key(s)])
             for s in trail.sent] or [t["ev.none"]]
    if trail.opens or trail.join_attempts or trail.machine_opens:
        machine = fill(t["ev.machine"], n=trail.machine_opens) if trail.machine_opens else ""
        lines.append(fill(t["ev.clicks"], opens=trail.opens, attempts=trail.join_attempts, machine=machine))
    if trail.join_errors:
        codes = ", ".join(sorted(trail.join_errors))
        lines.append(fill(t["ev.errors"], n=sum(trail.join_errors.values()), codes=codes))
    lines += [fill(t["ev.confirm"], at=short(at, zone), action=t[f"confirm.{action.value}"])
              for at, action in trail.confirmations]
    lines += [fill(t["ev.report" if a.counted else "ev.report_other"], at=short(a.at, zone), who=a.by,
                   verdict=t[f"answer.{a.verdict.value}"]) for a in trail.answers]
    joined = fill(t["ev.joined"], minutes=round(trail.attended_minutes)) if trail.joined else t["ev.not_joined"]
    return [*lines, joined]


def interview_line(interview: Interview, zone: str, locale: str) -> str:
    t = T[locale]
    platform = fill(t["hr.platform"], platform=interview.platform) if interview.platform else ""
    return fill(t["hr.interview"], kind=t[f"kind.{interview.kind.value}"],
                when=window(interview.start_at, interview.end_at, zone, locale), platform=platform)


def who_line(case: Case, locale: str) -> str:
    t = T[locale]
    phone = case.candidate.phone if case.candidate else None
    return fill(t["hr.who"], name=candidate_name(case), phone=fill(t["hr.phone"], phone=phone) if phone else "")


def candidate_name(case: Case) -> str:
    return case.candidate.name if case.candidate else case.interview.candidate_id or "?"


def staff_text(purpose: str, case: Case, zone: str, locale: str, count: int = 0) -> tuple[str, str]:
    """(title, text) of an HR task or message about `case`, in plain text."""
    t = T[locale]
    purpose = purpose if purpose in STAFF_PURPOSES else "hr_decision"
    name = candidate_name(case)
    phone = case.candidate.phone if case.candidate else None
    outcome, sub = case.outcome.outcome.value, case.outcome.sub_reason
    what = t.get(f"outcome.{outcome}.{sub}") or t.get(f"outcome.{outcome}", outcome)
    if sub:
        what = fill(t["hr.why"], what=what, why=sub)
    step = fill(t.get(f"{purpose}.step.{sub}") or t[f"{purpose}.step"],
                phone=fill(t["hr.phone"], phone=phone) if phone else "")
    trail = summarise(case.evidence, case.interview.interviewer_ids)
    lines = [
        who_line(case, locale), interview_line(case.interview, zone, locale), fill(t["hr.what"], what=what), "",
        t["ev.title"], *(f"· {line}" for line in evidence_lines(trail, zone, locale)), "",
        fill(t["hr.next"], step=step),
    ]
    if case.outcome.outcome.value.startswith("missed") or case.outcome.outcome is OutcomeClass.unknown:
        lines.append(t["hr.advice"])
    title = fill(t.get(f"{purpose}.title.{sub}") or t[f"{purpose}.title"], name=name, count=count + 1)
    return redact(title), redact("\n".join(lines))


def question_text(case: Case, zone: str, locale: str) -> tuple[str, str]:
    """(title, text) of "Did <candidate> attend?" to an interviewer: the interview and the four answers (its
    buttons or links travel beside it); no contact data, an interviewer needs none to answer."""
    t = T[locale]
    name = candidate_name(case)
    lines = [fill(t["q.who"], name=name), interview_line(case.interview, zone, locale), "", t["q.body"]]
    return redact(fill(t["q.title"], name=name)), redact("\n".join(lines))


def candidate_text(purpose: str, name: str, locale: str, zone: str, start_at: datetime, *, reschedule: bool = False,
                   keep: bool = False) -> tuple[str, str]:
    """(title, text) of a message to the candidate; `purpose` reissued_link, resend, reschedule_offer,
    rescheduled or refused (`keep`: the original time still stands; `reschedule`: the message carries
    the reschedule link). The text points to its links, which travel beside it."""
    t = T[locale]
    if purpose == "refused":
        body = t["c.refused.keep" if keep else "c.refused.contact"]
        title = t["c.refused.title"]
    else:
        purpose = purpose if f"c.{purpose}.body" in t else "reschedule_offer"
        body, title = t[f"c.{purpose}.body"], t[f"c.{purpose}.title"]
    text = fill(body, when=when(start_at, zone, locale))
    if reschedule and purpose not in OFFERS:
        text += "\n" + t["c.reschedule_more"]
    return title, "\n".join((fill(t["c.hello"], name=name), text, t["c.sign"]))


def incident_text(platform: str, count: int, window_minutes: int, first: datetime, zone: str,
                  locale: str) -> tuple[str, str]:
    t = T[locale]
    fields = {"platform": platform, "count": count, "window": window_minutes, "first": when(first, zone, locale)}
    return redact(fill(t["incident.title"], **fields)), redact(fill(t["incident.body"], **fields))
