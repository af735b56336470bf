"""Airflow's "Test connection" on Lifeline's connection types: the connector's own check against the emulators."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.models.connection import Connection

from lifeline_hub.connectors.aliyun_sms.emulator import EmulatorSettings, SmsWorld
from lifeline_hub.connectors.aliyun_sms.emulator import create_app as sms_app
from lifeline_hub.connectors.dingtalk.emulator import create_app as dingtalk_app
from lifeline_hub.connectors.dingtalk.emulator_state import DingTalkWorld
from lifeline_hub.connectors.email.emulator_state import MailSettings, MailWorld
from lifeline_hub.core.airflow.hooks import AliyunSmsHook, DingtalkHook, EmailHook
from lifeline_hub.core.emulator import LoopbackServer

SMS_SETTINGS = {"sign_name": "面试助手"}


@pytest.fixture
def dingtalk() -> Iterator[tuple[DingTalkWorld, str]]:
    world = DingTalkWorld()
    with LoopbackServer(dingtalk_app(world=world)) as server:
        yield world, server.url


@pytest.fixture
def sms() -> Iterator[tuple[SmsWorld, str]]:
    world = SmsWorld(EmulatorSettings(push_background=False, delivery_delay_seconds=0, retry_after_ms=10))
    with LoopbackServer(sms_app(world=world)) as server:
        yield world, server.url
    world.close()


@pytest.fixture
def mail() -> Iterator[MailWorld]:
    world = MailWorld(MailSettings(users={"recruiting@hub.example.com": "smtp-test-password-0001"})).start()
    yield world
    world.close()


def connect(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn_type: str, login: str, password: str,
            **extra: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(
        {"conn_type": conn_type, "login": login, "password": password, "extra": extra}))


def dingtalk_extra(url: str, corp_id: str) -> dict[str, Any]:
    return {"base_urls": {"oapi": url, "api": url}, "settings": {"corp_id": corp_id, "agent_id": 1},
            "callback_aes_key": "test-connection-aes-key-0123456789"}


def test_dingtalk_good_credentials_pass_without_showing_the_appkey(
        dingtalk: tuple[DingTalkWorld, str], monkeypatch: pytest.MonkeyPatch) -> None:
    world, url = dingtalk
    app = world.settings.apps[0]
    connect(monkeypatch, "dt_good", "dingtalk", app.appkey, app.appsecret,
            **dingtalk_extra(url, world.settings.corp_id))
    ok, message = DingtalkHook(conn_id="dt_good").test_connection()
    assert ok, message
    assert message == f"both tokens issued for app *** (corp {world.settings.corp_id})"


def test_dingtalk_wrong_secret_fails_with_the_reason_and_no_secret(
        dingtalk: tuple[DingTalkWorld, str], monkeypatch: pytest.MonkeyPatch) -> None:
    world, url = dingtalk
    app = world.settings.apps[0]
    wrong = "wrong-app-secret-0123456789"
    connect(monkeypatch, "dt_bad", "dingtalk", app.appkey, wrong, **dingtalk_extra(url, world.settings.corp_id))
    ok, message = DingtalkHook(conn_id="dt_bad").test_connection()
    assert not ok
    assert message and "\n" not in message
    assert wrong not in message and app.appkey not in message and "0123456789" not in message
    assert app.appsecret not in message


def test_dingtalk_without_the_settings_it_checks_with_names_them(monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, "dt_bare", "dingtalk", "dingappkey-0001", "app-secret-0001")
    assert DingtalkHook(conn_id="dt_bare").test_connection() == (
        False, "dingtalk: set the settings it checks with in the extra 'settings' (corp_id, agent_id)")


def test_aliyun_sms_good_and_bad_access_keys(sms: tuple[SmsWorld, str], monkeypatch: pytest.MonkeyPatch) -> None:
    world, url = sms
    key_id, secret = next(iter(world.settings.access_keys.items()))
    connect(monkeypatch, "sms_good", "aliyun_sms", key_id, secret, base_urls={"api": url}, settings=SMS_SETTINGS)
    assert AliyunSmsHook(conn_id="sms_good").test_connection() == (True, f"signed QuerySendDetails ok at {url}")
    connect(monkeypatch, "sms_bad", "aliyun_sms", key_id, "not-the-secret-0001", base_urls={"api": url},
            settings=SMS_SETTINGS, push_token="push-token-0001")
    ok, message = AliyunSmsHook(conn_id="sms_bad").test_connection()
    assert not ok and message.startswith("QuerySendDetails failed:") and "\n" not in message
    assert not any(s in message for s in (key_id, "not-the-secret-0001", secret, "push-token-0001"))


def test_airflows_own_test_connection_finds_the_hook_by_connection_type(
        sms: tuple[SmsWorld, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """What the API server's POST /connections/test does: the connection in an env var, then `test_connection()`."""
    world, url = sms
    key_id, secret = next(iter(world.settings.access_keys.items()))
    extra = json.dumps({"base_urls": {"api": url}, "settings": SMS_SETTINGS})
    conn = Connection(conn_id="sms_ui", conn_type="aliyun_sms", login=key_id, password=secret, extra=extra)
    monkeypatch.setenv("AIRFLOW_CONN_SMS_UI", conn.as_json())
    assert conn.test_connection() == (True, f"signed QuerySendDetails ok at {url}")


def test_email_logs_in_to_smtp_and_a_wrong_password_fails(mail: MailWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    login, password = next(iter(mail.settings.users.items()))
    extra = {"base_urls": {"smtp": mail.url}, "settings": {"from_address": login, "starttls": False}}
    connect(monkeypatch, "mail_good", "email", login, password, **extra)
    ok, message = EmailHook(conn_id="mail_good").test_connection()
    assert ok, message
    assert message.startswith("SMTP ok at 127.0.0.1:")
    connect(monkeypatch, "mail_bad", "email", login, "wrong-smtp-password", **extra)
    ok, message = EmailHook(conn_id="mail_bad").test_connection()
    assert not ok and message.startswith("SMTP check failed:")
    assert login not in message and "wrong-smtp-password" not in message and password not in message


def test_a_broken_extra_is_an_answer_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, "sms_odd", "aliyun_sms", "LTAI-odd", "odd-secret-0001", base_urls="http://127.0.0.1:9")
    assert AliyunSmsHook(conn_id="sms_odd").test_connection() == (
        False, "extras base_urls and settings must be JSON objects")


def test_email_checks_the_imap_look_up_with_its_own_account(mail: MailWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    login, password = next(iter(mail.settings.users.items()))
    extra = {"base_urls": {"smtp": mail.url, "imap": mail.imap_url},
             "settings": {"from_address": login, "starttls": False}}
    connect(monkeypatch, "mail_imap", "email", login, password, **extra)
    ok, message = EmailHook(conn_id="mail_imap").test_connection()
    assert ok and "; IMAP ok at 127.0.0.1:" in message, message
    connect(monkeypatch, "mail_imap_bad", "email", login, password, imap_login=login,
            imap_password="wrong-imap-password", **extra)
    ok, message = EmailHook(conn_id="mail_imap_bad").test_connection()
    assert not ok and "IMAP check failed: imap: IMAP authentication failed" in message
    assert login not in message and "wrong-imap-password" not in message
