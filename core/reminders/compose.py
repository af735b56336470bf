"""Reminder texts and payloads: the candidate's in their language and zone, the interviewers' in the tenant's.

Every candidate reminder carries the join link and the confirm link (an IM message to the candidate's account:
title, text and the links as its buttons); an e-mail also carries the
calendar invitation of the interview version (same UID, its SEQUENCE); an SMS passes the links'
tokens as template variables `code` (join) and `confirm` (URLs cannot be SMS variables). The
interviewers' reminder carries the ATS's meeting URL (when it is a web address) as its link.

Texts are plain text (`lifeline_hub.core.markup`): links travel beside them as `links`, never inside, and a value
from outside Lifeline (the candidate's name) fills a `!u` field, so it arrives defanged and on one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lifeline_hub.core.actions import CalendarInvite, Link
from lifeline_hub.core.links import LinkPurpose, issue_token, join_link, public_base_url
from lifeline_hub.core.markup import fill, untrusted
from lifeline_hub.core.models import Audience, Interview, NotificationPurpose, zone_info
from lifeline_hub.core.remediation.payloads import payload_of
from lifeline_hub.core.remediation.render import interview_line
from lifeline_hub.core.remediation.texts import T, locale_of, when, zone_name
from lifeline_hub.core.reminders.routes import Person, Route
from lifeline_hub.core.store import Store

TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title.reminder": "面试提醒：{when}", "title.confirm_request": "请确认您的面试：{when}",
        "title.urgent": "重要：您的面试即将开始（{when}）",
        "hello": "{name!u}您好，", "sign": "—— 招聘团队",
        "body.reminder": "您的{kind}将于 {when}（{zone}）开始，请准时参加。",
        "body.confirm_request": "您的{kind}将于 {when}（{zone}）开始。请点击下方“确认 / 改期”链接告诉我们您能否参加。",
        "body.urgent": "您的{kind}即将于 {when}（{zone}）开始，我们还没有收到您的回执，请务必准时参加。",
        "link.join": "进入面试", "link.confirm": "确认 / 改期",
        "staff.title": "面试提醒：{name!u}，{when}", "staff.join": "进入会议",
    },
    "en": {
        "title.reminder": "Interview reminder: {when}",
        "title.confirm_request": "Please confirm your interview: {when}",
        "title.urgent": "Important: your interview starts soon ({when})",
        "hello": "Hello {name!u},", "sign": "— The recruiting team",
        "body.reminder": "Your {kind} starts {when} ({zone}). Please be on time.",
        "body.confirm_request": "Your {kind} starts {when} ({zone}). Please use the 'Confirm / reschedule' link "
                                "below to tell us whether you can make it.",
        "body.urgent": "Your {kind} starts {when} ({zone}) and we have not heard back from you: please be on time.",
        "link.join": "Join the interview", "link.confirm": "Confirm / reschedule",
        "staff.title": "Interview reminder: {name!u}, {when}", "staff.join": "Join the meeting",
    },
}
CONFIRM_PATH = "/c/"


@dataclass(frozen=True)
class Links:
    join: str
    confirm: str

    @staticmethod
    def token(url: str) -> str:
        return url.rsplit("/", 1)[-1]


def links(store: Store, interview_id: str, now: datetime) -> Links:
    """The candidate's join and confirm links for the interview's current version (issued on first use)."""
    confirm = issue_token(store, interview_id, purpose=LinkPurpose.confirm, now=now)
    return Links(join_link(store, interview_id, now=now), f"{public_base_url()}{CONFIRM_PATH}{confirm.token}")


def _style(purpose: NotificationPurpose) -> str:
    return purpose.value if purpose in (NotificationPurpose.confirm_request, NotificationPurpose.urgent) else "reminder"


def candidate_payload(route: Route, purpose: NotificationPurpose, person: Person, interview: Interview, urls: Links,
                      tenant_locale: str, now: datetime) -> dict[str, Any]:
    """The `send_sms`, `send_email` or `send_message` (to the candidate's account) payload of one reminder."""
    zone, kind = person.timezone, route.kind
    if kind == "send_sms":
        local = interview.start_at.astimezone(zone_info(zone)).strftime("%Y-%m-%d %H:%M")
        return payload_of(kind, recipient=person.id, purpose=purpose, interview_id=interview.id, params={
            "name": untrusted(person.name)[:20], "time": local, "code": Links.token(urls.join),
            "confirm": Links.token(urls.confirm)})
    locale = locale_of(person.locale, tenant_locale)
    t, style, at = TEXTS[locale], _style(purpose), when(interview.start_at, zone, locale)
    body = fill(t[f"body.{style}"], kind=T[locale][f"kind.{interview.kind.value}"], when=at,
                zone=zone_name(zone, locale))
    title = fill(t[f"title.{style}"], when=at)
    text = "\n\n".join((fill(t["hello"], name=person.name), body, t["sign"]))
    buttons = (Link(label=t["link.join"], url=urls.join), Link(label=t["link.confirm"], url=urls.confirm))
    if kind == "send_message":
        return payload_of(kind, recipients=(route.account,), title=title, text=text, links=buttons,
                          interview_id=interview.id, purpose=purpose.value, audience=Audience.candidate)
    invite = CalendarInvite(ical_uid=interview.thread.ical_uid, sequence=interview.thread.sequence,
                            start_at=interview.start_at, end_at=interview.end_at, summary=title,
                            location=urls.join, description=body, issued_at=now)
    return payload_of(kind, recipient=person.id, recipient_name=untrusted(person.name), purpose=purpose,
                      subject=title, text=text, links=buttons, interview_id=interview.id, calendar=invite)


def staff_payload(purpose: NotificationPurpose, interview: Interview, name: str, zone: str,
                  locale: str) -> dict[str, Any]:
    """The interviewers' `send_message` reminder (their platform ids, the tenant's zone and language); the
    meeting URL is its link when it is a web address (what the candidate's `/j/` link redirects to as well)."""
    t = TEXTS[locale]
    url = interview.join_url or ""
    links = (Link(label=t["staff.join"], url=url),) if url.startswith(("https://", "http://")) else ()
    return payload_of("send_message", recipients=interview.interviewer_ids, interview_id=interview.id,
                      title=fill(t["staff.title"], name=name, when=when(interview.start_at, zone, locale)),
                      text=interview_line(interview, zone, locale), links=links, purpose=purpose.value,
                      audience=Audience.staff)
