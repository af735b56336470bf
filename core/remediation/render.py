"""Texts of HR tasks and messages, and of the candidate's messages, in the reader's locale.

An HR text says in one glance who (name, masked phone), which interview, what happened with the
evidence (what was sent when on which channel, read or not, clicks and join attempts), and one
clear next step with its links. Everything meant for staff passes `redact`, so neither a raw phone
number nor a secret gets through, even from a `lifeline_render_task` plugin; only the links Lifeline
made itself are added after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.actions import Link
from core.http.redact import redact
from core.models import Interview, OutcomeClass
from core.remediation.case import Case
from core.remediation.texts import T, short, when, window
from core.remediation.trail import Trail, summarise

STAFF_PURPOSES = ("hr_fyi", "hr_fyi_offer", "hr_decision", "contact_fix", "partial", "update_ats", "second_miss", "ask")


def evidence_lines(trail: Trail, zone: str, locale: str) -> list[str]:
    t = T[locale]
    lines = [t["ev.sent"].format(at=short(s.at, zone), channel=t[f"channel.{s.channel.value}"],
                                 purpose=t[f"purpose.{s.purpose.value}"], state=t[f"state.{s.state}"])
             for s in trail.sent] or [t["ev.none"]]
    if trail.opens or trail.join_attempts or trail.machine_opens:
        machine = t["ev.machine"].format(n=trail.machine_opens) if trail.machine_opens else ""
        lines.append(t["ev.clicks"].format(opens=trail.opens, attempts=trail.join_attempts, machine=machine))
    if trail.join_errors:
        codes = ", ".join(sorted(trail.join_errors))
        lines.append(t["ev.errors"].format(n=sum(trail.join_errors.values()), codes=codes))
    lines += [t["ev.confirm"].format(at=short(at, zone), action=t[f"confirm.{action.value}"])
              for at, action in trail.confirmations]
    joined = t["ev.joined"].format(minutes=round(trail.attended_minutes)) if trail.joined else t["ev.not_joined"]
    return [*lines, joined]


def interview_line(interview: Interview, zone: str, locale: str) -> str:
    t = T[locale]
    platform = t["hr.platform"].format(platform=interview.platform) if interview.platform else ""
    return t["hr.interview"].format(kind=t[f"kind.{interview.kind.value}"],
                                    when=window(interview.start_at, interview.end_at, zone, locale),
                                    platform=platform)


def who_line(case: Case, locale: str) -> str:
    t = T[locale]
    phone = case.candidate.phone if case.candidate else None
    return t["hr.who"].format(name=candidate_name(case), phone=t["hr.phone"].format(phone=phone) if phone else "")


def candidate_name(case: Case) -> str:
    return case.candidate.name if case.candidate else case.interview.candidate_id or "?"


def staff_text(purpose: str, case: Case, zone: str, locale: str, links: Sequence[Link] = (),
               count: int = 0) -> tuple[str, str]:
    """(title, text) of an HR task or message about `case`."""
    t = T[locale]
    purpose = purpose if purpose in STAFF_PURPOSES else "hr_decision"
    name = candidate_name(case)
    phone = case.candidate.phone if case.candidate else None
    what = t.get(f"outcome.{case.outcome.outcome.value}", case.outcome.outcome.value)
    if case.outcome.sub_reason:
        what = f"{what} ({case.outcome.sub_reason})"
    step = t[f"{purpose}.step"].format(phone=t["hr.phone"].format(phone=phone) if phone else "")
    lines = [
        who_line(case, locale), interview_line(case.interview, zone, locale), t["hr.what"].format(what=what), "",
        t["ev.title"], *(f"· {line}" for line in evidence_lines(summarise(case.evidence), zone, locale)), "",
        t["hr.next"].format(step=step),
    ]
    if case.outcome.outcome.value.startswith("missed") or case.outcome.outcome is OutcomeClass.unknown:
        lines.append(t["hr.advice"])
    title = t[f"{purpose}.title"].format(name=name, count=count + 1)
    return redact(title), with_links(redact("\n".join(lines)), links)


def with_links(text: str, links: Sequence[Link]) -> str:
    """`text` and a line per link (links are made here: signed HR links, vendor pages; never redacted)."""
    return "\n".join([text, *(f"→ {link.label}: {link.url}" for link in links)])


def candidate_text(purpose: str, name: str, locale: str, zone: str, start_at: datetime, *, join: str = "",
                   reschedule: str = "", keep: bool = False) -> tuple[str, str]:
    """(title, text) of a message to the candidate; `purpose` reissued_link, resend, reschedule_offer,
    rescheduled or refused (`keep`: the original time still stands)."""
    t = T[locale]
    if purpose == "refused":
        body = t["c.refused.keep" if keep else "c.refused.contact"]
        title = t["c.refused.title"]
    else:
        purpose = purpose if f"c.{purpose}.body" in t else "reschedule_offer"
        body, title = t[f"c.{purpose}.body"], t[f"c.{purpose}.title"]
    text = body.format(when=when(start_at, zone, locale), join=join, reschedule=reschedule)
    if reschedule and "{reschedule}" not in body:
        text += "\n" + t["c.reschedule_more"].format(reschedule=reschedule)
    return title, "\n".join((t["c.hello"].format(name=name), text, t["c.sign"]))


def incident_text(platform: str, count: int, window_minutes: int, first: datetime, zone: str,
                  locale: str) -> tuple[str, str]:
    t = T[locale]
    fields = {"platform": platform, "count": count, "window": window_minutes, "first": when(first, zone, locale)}
    return redact(t["incident.title"].format(**fields)), redact(t["incident.body"].format(**fields))
