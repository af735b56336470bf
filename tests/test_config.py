"""plugins.toml validation: every error names file, key path (or line) and problem."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from pydantic import BaseModel

from core import Connector, StreamInfo, hookimpl
from core.config import ConfigError, load
from core.models import LinkEvent
from core.plugins import PluginHost
from tests.conftest import run_cli


class DtSettings(BaseModel):
    agent_id: int
    corp_id: str = "ding-corp"


class FakeDingTalk(Connector):
    name = "fakedt"
    settings_model = DtSettings
    streams = (StreamInfo("receipts", (LinkEvent,)), StreamInfo("interviews", (LinkEvent,)))


@pytest.fixture
def host() -> PluginHost:
    plugin = types.SimpleNamespace(
        lifeline_register_connectors=hookimpl(lambda register: register(FakeDingTalk)))
    h = PluginHost()
    h.register(plugin, "fakedt")
    return h


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
[lifeline]
store = "sqlite:///var/test.db"

[tenants.acme]
timezone = "Europe/Berlin"
locale = "en"
policy = { grace_minutes = 45 }

[tenants.acme.connectors.dt]
plugin = "fakedt"
connection_id = "dingtalk_acme"
agent_id = 42
streams = ["receipts"]
base_urls = { oapi = "http://127.0.0.1:9/" }
"""


def test_a_valid_file_builds_connector_setups(tmp_path: Path, host: PluginHost) -> None:
    cfg = load(write(tmp_path, GOOD), host)
    setup = cfg.setups["acme.dt"]
    assert setup.settings == DtSettings(agent_id=42)
    assert setup.streams == ["receipts"]
    assert setup.instance.timezone == "Europe/Berlin"
    assert setup.instance.base_urls["oapi"] == "http://127.0.0.1:9/"
    assert cfg.tenant("acme").policy.grace_minutes == 45
    assert cfg.tenant("acme").policy.late_after_minutes == 5
    assert cfg.store_url == f"sqlite:///{tmp_path / 'var' / 'test.db'}"


def test_store_url_comes_from_the_environment_first(tmp_path: Path, host: PluginHost,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFELINE_STORE_URL", "postgresql+psycopg://db.internal/lifeline")
    assert load(write(tmp_path, GOOD), host).store_url == "postgresql+psycopg://db.internal/lifeline"


@pytest.mark.parametrize(("edit", "message"), [
    (("agent_id = 42\n", ""), "plugins.toml: tenants.acme.connectors.dt.agent_id: field required"),
    (("agent_id = 42", 'agent_id = "forty-two"'),
     "plugins.toml: tenants.acme.connectors.dt.agent_id: input should be a valid integer"),
    (('plugin = "fakedt"', 'plugin = "nosuch"'),
     "plugins.toml: tenants.acme.connectors.dt.plugin: unknown connector plugin 'nosuch' (available: fakedt)"),
    (('timezone = "Europe/Berlin"', 'timezone = "Europe/Atlantis"'),
     "plugins.toml: tenants.acme.timezone: unknown time zone 'Europe/Atlantis'"),
    (("grace_minutes = 45", "grace_minutes = -1"),
     "plugins.toml: tenants.acme.policy.grace_minutes: input should be greater than or equal to 0"),
    (('locale = "en"', 'locale = "en"\ncolour = "blue"'), "plugins.toml: tenants.acme.colour: extra inputs"),
    (('streams = ["receipts"]', 'streams = ["receipt"]'),
     "plugins.toml: tenants.acme.connectors.dt.streams: fakedt has no stream 'receipt'"),
    (("[tenants.acme]", "[tenants.Acme]"), "plugins.toml: tenants: tenant name 'Acme' must be lower-case"),
    (("agent_id = 42", "agent_id = 42\nagent_id = 43"), "plugins.toml: line 14, column 14: Cannot overwrite a value"),
])
def test_errors_name_file_key_and_problem(tmp_path: Path, host: PluginHost, edit: tuple[str, str],
                                          message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, GOOD.replace(*edit)), host)
    assert any(p.startswith(message) for p in info.value.problems), info.value.problems


def test_unknown_tenant_is_named(tmp_path: Path, host: PluginHost) -> None:
    with pytest.raises(ConfigError, match="tenant 'globex' is not configured"):
        load(write(tmp_path, GOOD), host).tenant("globex")


def test_cli_reports_a_broken_file_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "[tenants.acme]\n[tenants.acme.connectors.x]\nconnection_id = 1\n")
    result = run_cli("--config", str(path), "check")
    assert result.returncode == 2
    assert "plugins.toml: tenants.acme.connectors.x.plugin: field required" in result.stderr
    assert "plugins.toml: tenants.acme.connectors.x.connection_id: input should be a valid string" in result.stderr
    missing = run_cli("--config", str(tmp_path / "nope.toml"), "check")
    assert missing.returncode == 2 and "nope.toml: file not found" in missing.stderr
