"""The look-up before sending again: a row an earlier worker may have sent (`Action.maybe_sent`) is looked up
by its Message-ID in the account's Sent folder over real IMAP on loopback, and sent only when it is not there."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline_hub.connectors.email.emulator_state import MailSettings, MailWorld
from lifeline_hub.connectors.email.imap import mutf7
from lifeline_hub.connectors.email.plugin import EmailConnector
from lifeline_hub.core import Credentials
from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.http import AuthFailed, InvalidRequest, TransientError
from lifeline_hub.core.models import Notification
from lifeline_hub.core.store import Store
from tests.email.mail_helpers import email_action, invite, make_connector, parse, self_signed

HUB = Credentials("mail", login="hub", password="s3cret")
SENT_AT = dt.datetime(2026, 2, 27, 1, 2, 3, tzinfo=dt.UTC)


@pytest.fixture
def account() -> Iterator[MailWorld]:
    """A server with one submission account: SMTP AUTH, and IMAP where its Sent folder is."""
    world = MailWorld(MailSettings(users={"hub": "s3cret"})).start()
    yield world
    world.close()


def looking_up(world: MailWorld, contacts: Store, credentials: Credentials | None = HUB,
               **settings: object) -> EmailConnector:
    connector = make_connector(world, contacts, credentials, imap=True, **settings)
    connector.clock = lambda: SENT_AT
    return connector


def test_a_row_performed_again_after_it_was_sent_is_found_not_sent_again(account: MailWorld, contacts: Store) -> None:
    connector = looking_up(account, contacts)
    first = connector.perform(email_action("ll-once", calendar=invite()))
    connector.clock = lambda: SENT_AT + dt.timedelta(hours=1)
    again = connector.perform(email_action("ll-once", calendar=invite(), attempts=2, maybe_sent=True))
    assert again == first  # the same result as the send: the Notification dated by the found copy's Date
    notification = again.records[0]
    assert isinstance(notification, Notification) and notification.occurred_at == SENT_AT
    assert len(account.messages()) == 1 and account.api_calls() == 1
    assert [(m["account"], m["message_id"]) for m in account.sent_messages()] == [("hub", "<ll-once@hub.example.com>")]


def test_a_row_that_may_have_been_sent_but_was_not_is_sent(account: MailWorld, contacts: Store) -> None:
    connector = looking_up(account, contacts)
    connector.perform(email_action("ll-other"))  # in the Sent folder, but another Message-ID
    connector.perform(email_action("ll-lost", maybe_sent=True))
    assert [parse(m["raw"])["Message-ID"] for m in account.messages()] == [
        "<ll-other@hub.example.com>", "<ll-lost@hub.example.com>"]
    assert account.summary()["imap"]["commands"] > 0


def test_a_timeout_after_acceptance_is_found_on_the_retry(account: MailWorld, contacts: Store) -> None:
    connector = looking_up(account, contacts, timeout_seconds=0.5)
    account.configure_faults(Faults(timeout=1.0, timeout_seconds=1.0))  # accepted, then no answer in time
    with pytest.raises(TransientError):
        connector.perform(email_action("ll-slow", calendar=invite()))
    account.configure_faults(Faults())
    connector.perform(email_action("ll-slow", calendar=invite(), attempts=2, maybe_sent=True))
    assert len(account.messages()) == 1


@pytest.mark.parametrize(("fault", "code"), [("server_error", "UNAVAILABLE"), ("timeout", None)])
def test_a_failed_look_up_is_retried_and_sends_nothing(account: MailWorld, contacts: Store, fault: str,
                                                       code: str | None) -> None:
    connector = looking_up(account, contacts, timeout_seconds=0.5)
    connector.perform(email_action("ll-flaky"))
    account.configure_faults(Faults(**{fault: 1.0, "timeout_seconds": 1.0}))
    for key in ("ll-flaky", "ll-never-sent"):
        with pytest.raises(TransientError) as caught:
            connector.perform(email_action(key, attempts=2, maybe_sent=True))
        assert caught.value.retryable and caught.value.vendor == "imap" and caught.value.code == code
    assert account.api_calls() == 1 and len(account.messages()) == 1  # not even a MAIL FROM: nothing sent anyway
    account.configure_faults(Faults())
    for key in ("ll-flaky", "ll-never-sent"):
        connector.perform(email_action(key, attempts=3, maybe_sent=True))
    assert [parse(m["raw"])["Message-ID"] for m in account.messages()] == [
        "<ll-flaky@hub.example.com>", "<ll-never-sent@hub.example.com>"]


def test_an_imap_server_that_is_down_sends_nothing(account: MailWorld, contacts: Store) -> None:
    connector = looking_up(account, contacts)
    assert account.imap is not None
    account.imap.close()
    with pytest.raises(TransientError) as caught:
        connector.perform(email_action("ll-down", maybe_sent=True))
    assert caught.value.retryable and "ConnectionRefusedError" in str(caught.value)
    assert account.messages() == [] and account.api_calls() == 0


def test_rejected_imap_credentials_and_a_missing_folder_are_configuration_errors(account: MailWorld,
                                                                                 contacts: Store) -> None:
    wrong = Credentials("mail", login="hub", password="s3cret", extra={"imap_password": "wrong"})
    with pytest.raises(AuthFailed) as refused:
        looking_up(account, contacts, wrong).perform(email_action("ll-auth", maybe_sent=True))
    assert not refused.value.retryable and refused.value.code == "AUTHENTICATIONFAILED"
    assert "IMAP check failed" in looking_up(account, contacts, wrong).check().message
    with pytest.raises(InvalidRequest, match="sent_folder"):
        looking_up(account, contacts, sent_folder="Sent Items").perform(email_action("ll-folder", maybe_sent=True))
    with pytest.raises(InvalidRequest, match=r"base_urls\.imap needs a connection"):
        looking_up(account, contacts, None).perform(email_action("ll-anon", maybe_sent=True))
    assert account.messages() == [] and account.api_calls() == 0


def test_without_imap_a_row_that_may_have_been_sent_is_sent_again(account: MailWorld, contacts: Store,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """As before the look-up existed: at least once, the same Message-ID; the operator is told once."""
    caplog.set_level(logging.INFO, logger="lifeline.email")
    connector = make_connector(account, contacts, HUB)
    assert "no IMAP look-up" in connector.check().message
    for key in ("ll-a", "ll-b"):
        connector.perform(email_action(key, calendar=invite()))
        connector.perform(email_action(key, calendar=invite(), attempts=2, maybe_sent=True))
    assert [parse(m["raw"])["Message-ID"] for m in account.messages()] == [
        "<ll-a@hub.example.com>", "<ll-a@hub.example.com>", "<ll-b@hub.example.com>", "<ll-b@hub.example.com>"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "lifeline.email" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "base_urls.imap" in warnings[0]


def test_starttls_plain_auth_and_a_localized_sent_folder(tmp_path: Path, contacts: Store) -> None:
    cert, key = self_signed(tmp_path)
    world = MailWorld(MailSettings(users={"hub": "s3cret"}, sent_folder="已发送", tls_cert_file=cert,
                                   tls_key_file=key, require_starttls=True)).start()
    try:
        connector = looking_up(world, contacts, starttls=True, ca_file=cert, sent_folder="已发送")
        check = connector.check()
        assert check.ok and "IMAP ok" in check.message and "0 in '已发送'" in check.message
        first = connector.perform(email_action("ll-tls", calendar=invite()))
        assert connector.perform(email_action("ll-tls", calendar=invite(), attempts=2, maybe_sent=True)) == first
        assert len(world.messages()) == 1
        with pytest.raises(TransientError, match="SSL"):  # the server's certificate is not trusted without the CA
            looking_up(world, contacts, starttls=True, sent_folder="已发送").perform(
                email_action("ll-tls", maybe_sent=True))
    finally:
        world.close()


def test_folder_names_are_sent_in_modified_utf7() -> None:
    assert mutf7("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"  # RFC 3501 §5.1.3
    assert mutf7("Sent Items & More") == "Sent Items &- More" and mutf7("已发送") == "&XfJT0ZAB-"
