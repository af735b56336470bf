"""An e-mail payload's texts are plain text, whatever planned it: through the outbox and dispatch to the loopback
SMTP server (SQLite and PostgreSQL), a subject and a recipient name with line breaks arrive as one header line
each (no header of their own, nothing lost), and the text's markup arrives escaped in the HTML part."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from lifeline_hub.connectors.email.emulator_state import MailWorld
from lifeline_hub.core.models import Action, Candidate, ContactPoint
from lifeline_hub.core.outbox import dispatch, enqueue
from lifeline_hub.core.store import Store
from tests.email.mail_helpers import parse
from tests.reminders.reminder_helpers import ATS, NOW, TENANT, make_config

OWN = "https://lifeline.example/c/tok_1?a=1&b=2"
TEXT = '您好：<a href="https://evil.example/x">点我</a> & <script>alert(1)</script>\n\n**请准时参加**'


class Tags(HTMLParser):
    def __init__(self, markup: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_headers_stay_one_line_and_the_html_part_escapes_the_text(tmp_path: Path, store: Store) -> None:
    mail = MailWorld().start()
    try:
        config = make_config(tmp_path, store.url, smtp_url=mail.url)
        store.write(TENANT, [Candidate(source=ATS, remote_id="c1", name="张三",
                                       contacts=(ContactPoint.email("zhang.san@example.org"),))])
        payload: dict[str, Any] = {
            "recipient": f"{ATS}/c1", "recipient_name": "张三\r\nBcc: spy@evil.example", "purpose": "invite",
            "subject": "面试邀请\r\nBcc: spy@evil.example\r\n\r\n<b>正文</b>", "text": TEXT,
            "links": [{"label": "确认 <Confirm>", "url": OWN}]}
        with store.begin() as conn:
            enqueue(conn, [Action(idempotency_key="ll-mail-markup", tenant=TENANT, connector=f"{TENANT}.mail",
                                  kind="send_email", payload=payload, due_at=NOW)], NOW)
        summary = dispatch(store, config, TENANT, now=NOW)
        assert (summary.done, summary.dead) == (1, 0), json.dumps(summary.problems)

        (received,) = [parse(m["raw"]) for m in mail.messages()]
        assert str(received["Subject"]) == "面试邀请 Bcc: spy@evil.example <b>正文</b>"
        assert received["Bcc"] is None and [a.addr_spec for a in received["To"].addresses] == ["zhang.san@example.org"]
        plain = received.get_body(("plain",))
        assert plain is not None and TEXT in plain.get_content()  # the plain part is the text, as it is
        html = received.get_body(("html",))
        assert html is not None
        page = Tags(html.get_content())
        assert [tag for tag, _ in page.found if tag not in ("html", "body", "p", "br")] == ["a"]
        assert [attrs["href"] for tag, attrs in page.found if tag == "a"] == [OWN]
        shown = "".join(page.text)
        assert '<a href="https://evil.example/x">点我</a> & <script>alert(1)</script>' in shown
        assert "**请准时参加**" in shown and "确认 <Confirm>" in shown
    finally:
        mail.close()
