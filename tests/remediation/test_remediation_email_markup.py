"""A candidate reached by e-mail reads their name from the ATS as text: remediation's offer to pick a new time,
through dispatch to the loopback SMTP server on SQLite and PostgreSQL, names them in the To header, the greeting
and the invitation defanged and on one line, with Lifeline's links the only ones."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_string
from email.header import decode_header, make_header
from email.policy import compat32
from pathlib import Path

from lifeline_hub.connectors.email.emulator_state import MailWorld
from lifeline_hub.core.config import load
from lifeline_hub.core.models import Candidate, ContactPoint, OutcomeClass, utcnow
from lifeline_hub.core.outbox import dispatch, rows
from lifeline_hub.core.remediation import remediate
from lifeline_hub.core.remediation.testing import ATS, TENANT, emulated_tenant
from tests.email.mail_helpers import parse
from tests.markup_helpers import HOSTILE_NAMES, SHOWN_NAMES, assert_plain_shows

NOW = utcnow().replace(microsecond=0)
NAME = HOSTILE_NAMES[0] + "\r\nBcc: spy@evil.example"
SHOWN = SHOWN_NAMES[0] + " Bcc: spy@evil[.]example"
ADDRESS = "li.si@example.org"


def test_the_offer_by_e_mail_names_the_candidate_as_text(tmp_path: Path, db_url: str) -> None:
    mail = MailWorld().start()
    try:
        with emulated_tenant(tmp_path, db_url) as t:
            t.path.write_text(t.path.read_text(encoding="utf-8") + "\n".join((
                f"[tenants.{TENANT}.connectors.mail]", 'plugin = "email"', f'base_urls = {{ smtp = "{mail.url}" }}',
                'from_address = "recruiting@hub.example.com"', "starttls = false", "timeout_seconds = 2.0", "")),
                encoding="utf-8")
            config = load(t.path, t.host)
            t.store.write(TENANT, [Candidate(source=ATS, remote_id="c1", name=NAME,
                                             contacts=(ContactPoint.email(ADDRESS),))])
            interview = t.interview("iv1", NOW - timedelta(hours=3), candidate="c1")
            t.decide(interview.id, OutcomeClass.missed_read_no_show, NOW)
            assert not remediate(t.store, TENANT, NOW, config, t.host).as_dict()["problems"]
            assert dispatch(t.store, config, TENANT, now=NOW).dead == 0
            own = {link["url"] for r in rows(t.store, TENANT) for link in r.action.payload.get("links", ())}

        (raw,) = [m["raw"] for m in mail.messages()]
        received = parse(raw)
        assert [a.addr_spec for a in received["To"].addresses] == [ADDRESS] and received["Bcc"] is None
        folded = message_from_string(raw, policy=compat32)["To"]  # decoded as RFC 2047 says
        assert str(make_header(decode_header(folded))) == f"{SHOWN} <{ADDRESS}>"
        plain = received.get_body(("plain",))
        assert plain is not None
        assert_plain_shows(plain.get_content(), own, f"{SHOWN}，您好")
        assert any(url in plain.get_content() for url in own)  # the page to pick a new time
    finally:
        mail.close()
