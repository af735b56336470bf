"""The plugin as the hub sees it: registration, declared streams and actions, plugins.toml settings,
credentials from a connection, the emulator factory."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from feishu_kit import rig

from lifeline_hub.connectors.feishu import plugin
from lifeline_hub.core import connections
from lifeline_hub.core.config import ConfigError, load
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.sync import build_connector

INSTANCE = """
[tenants.acme.connectors.feishu]
plugin = "feishu"
connection_id = "feishu_acme"
base_urls = {{ open = "{url}" }}
id_type = "union_id"
calendar_id = "feishu.cn_0000@group.calendar.feishu.cn"
tasklist_guid = "tl-0001-lifeline"
approval_codes = ["RESCHEDULE"]
urgent_sms_allowed = true
meeting_attendance = true
streams = ["interviews", "receipts", "rsvps"]
"""


def host() -> PluginHost:
    registry = PluginHost()
    registry.register(plugin, "feishu")
    return registry


def test_registers_streams_and_actions() -> None:
    (described,) = [p for p in host().describe() if p["name"] == "feishu"]
    (connector,) = described["connectors"]
    assert connector["streams"] == ["interviews", "rsvps", "receipts", "attendance", "tasks", "approvals"]
    assert connector["actions"] == [
        "send_message", "create_task", "create_approval", "create_calendar_event", "update_calendar_event"
    ]  # fmt: skip


def test_instance_table_and_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with rig() as r:
        s = r.world.settings
        monkeypatch.setenv(
            connections.env_var_name("feishu_acme"),
            f'{{"conn_type": "feishu", "login": "{s.app_id}", "password": "{s.app_secret}", '
            f'"extra": {{"encrypt_key": "{s.encrypt_key}", "verification_token": "{s.verification_token}"}}}}',
        )
        path = tmp_path / "plugins.toml"
        path.write_text(INSTANCE.format(url=r.url), encoding="utf-8")
        setup = load(path, host()).setups["acme.feishu"]
        assert setup.streams == ["interviews", "rsvps", "receipts"]
        connector = build_connector(setup)
        assert connector.check().ok
        assert connector.event_crypto().verification_token == s.verification_token
        path.write_text(INSTANCE.format(url=r.url) + 'id_type_typo = "x"\n', encoding="utf-8")
        with pytest.raises(ConfigError, match=r"connectors.feishu.id_type_typo: extra inputs are not permitted"):
            load(path, host())


def test_emulator_factory_is_importable() -> None:
    module, _, factory = plugin.FeishuConnector.emulator.partition(":") if plugin.FeishuConnector.emulator else ""
    app = getattr(importlib.import_module(module), factory)()
    paths = {route.path for route in app.routes}
    assert {"/open-apis/vc/v1/meeting_list", "/open-apis/im/v1/messages/{message_id}/read_users"} <= paths
