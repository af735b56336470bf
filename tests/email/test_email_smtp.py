"""SMTP submission against the real loopback server: 4xx retried, 5xx a failed delivery, TLS and AUTH, privacy."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Literal

import pytest
import requests

from lifeline_hub.connectors.email.emulator import create_app
from lifeline_hub.connectors.email.emulator_state import MailSettings, MailWorld
from lifeline_hub.connectors.email.plugin import EmailConnector
from lifeline_hub.core import Credentials
from lifeline_hub.core.emulator import Faults, LoopbackServer, free_port
from lifeline_hub.core.http import AuthFailed, InvalidRequest, PermissionDenied, TransientError
from lifeline_hub.core.models import DeliveryEvent, DeliveryStatus, DeliveryType
from lifeline_hub.core.store import Store
from tests.email.mail_helpers import (
    BOUNCE,
    ORGANIZER,
    RAW_ADDRESSES,
    email_action,
    invite,
    make_connector,
    parse,
    self_signed,
)

Stage = Literal["rcpt", "data"]


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_a_5xx_is_a_failed_delivery_not_an_error(connector: EmailConnector, mail: MailWorld, stage: Stage) -> None:
    mail.reject(BOUNCE, "550 5.1.1 <bounce@example.org>: Recipient address rejected: User unknown", stage=stage)
    result = connector.perform(email_action("ll-bounce", recipient="cand2", calendar=invite()))
    notification, event = result.records
    assert notification.status == DeliveryStatus.failed and notification.recipient == "b***@example.org"
    assert isinstance(event, DeliveryEvent) and (event.type, event.code) == (DeliveryType.failed, "550")
    assert event.notification_id == "acme.mail/ll-bounce@hub.example.com"
    assert "5.1.1" in (event.status_raw or "") and BOUNCE not in (event.status_raw or "")
    assert mail.messages() == []


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_a_4xx_is_retried_and_then_delivered(connector: EmailConnector, mail: MailWorld, stage: Stage) -> None:
    mail.reject(BOUNCE, "450 4.2.1 Mailbox busy, try again later", stage=stage)
    with pytest.raises(TransientError) as caught:
        connector.perform(email_action("ll-busy", recipient="cand2"))
    assert caught.value.retryable and caught.value.code == 450 and BOUNCE not in str(caught.value)
    mail.accept(BOUNCE)
    connector.perform(email_action("ll-busy", recipient="cand2", attempts=2))
    assert len(mail.messages()) == 1


def test_a_sender_the_account_may_not_use_is_permission_denied(connector: EmailConnector, mail: MailWorld) -> None:
    """MAIL FROM refused with 5.7.1 ("delivery not authorized", RFC 3463; channels.md §2.3 policy rejection): the
    account may not send as `from_address`, for every recipient alike; an admin must allow it. Not a failed
    delivery of this candidate, and never retried."""
    mail.reject(ORGANIZER, "553 5.7.1 <recruiting@hub.example.com>: Sender address rejected: not owned by user",
                stage="mail")
    with pytest.raises(PermissionDenied) as caught:
        connector.perform(email_action("ll-not-ours"))
    assert caught.value.code == 553 and not caught.value.retryable
    assert "5.7.1" in str(caught.value) and ORGANIZER not in str(caught.value)
    assert mail.messages() == []


def test_another_5xx_to_the_sender_is_a_configuration_error(connector: EmailConnector, mail: MailWorld) -> None:
    mail.reject(ORGANIZER, "553 5.1.8 <recruiting@hub.example.com>: Sender address rejected: Domain not found",
                stage="mail")
    with pytest.raises(InvalidRequest) as caught:
        connector.perform(email_action("ll-bad-sender"))
    assert caught.value.code == 553 and not isinstance(caught.value, PermissionDenied)


def test_injected_4xx_faults_are_transient(connector: EmailConnector, mail: MailWorld) -> None:
    for fault, code in (("rate_limit", 451), ("server_error", 451)):
        mail.configure_faults(Faults(**{fault: 1.0}))
        with pytest.raises(TransientError) as caught:
            connector.perform(email_action(f"ll-{fault}"))
        assert caught.value.code == code
    assert mail.messages() == []


def test_a_timeout_after_acceptance_is_retried_with_the_same_message_id(mail: MailWorld, contacts: Store) -> None:
    """SMTP has no idempotency key: the retry re-sends; the stable Message-ID/UID/SEQUENCE let clients collapse it."""
    connector = make_connector(mail, contacts, timeout_seconds=0.5)
    mail.configure_faults(Faults(timeout=1.0, timeout_seconds=1.0))
    with pytest.raises(TransientError):
        connector.perform(email_action("ll-slow", calendar=invite()))
    mail.configure_faults(Faults())
    connector.perform(email_action("ll-slow", calendar=invite(), attempts=2))
    first, second = (parse(m["raw"]) for m in mail.messages())
    assert first["Message-ID"] == second["Message-ID"] == "<ll-slow@hub.example.com>"


def test_starttls_and_auth(tmp_path: Path, contacts: Store) -> None:
    cert, key = self_signed(tmp_path)
    world = MailWorld(MailSettings(tls_cert_file=cert, tls_key_file=key, require_starttls=True,
                                   users={"hub": "s3cret"})).start()
    try:
        good = Credentials("mail", login="hub", password="s3cret")
        connector = make_connector(world, contacts, good, starttls=True, ca_file=cert)
        assert connector.check().ok, connector.check().message
        connector.perform(email_action("ll-tls"))
        assert len(world.messages()) == 1
        wrong = Credentials("mail", login="hub", password="wrong")
        assert "535" in make_connector(world, contacts, wrong, starttls=True, ca_file=cert).check().message
        with pytest.raises(AuthFailed) as caught:
            make_connector(world, contacts, wrong, starttls=True, ca_file=cert).perform(email_action("ll-tls-2"))
        assert caught.value.code == 535 and not caught.value.retryable
        with pytest.raises(TransientError, match="SSL"):  # the server's certificate is not trusted without the CA
            make_connector(world, contacts, good, starttls=True).perform(email_action("ll-tls-3"))
    finally:
        world.close()


def test_no_clear_text_fallback_when_starttls_is_missing(mail: MailWorld, contacts: Store) -> None:
    with pytest.raises(InvalidRequest, match="STARTTLS"):
        make_connector(mail, contacts, starttls=True).perform(email_action("ll-clear"))
    assert mail.messages() == []


def test_an_unreachable_server_and_a_missing_contact(mail: MailWorld, contacts: Store) -> None:
    connector = make_connector(mail, contacts)
    with pytest.raises(InvalidRequest, match="no e-mail contact"):
        connector.perform(email_action("ll-none", recipient="cand3"))
    mail.close()
    with pytest.raises(TransientError) as caught:
        connector.perform(email_action("ll-down"))
    assert caught.value.retryable and caught.value.sent is False


def test_no_raw_address_reaches_the_logs(connector: EmailConnector, mail: MailWorld,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    connector.perform(email_action("ll-log-1", calendar=invite()))
    mail.reject(BOUNCE, "550 5.1.1 <bounce@example.org>: User unknown")
    connector.perform(email_action("ll-log-2", recipient="cand2"))
    mail.reject(BOUNCE, "451 4.3.0 <bounce@example.org> try later")
    with pytest.raises(TransientError) as caught:
        connector.perform(email_action("ll-log-3", recipient="cand2"))
    lifeline = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("lifeline", "connectors")))
    assert "Z***@example.org" in lifeline
    for address in RAW_ADDRESSES:
        assert address not in lifeline and address not in str(caught.value) + repr(caught.value)


def test_the_control_app_runs_the_smtp_server() -> None:
    app = create_app()  # what `lifeline emulate email` serves
    with LoopbackServer(app) as server:
        state = requests.get(f"{server.url}/_emulator/state", timeout=10).json()
        assert state["smtp"]["url"].startswith("smtp://127.0.0.1:") and state["messages"] == 0
        knobs = Faults.uniform(0.2, seed=1).model_dump()
        assert requests.put(f"{server.url}/_emulator/faults", json=knobs, timeout=10).json() == knobs
        rejected = requests.post(f"{server.url}/_emulator/drive/reject", json={"address": BOUNCE}, timeout=10)
        assert rejected.status_code == 200 and app.state.world.summary()["rules"] == 1
        bad = requests.post(f"{server.url}/_emulator/drive/reject", json={"address": BOUNCE, "reply": "250 ok"},
                            timeout=10)
        assert bad.status_code == 400
        assert requests.get(f"{server.url}/_emulator/state/messages", timeout=10).json() == []
        moved = requests.post(f"{server.url}/_emulator/drive/advance", json={"seconds": 3600}, timeout=10).json()
        assert moved["result"] == pytest.approx(time.time() + 3600, abs=60)
    app.state.world.close()


def test_the_control_app_takes_the_smtp_port() -> None:
    """`serve_emulators` starts the e-mail emulator on the port of the instance's `smtp://` base URL."""
    port = free_port()
    app = create_app(port=port)
    try:
        assert app.state.world.url == f"smtp://127.0.0.1:{port}"
    finally:
        app.state.world.close()


def test_the_world_counts_transactions_on_its_own_clock(connector: EmailConnector, mail: MailWorld) -> None:
    mail.advance(86400)
    connector.perform(email_action("ll-clock"))
    mail.reject(BOUNCE)
    connector.perform(email_action("ll-refused", recipient="cand2"))  # refused at RCPT: still a transaction
    assert mail.api_calls() == 2 and mail.quota_breaches() == 0
    assert [m["received_at"] for m in mail.messages()] == [pytest.approx(time.time() + 86400, abs=60)]
    assert mail.summary()["now"] == pytest.approx(mail.now())
