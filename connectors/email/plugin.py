"""The `email` connector and its registration through the `lifeline` entry points.

Base URL keys `smtp` (`smtp://host:587` STARTTLS, `smtps://host:465` implicit TLS) and, optional,
`imap` (`imaps://host:993`, or `imap://host:143` with STARTTLS). Connection (optional for SMTP;
none = no AUTH): `login`/`password` of the submission account; the IMAP look-up logs in with the
same, or with the extras `imap_login`/`imap_password` when it reads another mailbox (a journal).
One action, `send_email`: one message per outbox row and candidate, Message-ID from the
idempotency key. No streams: SMTP acceptance is all that is known at once; bounces arrive later
as DSNs to `from_address`, and opens are no evidence.

Exactly once towards the candidate: SMTP takes no idempotency key, so when the outbox says an
earlier worker may have handed the row to the server (`Action.maybe_sent`) and `imap` is set, the
connector first looks the Message-ID up in `sent_folder` (`UID SEARCH HEADER Message-ID`): found,
it sends nothing and answers as the send would have (dated by the found copy's Date header, else
its INTERNALDATE); not found, it sends; a look-up that fails raises a retryable error and sends
nothing. The folder is where the submission server itself files what it accepted (Gmail, Exchange
Online, Tencent/NetEase/Alibaba enterprise mail with "save sent mail" on): a message goes to one
recipient, so a copy exists exactly when the server accepted the message for the candidate. Lifeline
does not Bcc a journal mailbox itself: a second recipient breaks that equivalence (the journal's
copy may be accepted while the candidate is refused with a 4xx, and the retry would then find it
and never send), its copy arrives by later, asynchronous delivery, and it needs a second account.
A tenant whose server does not file submitted mail can journal it on the server (Exchange journal
rules, Postfix `sender_bcc_maps`: a copy only of what was accepted) and point `imap`,
`sent_folder` and the extras at that mailbox. A row is performed again only after the dead worker's
lease ran out (minutes), time enough for the server to file the copy. Without `imap`, a row that
may have been sent is sent again (logged once per connector): a byte-identical iTIP object with
the same Message-ID, UID and SEQUENCE, which calendar clients collapse, but a second message in the
candidate's mailbox.

`ActionResult.records`: the `Notification` (remote id = Message-ID without brackets),
plus a failed `DeliveryEvent` when the server refused the recipient or message for good (5xx).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from imaplib import IMAP4
from typing import Any, ClassVar

from pydantic import BaseModel

from lifeline_hub.connectors.email import imap
from lifeline_hub.connectors.email.endpoint import Endpoint
from lifeline_hub.connectors.email.mime import build_message, message_id
from lifeline_hub.connectors.email.settings import EmailSettings
from lifeline_hub.connectors.email.smtp import Rejected, submit
from lifeline_hub.core import ActionResult, CheckResult, Connector, Credentials, Instance, hookimpl
from lifeline_hub.core.actions import SendEmail
from lifeline_hub.core.connection_form import ConnectionForm
from lifeline_hub.core.connector import ContactBook
from lifeline_hub.core.http import InvalidRequest, VendorError
from lifeline_hub.core.models import (
    Action,
    Channel,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Notification,
    Record,
    canonical_id,
    utcnow,
)

LIFELINE_PLUGIN_API = (1, 0)
"""The plugin API (`lifeline_hub.core.api.PLUGIN_API`) this plugin was built for."""

log = logging.getLogger("lifeline.email")


class EmailConnector(Connector):
    """SMTP submission of candidate e-mail with calendar invitations (iMIP)."""

    name = "email"
    description = "E-mail over SMTP: candidate messages with iCalendar invitations, updates and cancellations"
    settings_model = EmailSettings
    actions = ("send_email",)
    default_base_urls: ClassVar[Mapping[str, str]] = {}
    emulator = "lifeline_hub.connectors.email.emulator:create_app"
    sandbox_actor = "lifeline_hub.connectors.email.sandbox:MailActor"
    connection_form = ConnectionForm("email", "E-mail, SMTP and IMAP (Lifeline)", ("SMTP username", "SMTP password"),
                                     {"imap_password": "IMAP password (when imap_login is another mailbox)"})

    @classmethod
    def emulator_connection(cls, world: Any) -> dict[str, Any] | None:
        """The emulator's first account (SMTP AUTH and IMAP); on a server without accounts, which takes no SMTP
        AUTH and any IMAP login, an IMAP login only."""
        users: dict[str, str] = world.settings.users
        if users:
            login, password = next(iter(users.items()))
            return {"login": login, "password": password}
        return {"extra": {"imap_login": "sandbox", "imap_password": "sandbox"}}

    def __init__(self, instance: Instance, settings: BaseModel, credentials: Credentials | None,
                 contacts: ContactBook | None = None) -> None:
        super().__init__(instance, settings, credentials, contacts)
        assert isinstance(settings, EmailSettings)
        self.config: EmailSettings = settings
        self.clock: Callable[[], datetime] = utcnow
        self._warned_unverified = False

    @property
    def endpoint(self) -> Endpoint:
        try:
            return Endpoint.parse(self.base_url("smtp"))
        except KeyError as exc:
            raise InvalidRequest(f"{self.instance.name}: set base_urls.smtp (smtp://host:587 or smtps://host:465)",
                                 vendor="smtp") from exc

    @property
    def lookup(self) -> Endpoint | None:
        """Where sent mail is looked up (`base_urls.imap`), None when the instance has no look-up."""
        try:
            return Endpoint.parse(self.base_url("imap"), "imap")
        except KeyError:
            return None

    def imap_login(self) -> imap.Login:
        """The look-up's account: the connection's extras `imap_login`/`imap_password`, else its login/password."""
        creds = self.credentials
        user = (creds.get("imap_login") or creds.login) if creds is not None else None
        if creds is None or not user:
            raise InvalidRequest(f"{self.instance.name}: base_urls.imap needs a connection with login and password "
                                 "(or extras imap_login/imap_password)", vendor=imap.VENDOR)
        return imap.Login(user, creds.get("imap_password") or creds.password or "")

    @property
    def domain(self) -> str:
        return self.config.message_id_domain or self.config.from_address.rpartition("@")[2]

    def check(self) -> CheckResult:
        """Connect, upgrade to TLS and log in as a send would, without sending; open the Sent folder as a
        look-up would."""
        try:
            submit(self.endpoint, self.credentials, None, self.config.from_address, "", starttls=self.config.starttls,
                   ca_file=self.config.ca_file, timeout=self.config.timeout_seconds, envelope_id="")
        except VendorError as exc:
            return CheckResult(False, f"SMTP check failed: {exc}")
        ok = f"SMTP ok at {self.endpoint.host}:{self.endpoint.port}"
        lookup = self.lookup
        if lookup is None:
            return CheckResult(True, f"{ok}; no IMAP look-up (a crash after sending may send twice)")
        try:
            with self._imap(lookup) as client:
                held = imap.examine(client, self.config.sent_folder)
        except VendorError as exc:
            return CheckResult(False, f"{ok}; IMAP check failed: {exc}")
        return CheckResult(True, f"{ok}; IMAP ok at {lookup.host}:{lookup.port}, {held} in {self.config.sent_folder!r}")

    def _imap(self, lookup: Endpoint) -> AbstractContextManager[IMAP4]:
        return imap.session(lookup, self.imap_login(), starttls=self.config.starttls, ca_file=self.config.ca_file,
                            timeout=self.config.timeout_seconds)

    def sent_at(self, msg_id: str) -> datetime | None:
        """When the message `msg_id` is in the Sent folder already: its date; None when it is not (or there is
        no look-up)."""
        lookup = self.lookup
        if lookup is None:
            if not self._warned_unverified:
                self._warned_unverified = True
                log.warning("%s: an earlier worker may have sent e-mail that is sent again (no base_urls.imap to "
                            "look it up): a candidate may get it twice", self.instance.name)
            return None
        with self._imap(lookup) as client:
            return imap.find(client, self.config.sent_folder, msg_id)

    def perform(self, action: Action) -> ActionResult:
        if action.kind != "send_email":
            return super().perform(action)
        payload = SendEmail.model_validate(action.payload)
        contact = self.contacts.contact(payload.recipient, Channel.email) if self.contacts is not None else None
        if contact is None:
            raise InvalidRequest(f"candidate {payload.recipient} has no e-mail contact point", vendor="smtp")
        msg_id = message_id(action.idempotency_key, self.domain)
        remote_id = msg_id.strip("<>")
        sent_at = self.sent_at(msg_id) if action.maybe_sent else None
        if sent_at is not None:
            log.info("%s: e-mail %s for %s is in the Sent folder already: not sent again", self.instance.name,
                     remote_id, contact.masked)
            return self._result(action, payload, contact.masked, remote_id, sent_at, [])
        now = self.clock()
        msg = build_message(self.config, payload, contact.value.get_secret_value(), msg_id, now)
        records: list[Record] = []
        try:
            submit(self.endpoint, self.credentials, msg, self.config.from_address,
                   contact.value.get_secret_value(), starttls=self.config.starttls, ca_file=self.config.ca_file,
                   timeout=self.config.timeout_seconds, envelope_id=action.idempotency_key)
        except Rejected as exc:
            log.info("%s: e-mail %s to %s refused for good: %s", self.instance.name, remote_id, contact.masked, exc)
            records.append(DeliveryEvent(
                source=self.instance.name, remote_id=f"{remote_id}/failed", interview_id=payload.interview_id,
                occurred_at=now, notification_id=canonical_id(self.instance.name, remote_id), type=DeliveryType.failed,
                channel=Channel.email, code=str(exc.code), status_raw=exc.message[:500]))
        else:
            log.info("%s: e-mail %s accepted for %s", self.instance.name, remote_id, contact.masked)
        return self._result(action, payload, contact.masked, remote_id, now, records)

    def _result(self, action: Action, payload: SendEmail, recipient: str, remote_id: str, at: datetime,
                failures: list[Record]) -> ActionResult:
        """The `Notification` of the message (sent, or failed when `failures` holds the refusal), then those."""
        status = DeliveryStatus.failed if failures else DeliveryStatus.sent
        notification = Notification(
            source=self.instance.name, remote_id=remote_id, interview_id=payload.interview_id, occurred_at=at,
            purpose=payload.purpose, channel=Channel.email, recipient=recipient, status=status,
            status_raw="rejected" if failures else "accepted", idempotency_key=action.idempotency_key)
        return ActionResult(remote_id=remote_id, records=(notification, *failures))


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(EmailConnector)
