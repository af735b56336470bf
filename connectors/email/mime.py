"""The e-mail itself: `multipart/alternative` text + HTML + `text/calendar; method=...` (channels.md §2).

The iCalendar object is built with `icalendar`: one VEVENT with the thread's stable UID, the
payload's SEQUENCE, UTC times (no VTIMEZONE to drift), DTSTAMP fixed by the payload, ORGANIZER =
the From mailbox and the candidate as ATTENDEE. `confirmed` is METHOD:REQUEST (invite or
reschedule), `cancelled` is METHOD:CANCEL with STATUS:CANCELLED. The calendar part gets the
`to_ical()` bytes so CRLF survives any serializer; `invite.ics` repeats them as an attachment.
No images, no tracking pixels: an opened e-mail proves nothing (privacy proxies prefetch).
The payload's texts are plain text (`lifeline_hub.core.markup`): the HTML part escapes them, and the subject and the
candidate's name are put on one line (`one_line`), so none can end a header and start another.
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from icalendar import Calendar, Event, vCalAddress
from icalendar.enums import STATUS

from lifeline_hub.connectors.email.settings import EmailSettings
from lifeline_hub.core.actions import CalendarInvite, SendEmail
from lifeline_hub.core.markup import one_line

_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def message_id(idempotency_key: str, domain: str) -> str:
    """A Message-ID derived from the idempotency key only: a retry sends the same one."""
    left = idempotency_key if _SAFE_ID.fullmatch(idempotency_key) else hashlib.sha256(
        idempotency_key.encode()).hexdigest()[:40]
    return f"<{left}@{domain}>"


def method(invite: CalendarInvite) -> str:
    return "CANCEL" if invite.status == "cancelled" else "REQUEST"


def build_ics(settings: EmailSettings, invite: CalendarInvite, address: str, name: str) -> bytes:
    """The iTIP object (METHOD REQUEST or CANCEL) for one attendee."""
    organizer = vCalAddress(f"mailto:{settings.from_address}")
    organizer.params["CN"] = settings.from_name
    attendee = vCalAddress(f"mailto:{address}")
    attendee.params.update({"CUTYPE": "INDIVIDUAL", "ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION",
                            "RSVP": "TRUE" if invite.status == "confirmed" else "FALSE"})
    if name:
        attendee.params["CN"] = name
    event = Event.new(uid=invite.ical_uid, sequence=invite.sequence, start=invite.start_at, end=invite.end_at,
                      stamp=invite.issued_at, summary=invite.summary, location=invite.location or None,
                      description=invite.description or None, organizer=organizer, attendees=[attendee],
                      status=STATUS.CANCELLED if invite.status == "cancelled" else STATUS.CONFIRMED)
    calendar = Calendar.new(method=method(invite), prodid=settings.prodid, subcomponents=[event])
    del calendar["UID"]  # Calendar.new adds a random VCALENDAR UID (RFC 7986): not for iMIP, and not stable
    ics: bytes = calendar.to_ical()
    return ics


def bodies(payload: SendEmail) -> tuple[str, str]:
    """Plain text and HTML: the payload's text with its links (HTML escaped, no images)."""
    text = payload.text + "".join(f"\n\n{link.label}: {link.url}" for link in payload.links)
    if payload.html is not None:
        return text, payload.html
    paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in payload.text.split("\n\n"))
    links = "".join(f'<p><a href="{html.escape(link.url, quote=True)}">{html.escape(link.label)}</a></p>'
                    for link in payload.links)
    return text, f'<!DOCTYPE html><html><body>{paragraphs}{links}</body></html>'


def build_message(settings: EmailSettings, payload: SendEmail, address: str, msg_id: str,
                  now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = Address(settings.from_name, addr_spec=settings.from_address)
    name = one_line(payload.recipient_name)
    msg["To"] = Address(name, addr_spec=address)
    msg["Subject"] = one_line(payload.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = msg_id
    text, markup = bodies(payload)
    msg.set_content(text)
    msg.add_alternative(markup, subtype="html")
    if payload.calendar is not None:
        ics = build_ics(settings, payload.calendar, address, name)
        msg.add_alternative(ics, maintype="text", subtype="calendar",
                            params={"method": method(payload.calendar), "charset": "UTF-8"})
        if settings.attach_ics:
            msg.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
        msg["Content-Class"] = "urn:content-classes:calendarmessage"  # after add_attachment, which moves Content-*
    return msg
