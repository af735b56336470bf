"""The `email` connector and its registration through the `lifeline` entry points.

Base URL key `smtp` (`smtp://host:587` STARTTLS, `smtps://host:465` implicit TLS). Connection
(optional; none = no AUTH): `login`/`password` of the submission account. One action, `send_email`:
one message per outbox row and candidate, Message-ID from the idempotency key, so a retry after an
ambiguous failure re-sends a byte-identical iTIP object that calendar clients collapse by UID and
SEQUENCE (SMTP has no idempotency key and no look-up). No streams: SMTP acceptance is all that is
known at once; bounces arrive later as DSNs to `from_address`, and opens are no evidence.

`ActionResult.records`: the `Notification` (remote id = Message-ID without brackets),
plus a failed `DeliveryEvent` when the server refused the recipient or message for good (5xx).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel

from connectors.email.mime import build_message, message_id
from connectors.email.settings import EmailSettings
from connectors.email.smtp import Endpoint, Rejected, submit
from core import ActionResult, CheckResult, Connector, Credentials, Instance, hookimpl
from core.actions import SendEmail
from core.connector import ContactBook
from core.http import InvalidRequest, VendorError
from core.models import (
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

log = logging.getLogger("lifeline.email")


class EmailConnector(Connector):
    """SMTP submission of candidate e-mail with calendar invitations (iMIP)."""

    name = "email"
    description = "E-mail over SMTP: candidate messages with iCalendar invitations, updates and cancellations"
    settings_model = EmailSettings
    actions = ("send_email",)
    default_base_urls: ClassVar[Mapping[str, str]] = {}
    emulator = "connectors.email.emulator:create_app"

    def __init__(self, instance: Instance, settings: BaseModel, credentials: Credentials | None,
                 contacts: ContactBook | None = None) -> None:
        super().__init__(instance, settings, credentials, contacts)
        assert isinstance(settings, EmailSettings)
        self.config: EmailSettings = settings
        self.clock: Callable[[], datetime] = utcnow

    @property
    def endpoint(self) -> Endpoint:
        try:
            return Endpoint.parse(self.base_url("smtp"))
        except KeyError as exc:
            raise InvalidRequest(f"{self.instance.name}: set base_urls.smtp (smtp://host:587 or smtps://host:465)",
                                 vendor="smtp") from exc

    @property
    def domain(self) -> str:
        return self.config.message_id_domain or self.config.from_address.rpartition("@")[2]

    def check(self) -> CheckResult:
        """Connect, upgrade to TLS and log in as a send would, without sending."""
        try:
            submit(self.endpoint, self.credentials, None, self.config.from_address, "", starttls=self.config.starttls,
                   ca_file=self.config.ca_file, timeout=self.config.timeout_seconds, envelope_id="")
        except VendorError as exc:
            return CheckResult(False, f"SMTP check failed: {exc}")
        return CheckResult(True, f"SMTP ok at {self.endpoint.host}:{self.endpoint.port}")

    def perform(self, action: Action) -> ActionResult:
        if action.kind != "send_email":
            return super().perform(action)
        payload = SendEmail.model_validate(action.payload)
        contact = self.contacts.contact(payload.recipient, Channel.email) if self.contacts is not None else None
        if contact is None:
            raise InvalidRequest(f"candidate {payload.recipient} has no e-mail contact point", vendor="smtp")
        now = self.clock()
        msg_id = message_id(action.idempotency_key, self.domain)
        msg = build_message(self.config, payload, contact.value.get_secret_value(), msg_id, now)
        remote_id = msg_id.strip("<>")
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
        status = DeliveryStatus.failed if records else DeliveryStatus.sent
        records.insert(0, Notification(
            source=self.instance.name, remote_id=remote_id, interview_id=payload.interview_id, occurred_at=now,
            purpose=payload.purpose, channel=Channel.email, recipient=contact.masked, status=status,
            status_raw="rejected" if records else "accepted", idempotency_key=action.idempotency_key))
        return ActionResult(remote_id=remote_id, records=tuple(records))


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(EmailConnector)
