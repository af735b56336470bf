"""Helpers of the e-mail tests: candidates, the connector, actions, parsing received mail back."""

from __future__ import annotations

import datetime as dt
import ipaddress
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from icalendar import Calendar

from lifeline_hub.connectors.email.emulator_state import MailWorld
from lifeline_hub.connectors.email.plugin import EmailConnector
from lifeline_hub.connectors.email.settings import EmailSettings
from lifeline_hub.core import Credentials, Instance
from lifeline_hub.core.models import Action, Candidate, ContactPoint, utcnow
from lifeline_hub.core.store import Store

TENANT, SOURCE, ATS = "acme", "acme.mail", "acme.ats"
ADDRESS, BOUNCE = "Zhang.San@example.org", "bounce@example.org"
RAW_ADDRESSES = ("Zhang.San@example.org", "zhang.san@example.org", "bounce@example.org")
ORGANIZER = "recruiting@hub.example.com"
START = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)


def seed(store: Store) -> Store:
    store.write(TENANT, [
        Candidate(source=ATS, remote_id="cand1", name="张三", contacts=(ContactPoint.email(ADDRESS),)),
        Candidate(source=ATS, remote_id="cand2", name="Bo", contacts=(ContactPoint.email(BOUNCE),)),
        Candidate(source=ATS, remote_id="cand3", name="李四", contacts=(ContactPoint.phone("+8613812345678"),)),
    ])
    return store


def make_connector(world: MailWorld, contacts: Store | None, credentials: Credentials | None = None,
                   imap: bool = False, **settings: Any) -> EmailConnector:
    """The connector for `world`'s SMTP server (and its IMAP server for look-ups when `imap`)."""
    config = EmailSettings.model_validate({"from_address": ORGANIZER, "starttls": False, "timeout_seconds": 2.0,
                                           **settings})
    urls = {"smtp": world.url, **({"imap": world.imap_url} if imap else {})}
    return EmailConnector(Instance(TENANT, SOURCE, base_urls=urls), config, credentials, contacts)


def invite(sequence: int = 0, start: dt.datetime = START, status: str = "confirmed") -> dict[str, Any]:
    return {"ical_uid": "iv-42@hub.example.com", "sequence": sequence, "start_at": start.isoformat(),
            "end_at": (start + dt.timedelta(minutes=45)).isoformat(), "summary": "面试 Interview",
            "location": "https://meet.example.com/iv-42", "status": status,
            "issued_at": (START - dt.timedelta(days=3 - sequence)).isoformat()}


def email_action(key: str, recipient: str = "cand1", *, attempts: int = 1, maybe_sent: bool = False,
                 **payload: Any) -> Action:
    body = {"recipient": f"{ATS}/{recipient}", "recipient_name": "张三", "purpose": "invite",
            "subject": "面试邀请 / Interview invitation", "text": "您好，\n\n请准时参加面试。",
            "links": [{"label": "确认 / Confirm", "url": "https://hub.example.com/c/abc?x=1&y=2"}],
            "interview_id": f"{ATS}/iv42", **payload}
    return Action(idempotency_key=key, tenant=TENANT, connector=SOURCE, kind="send_email", payload=body,
                  due_at=utcnow(), attempts=attempts, maybe_sent=maybe_sent)


def parse(raw: str) -> EmailMessage:
    message = message_from_bytes(raw.encode(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def calendar_of(message: EmailMessage) -> tuple[EmailMessage, bytes, Calendar]:
    """The inline `text/calendar` part, its decoded bytes, and the calendar parsed back with icalendar."""
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert isinstance(part, EmailMessage)
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return part, data, Calendar.from_ical(data)


def self_signed(directory: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 (and its key) as PEM files: the CA the client trusts is the cert itself."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)
