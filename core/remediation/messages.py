"""Messages to the candidate: composed once in their language, shaped for the channel's action.

- `send_message` (an IM account): title, text and links;
- `send_email`: subject, text and links, and the calendar invitation (same UID, new SEQUENCE) when
  the interview moved; the e-mail connector builds the `.ics` from it;
- `send_sms`: an approved template per purpose with variables `name`, `time` (`YYYY-MM-DD hh:mm`,
  the candidate's zone) and `code` (the link token: URLs cannot be variables, so the template
  holds the fixed `https://<host>/j/` or `/r/` part).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lifeline_hub.core.actions import CalendarInvite, Link
from lifeline_hub.core.markup import untrusted
from lifeline_hub.core.models import Audience, Interview, NotificationPurpose, zone_info
from lifeline_hub.core.remediation.case import CandidateView
from lifeline_hub.core.remediation.payloads import payload_of
from lifeline_hub.core.remediation.render import candidate_text
from lifeline_hub.core.remediation.routes import Route, Unroutable
from lifeline_hub.core.remediation.texts import T, locale_of

PURPOSES = {
    "reissued_link": NotificationPurpose.reissued_link, "technical": NotificationPurpose.reschedule_offer,
    "resend": NotificationPurpose.reschedule_offer, "reschedule_offer": NotificationPurpose.reschedule_offer,
    "rescheduled": NotificationPurpose.invite, "refused": NotificationPurpose.invite,
}
"""What each message is, in the evidence trail's terms (and which SMS template says it)."""


@dataclass(frozen=True)
class Letter:
    purpose: str
    title: str
    text: str
    links: tuple[Link, ...]
    start_at: datetime
    zone: str
    code: str = ""
    """Token of the link an SMS template carries."""
    calendar: CalendarInvite | None = None


def compose(purpose: str, candidate: CandidateView, tenant_locale: str, interview: Interview, *, join: str = "",
            reschedule: str = "", keep: bool = False, calendar: CalendarInvite | None = None) -> Letter:
    locale = locale_of(candidate.locale, tenant_locale)
    title, text = candidate_text(purpose, candidate.name, locale, candidate.timezone, interview.start_at,
                                 reschedule=bool(reschedule), keep=keep)
    links = tuple(Link(label=T[locale][label], url=url)
                  for label, url in (("link.join", join), ("link.pick", reschedule)) if url)
    if purpose == "refused" and not keep:
        purpose = "refused_no_time"
    link = join or reschedule
    return Letter(purpose, title, text, links, interview.start_at, candidate.timezone,
                  link.rsplit("/", 1)[-1] if link else "", calendar)


def outside_quiet_hours(at: datetime, zone: str, quiet: list[int]) -> datetime:
    """`at`, or the end of the candidate's quiet hours (`[from, to]`, local) when it falls inside them."""
    start, end = quiet
    local = at.astimezone(zone_info(zone))
    inside = (start <= local.hour or local.hour < end) if start > end else start <= local.hour < end
    if not inside or start == end:
        return at
    wake = local.replace(hour=end, minute=0, second=0, microsecond=0)
    return (wake if wake > local else wake + timedelta(days=1)).astimezone(at.tzinfo)


def payload(route: Route, candidate: CandidateView, interview_id: str, letter: Letter) -> dict[str, Any]:
    """The action payload for `route`'s kind."""
    purpose = PURPOSES.get(letter.purpose, NotificationPurpose.reschedule_offer)
    if route.kind == "send_sms":
        if letter.purpose == "refused_no_time":
            raise Unroutable("an SMS template cannot carry this refusal; it needs e-mail or IM")
        local = letter.start_at.astimezone(zone_info(letter.zone)).strftime("%Y-%m-%d %H:%M")
        return payload_of("send_sms", recipient=candidate.id, purpose=purpose, interview_id=interview_id,
                          params={"name": untrusted(candidate.name)[:20], "time": local, "code": letter.code})
    if route.kind == "send_email":
        return payload_of("send_email", recipient=candidate.id, recipient_name=untrusted(candidate.name),
                          purpose=purpose, subject=letter.title, text=letter.text, links=letter.links,
                          interview_id=interview_id, calendar=letter.calendar)
    return payload_of("send_message", recipients=route.recipients, title=letter.title, text=letter.text,
                      links=letter.links, interview_id=interview_id, purpose=purpose, audience=Audience.candidate)
