"""Reminder texts carry outside values as text, through the real planner, dispatch and emulators, on SQLite and
PostgreSQL: the interviewers' reminder on DingTalk and Feishu (a hostile candidate name in the title, the ATS's
meeting URL, with `_` and `&`, as a button and never inside the markdown), and the candidate's own reminders by
SMS (no URL in a template variable) and e-mail (one-line headers, the name defanged, the HTML escaped)."""

from __future__ import annotations

import json
from datetime import timedelta
from email import message_from_string
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.policy import compat32
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from lifeline_hub.connectors.aliyun_sms.emulator_state import SmsWorld
from lifeline_hub.connectors.email.emulator_state import MailWorld
from lifeline_hub.core.config import Config
from lifeline_hub.core.models import AppointmentThread, Candidate, ContactPoint, Interview, InterviewKind, utcnow
from lifeline_hub.core.outbox import dispatch, rows
from lifeline_hub.core.remediation.testing import ATS, emulated_tenant
from lifeline_hub.core.reminders import plan_reminders
from lifeline_hub.core.store import Store
from tests.email.mail_helpers import calendar_of, parse
from tests.markup_helpers import HOSTILE_NAMES, SHOWN_NAMES, assert_markdown_shows, assert_plain_shows
from tests.reminders.reminder_helpers import NOW, TENANT

JOIN = "https://meet.example.com/j/abc_def?pwd=x_y&tk=1&lang=zh_CN"
"""The ATS's meeting URL: `_` and `&` that markdown escaping would break, were it inside the text."""
PLATFORM = "vc](https://evil.example/p)"
NAME = HOSTILE_NAMES[1] + "\r\nBcc: spy@evil.example"
"""A candidate name from the ATS: a tag, emphasis, a URL, and a line break that tries to start a header."""
SHOWN = SHOWN_NAMES[1] + " Bcc: spy@evil[.]example"


def meeting(remote_id: str, candidate: str, interviewers: tuple[str, ...], start: Any) -> Interview:
    return Interview(source=ATS, remote_id=remote_id, kind=InterviewKind.video, start_at=start,
                     end_at=start + timedelta(minutes=45), candidate_id=f"{ATS}/{candidate}", join_url=JOIN,
                     platform=PLATFORM, interviewer_ids=interviewers,
                     thread=AppointmentThread(thread_id=f"t-{remote_id}", ical_uid=f"{remote_id}@lifeline.test"))


def shown_messages(t: Any, connector: str) -> list[tuple[str, str, list[str]]]:
    """(title, markdown, button URLs) of each interviewer reminder as the platform received it."""
    if connector == "dt":
        found = []
        for notice in t.dingtalk.messages():
            msg = notice["msg"]
            if msg["msgtype"] == "action_card":
                card = msg["action_card"]
                found.append((card["title"], card["markdown"], [b["action_url"] for b in card["btn_json_list"]]))
            else:
                found.append((msg["markdown"]["title"], msg["markdown"]["text"], []))
        return found
    cards = [json.loads(m.content) for m in t.feishu.messages.values() if m.msg_type == "interactive"]
    return [(c["header"]["title"]["content"], c["elements"][0]["text"]["content"],
             [b["url"] for e in c["elements"][1:] for b in e["actions"]]) for c in cards]


@pytest.mark.parametrize("connector", ["dt", "fs"])
def test_interviewers_get_the_meeting_link_as_a_button_and_the_name_as_text(tmp_path: Path, db_url: str,
                                                                            connector: str) -> None:
    now = utcnow().replace(microsecond=0)
    with emulated_tenant(tmp_path, db_url, policy={"hr_connector": connector}) as t:
        t.candidate("c1", NAME)
        if connector == "dt":
            t.dingtalk.add_user("iv1user", name="面试官 赵")
            interviewer = "iv1user"
        else:
            t.feishu.add_user("面试官 赵", user_id="ivfs1")
            interviewer = "user_id:ivfs1"
        start = now + timedelta(days=2)
        t.store.write(TENANT, [meeting("iv1", "c1", (interviewer,), start)])
        plan_reminders(t.store, TENANT, now, t.config)
        assert dispatch(t.store, t.config, TENANT, now=start - timedelta(minutes=30)).dead == 0

        staff = [r.action for r in rows(t.store, TENANT) if r.action.payload.get("audience") == "staff"]
        assert len(staff) == 2 and all(a.connector == f"{TENANT}.{connector}" for a in staff)  # T-1d and T-1h
        own = {link["url"] for a in staff for link in a.payload.get("links", ())}
        assert own == {JOIN}  # the ATS's URL travels as a link, exactly as the ATS gave it
        shown = shown_messages(t, connector)
        assert len(shown) == 2
        for title, markdown, buttons in shown:
            assert_plain_shows(title, own, SHOWN)
            assert "\n" not in title and "<a" in title  # the candidate's words, on one line
            assert JOIN not in markdown and "meet" not in markdown  # the link is no part of the text
            assert_markdown_shows(markdown, own, "平台 vc](https[:]//evil[.]example/p)",
                                  title=title if connector == "dt" else None)
            assert buttons == [JOIN]


class Html(HTMLParser):
    """The tags, link targets and text of an HTML body."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.hrefs += [value or "" for name, value in attrs if name == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_candidates_read_their_own_name_as_text_by_sms_and_e_mail(store: Store, config: Config, sms: SmsWorld,
                                                                  mail: MailWorld) -> None:
    store.write(TENANT, [
        Candidate(source=ATS, remote_id="c1", name="王五 https://evil.example/x",
                  contacts=(ContactPoint.phone("13812345678"),)),
        Candidate(source=ATS, remote_id="c2", name=NAME, contacts=(ContactPoint.email("li.si@example.org"),)),
    ])
    start = NOW + timedelta(hours=26)
    store.write(TENANT, [meeting("iv1", "c1", (), start), meeting("iv2", "c2", (), start)])
    plan_reminders(store, TENANT, NOW + timedelta(hours=2), config)  # T-1d: a confirm request to each
    summary = dispatch(store, config, TENANT, now=NOW + timedelta(hours=2))
    assert (summary.done, summary.dead, summary.problems) == (2, 0, [])

    (text,) = [m.content for m in sms.messages]  # the name as a variable: no URL, which the gateway refuses
    assert_plain_shows(text, [u for u in text.split() if "lifeline.example/" in u], "王五 https[:]//evil")

    (raw,) = [m["raw"] for m in mail.messages()]
    received = parse(raw)
    own = {link["url"] for r in rows(store, TENANT) for link in r.action.payload.get("links", ())}
    assert len(own) == 2 and all(url.startswith("http") for url in own)  # the join and confirm links
    (to,) = received["To"].addresses
    assert to.addr_spec == "li.si@example.org"
    # the name as RFC 2047 decodes it (policy.default's parser puts a space between two encoded words)
    folded = message_from_string(raw, policy=compat32)["To"]
    assert str(make_header(decode_header(folded))) == f"{SHOWN} <li.si@example.org>"
    assert received["Bcc"] is None
    plain = body(received, "plain")
    assert_plain_shows(plain, own, f"{SHOWN}您好")
    page = Html(body(received, "html"))
    assert page.tags <= {"html", "body", "p", "br", "a"} and set(page.hrefs) == own
    assert_plain_shows("".join(page.text), own, f"{SHOWN}您好")
    _, _, ics = calendar_of(received)
    assert ics.walk("VEVENT")[0]["ATTENDEE"].params["CN"] == SHOWN  # the invitation names them the same way


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None
    content: str = part.get_content()
    return content
