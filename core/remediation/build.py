"""Turn the steps of a playbook into outbox rows for one case: routed, rendered, keyed.

Keys are `idempotency_key(interview, origin version, "<kind>/<step>", sequence)`: the same
decision about the same appointment always yields the same keys, so planning twice plans once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lifeline_hub.core.actions import Link
from lifeline_hub.core.config import Config
from lifeline_hub.core.http.redact import redact
from lifeline_hub.core.links import join_link
from lifeline_hub.core.models import (
    Action,
    ActionStatus,
    Audience,
    Interview,
    InterviewKind,
    NotificationPurpose,
    idempotency_key,
)
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.remediation.answers import VERDICTS
from lifeline_hub.core.remediation.case import Case
from lifeline_hub.core.remediation.links import (
    AnswerLink,
    HrAction,
    HrLink,
    answer_token,
    answer_url,
    hr_link,
    reschedule_link,
)
from lifeline_hub.core.remediation.messages import compose, outside_quiet_hours, payload
from lifeline_hub.core.remediation.payloads import payload_of
from lifeline_hub.core.remediation.policies import STEPS, Step
from lifeline_hub.core.remediation.render import question_text, staff_text
from lifeline_hub.core.remediation.routes import Route, Unroutable, route
from lifeline_hub.core.remediation.texts import T
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import actions

HR_LINKS: dict[str, tuple[HrAction, ...]] = {
    "hr_fyi": ("reissue", "attended"), "hr_fyi_offer": ("attended",), "hr_decision": ("offer", "attended"),
    "contact_fix": ("offer",), "partial": ("reissue", "attended"), "second_miss": ("offer", "attended"),
    "ask": ("attended",), "unanswered": ("attended", "offer"),
}
REINVITES = frozenset({NotificationPurpose.reissued_link.value, NotificationPurpose.reschedule_offer.value})
"""Message purposes that re-invite the candidate (what `max_auto_reinvites` counts)."""
MESSAGE_KINDS = ("send_message", "send_email", "send_sms")


def reissue_window(interview: Interview) -> timedelta:
    """How long a re-issued invitation stays open: the interview's own window, one to seven days."""
    return min(max(interview.end_at - interview.start_at, timedelta(days=1)), timedelta(days=7))

@dataclass
class Built:
    actions: list[Action] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def action_key(case: Case, step: Step, recipient: str | None = None) -> str:
    """The step's key; `recipient` for a step sent to each person apart (the interviewers' question)."""
    kind = f"{step.kind}/{step.name}" + (f"/{recipient}" if recipient else "")
    return idempotency_key(case.interview.id, case.origin_version, kind, case.sequence)


def per_interviewer(case: Case, step: Step, where: Route) -> bool:
    """Whether `step` goes to each interviewer apart: the question, when it reaches the interviewers
    themselves (their answers are signed per person), not HR in their place."""
    return (step.purpose == "ask" and step.kind == "send_message"
            and set(where.recipients) <= set(case.interview.interviewer_ids))


def answer_links(config: Config, case: Case, interviewer: str, via: str, due_at: datetime) -> list[Link]:
    """The question's four answers, signed for `interviewer` on connector instance `via`: a page link each,
    and the same signed value for platforms whose cards call back."""
    t = T[config.tenant(case.tenant).locale]
    links = []
    for verdict in VERDICTS:
        answer = AnswerLink(verdict, case.tenant, case.interview.id, case.sequence, interviewer, via)
        token = answer_token(answer, due_at)
        links.append(Link(label=t[f"answer.{verdict.value}"], url=answer_url(token), callback=token))
    return links


def staff_links(config: Config, case: Case, purpose: str, due_at: datetime) -> list[Link]:
    """HR's next steps for `purpose`, working until a while after `due_at` (the task's due time)."""
    locale = config.tenant(case.tenant).locale
    return [Link(label=T[locale][f"link.{a}"],
                 url=hr_link(HrLink(a, case.tenant, case.interview.id, case.sequence), due_at=due_at))
            for a in HR_LINKS.get(purpose, ())]


class Builder:
    """Builds the actions of one planning run (a store for link tokens, the config, the plugins)."""

    def __init__(self, store: Store, config: Config, host: PluginHost, now: datetime) -> None:
        self.store, self.config, self.host, self.now = store, config, host, now

    def settled(self, keys: list[str]) -> set[str]:
        """Those of `keys` already dispatched (or being): building them again would change nothing
        but rotate links the candidate already holds."""
        with self.store.engine.connect() as conn:
            return set(conn.execute(sa.select(actions.c.idempotency_key).where(
                actions.c.idempotency_key.in_(keys),
                actions.c.status.in_([ActionStatus.claimed.value, ActionStatus.done.value, ActionStatus.dead.value]),
            )).scalars())

    def build(self, case: Case, steps: tuple[Step, ...], earlier_misses: int = 0) -> Built:
        """The actions of `steps`; a candidate step that cannot be routed hands over to an HR task."""
        built = Built()
        handover = False
        settled = self.settled([action_key(case, s) for s in steps])
        for step in steps:
            if action_key(case, step) in settled:
                built.steps.append(step.name)
                continue
            try:
                where = route(self.config, case, step)
                if per_interviewer(case, step, where):
                    built.actions += self.questions(case, step, where)
                else:
                    built.actions.append(self.action(case, step, where, earlier_misses))
                built.steps.append(step.name)
            except Unroutable as exc:
                if step.to == "platform":
                    continue  # the source cannot re-issue: Lifeline's own link is rotated anyway
                built.problems.append(f"{case.interview.id}: step {step.name}: {exc}")
                handover = handover or step.to == "candidate"
        hr_task = STEPS["hr_decision"]
        if handover and not any(s.kind == "create_task" and s.to == "hr" for s in steps):
            try:
                built.actions.append(self.action(case, hr_task, route(self.config, case, hr_task), earlier_misses))
                built.steps.append(hr_task.name)
            except Unroutable as exc:
                built.problems.append(f"{case.interview.id}: step {hr_task.name}: {exc}")
        return built

    def action(self, case: Case, step: Step, where: Route, earlier_misses: int = 0) -> Action:
        if step.to == "platform":
            payload = payload_of(step.kind, invitation_id=case.interview.remote_id, reason="technical",
                                 new_deadline=self.now + reissue_window(case.interview))
        elif step.to == "candidate":
            payload = self.candidate_payload(case, step, where)
        else:
            payload = self.staff_payload(case, step, where, earlier_misses)
        due = self.now + timedelta(minutes=step.delay_minutes)
        if step.to == "candidate" and case.candidate is not None:
            due = outside_quiet_hours(due, case.candidate.timezone, self.config.tenant(case.tenant).policy.quiet_hours)
        action = Action(
            idempotency_key=action_key(case, step), tenant=case.tenant, connector=where.connector, kind=where.kind,
            interview_id=case.interview.id, outcome_version=case.outcome.version, payload=payload, due_at=due,
        )
        return self.rendered_by_plugin(case, action) if step.to != "candidate" else action

    def questions(self, case: Case, step: Step, where: Route) -> list[Action]:
        """"Did <candidate> attend?" to each interviewer apart (those asked before are not asked again)."""
        keys = {who: action_key(case, step, who) for who in where.recipients}
        settled = self.settled(list(keys.values()))
        tenant = self.config.tenant(case.tenant)
        due = self.now + timedelta(hours=tenant.policy.task_due_hours)
        title, text = question_text(case, tenant.timezone, tenant.locale)
        return [Action(
            idempotency_key=key, tenant=case.tenant, connector=where.connector, kind=where.kind,
            interview_id=case.interview.id, outcome_version=case.outcome.version, due_at=self.now,
            payload=payload_of(where.kind, recipients=(who,), title=title, text=text,
                               links=answer_links(self.config, case, who, where.connector, due),
                               interview_id=case.interview.id, purpose=NotificationPurpose.hr_task,
                               audience=Audience.staff),
        ) for who, key in keys.items() if key not in settled]

    def candidate_payload(self, case: Case, step: Step, where: Route) -> dict[str, Any]:
        candidate = case.candidate
        assert candidate is not None  # routed to the candidate
        interview = case.interview
        purpose, join = step.purpose, ""
        if purpose == "reissued_link":
            if self.slot_open(case):
                join = join_link(self.store, interview.id, reissue=True, now=self.now)
            else:
                purpose = "technical"  # the slot is gone: a new time, not a dead link
        reschedule = "" if join and where.kind == "send_sms" else reschedule_link(self.store, interview.id, self.now)
        letter = compose(purpose, candidate, self.config.tenant(case.tenant).locale, interview, join=join,
                         reschedule=reschedule)
        return payload(where, candidate, interview.id, letter)

    def slot_open(self, case: Case) -> bool:
        """Whether a fresh link still helps: an async interview (reset), or a live one not over yet."""
        return case.interview.kind is InterviewKind.ai_async or case.interview.end_at > self.now

    def staff_payload(self, case: Case, step: Step, where: Route, earlier_misses: int) -> dict[str, Any]:
        tenant = self.config.tenant(case.tenant)
        purpose = "hr_fyi_offer" if step.purpose == "hr_fyi" and not self.slot_open(case) else step.purpose
        due = self.now + timedelta(hours=tenant.policy.task_due_hours)
        links = staff_links(self.config, case, purpose, due)
        title, text = staff_text(purpose, case, tenant.timezone, tenant.locale, count=earlier_misses)
        if step.kind == "create_task":
            return payload_of("create_task", assignees=where.recipients, title=title, description=text, due_at=due,
                              links=links, interview_id=case.interview.id)
        return payload_of(step.kind, recipients=where.recipients, title=title, text=text, links=links,
                          interview_id=case.interview.id, purpose=NotificationPurpose.hr_task, audience=Audience.staff)

    def rendered_by_plugin(self, case: Case, action: Action) -> Action:
        """Let a `lifeline_render_task` plugin replace the text (redacted; Lifeline's links stay beside it)."""
        if action.kind not in ("send_message", "create_task") or not self.host.implements("lifeline_render_task"):
            return action
        text = self.host.render_task(action, case.interview, case.evidence)
        if not isinstance(text, str) or not text.strip():
            return action
        field_name = "description" if action.kind == "create_task" else "text"
        payload = {**action.payload, field_name: redact(text)}
        return action.model_copy(update={"payload": payload})
