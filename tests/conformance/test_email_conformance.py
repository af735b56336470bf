"""The email connector runs the conformance suite (SMTP submission with the IMAP look-up of sent mail)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lifeline_hub.connectors.email.emulator_state import MailSettings, MailWorld
from lifeline_hub.connectors.email.plugin import EmailConnector
from lifeline_hub.core.conformance import ConnectorSuite, Rig, SuiteClock
from lifeline_hub.core.emulator import EmulatorWorld, FaultKind
from lifeline_hub.core.http import TransientError, VendorError
from lifeline_hub.core.models import Candidate, ContactPoint

ATS = "acme.ats"
SENDER = "recruiting@hub.example.com"


def world_of(rig: Rig) -> MailWorld:
    assert isinstance(rig.world, MailWorld)
    return rig.world


class TestEmail(ConnectorSuite):
    connector = EmailConnector
    settings: ClassVar[Mapping[str, Any]] = {"from_address": SENDER, "starttls": False, "timeout_seconds": 0.5}
    candidates = (Candidate(source=ATS, remote_id="cand1", name="张三",
                            contacts=(ContactPoint.email("Zhang.San@example.org"),)),)
    fault_errors: ClassVar[Mapping[FaultKind, type[VendorError]]] = {
        "rate_limit": TransientError,  # SMTP says 451 4.7.1: a 4xx like any other, retried by dispatch
        "server_error": TransientError,
        "timeout": TransientError,
    }
    records_http = False

    def make_world(self, clock: SuiteClock) -> MailWorld:
        return MailWorld(MailSettings(users={SENDER: "mail-account-password-1"}), now=clock.time)

    def base_urls(self, world: EmulatorWorld[Any], url: str) -> Mapping[str, str]:
        assert isinstance(world, MailWorld)
        return {"smtp": world.url, "imap": world.imap_url}

    def action_payload(self, kind: str, rig: Rig) -> Mapping[str, Any]:
        return {"recipient": f"{ATS}/cand1", "recipient_name": "张三", "purpose": "invite",
                "subject": "面试邀请 / Interview invitation", "text": "您好，\n\n请准时参加面试。",
                "interview_id": f"{ATS}/iv42"}

    def vendor_effects(self, kind: str, rig: Rig) -> int:
        return len(world_of(rig).received)

    def deny_permission(self, rig: Rig) -> None:
        """The submission server refuses the account's `from_address` at MAIL FROM (`553 5.7.1`)."""
        world_of(rig).reject(SENDER, f"553 5.7.1 <{SENDER}>: Sender address rejected: not owned by user", stage="mail")
