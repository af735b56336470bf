"""The plugin as the hub loads it: registration, `plugins.toml` instance table, connection JSON,
`check()`, a sync through the config, and no secret or token in any log line or error."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline_hub.connectors.dingtalk import plugin
from lifeline_hub.connectors.dingtalk.testing import Emulated, emulated
from lifeline_hub.core.config import ConfigError, load
from lifeline_hub.core.models import Action, utcnow
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.store import Store
from lifeline_hub.core.sync import build_connector, sync_stream


@pytest.fixture
def dt() -> Iterator[Emulated]:
    with emulated(users=3) as running:
        yield running


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost()
    host.register(plugin, "dingtalk")
    return host


def config_file(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(f"""
[lifeline]
store = "sqlite:///{tmp_path / 'store.db'}"

[tenants.acme.connectors.dt]
plugin = "dingtalk"
connection_id = "dingtalk_acme"
base_urls = {{ oapi = "{url}", api = "{url}" }}
streams = ["receipts", "tasks"]
corp_id = "dingemulatorcorp0001"
agent_id = 3000000001
operator_union_id = "union1"
{extra}
""", encoding="utf-8")
    return path


def connection(dt: Emulated, secret: str | None = None) -> str:
    creds = dt.credentials()
    return json.dumps({"conn_type": "dingtalk", "login": creds.login, "password": secret or creds.password,
                       "extra": dict(creds.extra)})


def test_registered_connector_declares_streams_actions_and_emulator(host: PluginHost) -> None:
    cls = host.connector("dingtalk")
    assert cls is plugin.DingTalkConnector
    assert [s.name for s in cls.streams] == ["receipts", "interviews", "calendar", "tasks", "attendance"]
    assert set(cls.actions) == {"send_message", "create_task", "close_task", "create_approval",
                                "create_calendar_event", "update_calendar_event"}
    assert cls.default_base_urls == {"oapi": "https://oapi.dingtalk.com", "api": "https://api.dingtalk.com"}
    module, _, factory = (cls.emulator or "").partition(":")
    assert callable(getattr(__import__(module, fromlist=[factory]), factory))


def test_config_connection_check_and_sync(dt: Emulated, host: PluginHost, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    config = load(config_file(tmp_path, dt.url), host)
    setup = config.setups["acme.dt"]
    assert setup.streams == ["receipts", "tasks"] and setup.instance.base_urls["api"] == dt.url
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_ACME", connection(dt))
    connector = build_connector(setup)
    assert connector.check().ok
    store = Store(config.store_url)
    store.upgrade()
    connector.perform(Action(idempotency_key="ll-p-1", tenant="acme", connector="acme.dt", kind="create_task",
                             due_at=utcnow(), payload={"assignees": ["union2"], "title": "t", "description": "d",
                                                       "links": [{"label": "e", "url": "https://l.test"}]}))
    summary = sync_stream(store, setup, "tasks")
    assert summary.written.inserted == 1 and summary.watermark is not None and summary.error is None


def test_settings_errors_name_the_key(dt: Emulated, host: PluginHost, tmp_path: Path) -> None:
    path = config_file(tmp_path, dt.url, 'message_channel = "pigeon"')
    with pytest.raises(ConfigError, match=r"tenants\.acme\.connectors\.dt\.message_channel"):
        load(path, host)


def test_check_fails_clearly_and_no_secret_reaches_logs_or_errors(
        dt: Emulated, host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    setup = load(config_file(tmp_path, dt.url), host).setups["acme.dt"]
    assert not plugin.DingTalkConnector(setup.instance, setup.settings, None).check().ok
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_ACME", connection(dt, secret="wrong-secret-value"))
    result = build_connector(setup).check()
    assert not result.ok and "credentials rejected" in result.message and "wrong-secret-value" not in result.message
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_ACME", connection(dt))
    caplog.set_level(logging.DEBUG, logger="lifeline")
    connector = build_connector(setup)
    connector.perform(Action(idempotency_key="ll-p-2", tenant="acme", connector="acme.dt", kind="send_message",
                             due_at=utcnow(), payload={"recipients": ["u1"], "title": "t", "text": "x"}))
    list(connector.read("tasks", {}))
    tokens = list(dt.world.tokens)
    app = dt.world.settings.apps[0]
    assert tokens and caplog.records
    assert not [t for t in [*tokens, app.appsecret] if t in caplog.text]
