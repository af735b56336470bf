"""E-mail MIME and iCalendar round trip: what the SMTP server received, parsed back (invite, update, cancel)."""

from __future__ import annotations

import datetime as dt

from lifeline_hub.connectors.email import plugin
from lifeline_hub.connectors.email.emulator_state import MailWorld
from lifeline_hub.connectors.email.plugin import EmailConnector
from lifeline_hub.core.models import DeliveryStatus, Notification
from lifeline_hub.core.plugins import PluginHost
from tests.email.mail_helpers import ADDRESS, ORGANIZER, START, calendar_of, email_action, invite, parse


def test_the_plugin_registers_the_connector() -> None:
    host = PluginHost()
    host.register(plugin, "email")
    cls = host.connector("email")
    assert cls.actions == ("send_email",) and cls.streams == ()
    assert cls.emulator == "lifeline_hub.connectors.email.emulator:create_app"


def test_an_invitation_is_multipart_with_a_request(connector: EmailConnector, mail: MailWorld) -> None:
    result = connector.perform(email_action("ll-inv-0", calendar=invite()))
    (received,) = mail.messages()
    assert received["mail_from"] == ORGANIZER and received["rcpt_tos"] == [ADDRESS]
    message = parse(received["raw"])
    assert message.get_content_type() == "multipart/mixed"
    assert message["Content-Class"] == "urn:content-classes:calendarmessage"
    assert message["Message-ID"] == "<ll-inv-0@hub.example.com>" == f"<{result.remote_id}>"
    assert message["From"].addresses[0].addr_spec == ORGANIZER
    assert (message["To"].addresses[0].addr_spec, message["To"].addresses[0].display_name) == (ADDRESS, "张三")
    assert str(message["Subject"]) == "面试邀请 / Interview invitation"
    alternative, attachment = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html", "text/calendar"]
    assert (attachment.get_content_type(), attachment.get_filename()) == ("application/ics", "invite.ics")
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert "请准时参加面试" in text.get_content() and "https://hub.example.com/c/abc?x=1&y=2" in text.get_content()
    assert 'href="https://hub.example.com/c/abc?x=1&amp;y=2"' in html.get_content()
    assert "<img" not in html.get_content().lower(), "no tracking pixels"
    part, data, calendar = calendar_of(message)
    assert part.get_param("method") == "REQUEST" == str(calendar["METHOD"])
    assert str(part.get_param("charset")).upper() == "UTF-8"
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b""), "iCalendar keeps CRLF"
    assert attachment.get_payload(decode=True) == data
    assert "UID" not in calendar and str(calendar["VERSION"]) == "2.0"
    (event,) = calendar.events
    assert (event.uid, event.sequence, event.start, event.end) == (
        "iv-42@hub.example.com", 0, START, START + dt.timedelta(minutes=45))
    assert str(event["STATUS"]) == "CONFIRMED" and event.stamp == START - dt.timedelta(days=3)
    assert str(event["ORGANIZER"]) == f"mailto:{ORGANIZER}"
    (attendee,) = event.attendees
    assert str(attendee) == f"mailto:{ADDRESS}"
    assert (attendee.params["PARTSTAT"], attendee.params["RSVP"], attendee.params["CN"]) == ("NEEDS-ACTION", "TRUE",
                                                                                              "张三")
    (notification,) = result.records
    assert isinstance(notification, Notification) and notification.status == DeliveryStatus.sent
    assert notification.recipient == "Z***@example.org" and notification.remote_id == "ll-inv-0@hub.example.com"


def test_a_reschedule_is_the_same_uid_with_the_next_sequence(connector: EmailConnector, mail: MailWorld) -> None:
    connector.perform(email_action("ll-inv-0", calendar=invite()))
    moved = START + dt.timedelta(days=1, hours=3)
    connector.perform(email_action("ll-inv-1", calendar=invite(sequence=1, start=moved), purpose="reschedule_offer"))
    first, second = (calendar_of(parse(m["raw"]))[2].events[0] for m in mail.messages())
    assert second.uid == first.uid and second.sequence == first.sequence + 1
    assert second.start == moved and second.stamp > first.stamp
    _, _, calendar = calendar_of(parse(mail.messages()[1]["raw"]))
    assert str(calendar["METHOD"]) == "REQUEST"
    assert parse(mail.messages()[1]["raw"])["Message-ID"] == "<ll-inv-1@hub.example.com>"


def test_a_cancellation_is_a_cancel_with_the_next_sequence(connector: EmailConnector, mail: MailWorld) -> None:
    connector.perform(email_action("ll-inv-2", calendar=invite(sequence=2, status="cancelled"),
                                   purpose="cancellation", subject="面试取消 / Interview cancelled"))
    part, _, calendar = calendar_of(parse(mail.messages()[0]["raw"]))
    assert part.get_param("method") == "CANCEL" == str(calendar["METHOD"])
    (event,) = calendar.events
    assert (event.uid, event.sequence, str(event["STATUS"])) == ("iv-42@hub.example.com", 2, "CANCELLED")
    assert event.attendees[0].params["RSVP"] == "FALSE"


def test_a_retry_sends_the_same_message_id_and_the_same_ics(connector: EmailConnector, mail: MailWorld) -> None:
    connector.perform(email_action("ll-same", calendar=invite()))
    connector.perform(email_action("ll-same", calendar=invite(), attempts=2))
    first, second = (parse(m["raw"]) for m in mail.messages())
    assert first["Message-ID"] == second["Message-ID"] == "<ll-same@hub.example.com>"
    assert calendar_of(first)[1] == calendar_of(second)[1], "byte-identical iTIP object: clients collapse it"


def test_a_plain_message_has_no_calendar(connector: EmailConnector, mail: MailWorld) -> None:
    connector.perform(email_action("ll-plain", text="<script>alert(1)</script>", links=[]))
    message = parse(mail.messages()[0]["raw"])
    assert message.get_content_type() == "multipart/alternative" and message["Content-Class"] is None
    html = message.get_body(("html",))
    assert html is not None and "&lt;script&gt;" in html.get_content() and "<script>" not in html.get_content()
    connector.perform(email_action("ll-html", html="<p>自带 HTML</p>"))
    own = parse(mail.messages()[1]["raw"]).get_body(("html",))
    assert own is not None and own.get_content().strip() == "<p>自带 HTML</p>"


def test_an_unsafe_key_still_gives_a_valid_stable_message_id(connector: EmailConnector, mail: MailWorld) -> None:
    connector.perform(email_action("iv 42|reminder/1"))
    connector.perform(email_action("iv 42|reminder/1", attempts=2))
    ids = {parse(m["raw"])["Message-ID"] for m in mail.messages()}
    (only,) = ids
    assert only.startswith("<") and only.endswith("@hub.example.com>") and " " not in only
