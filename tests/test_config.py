"""plugins.toml validation: every error names file, key path (or line) and problem."""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel

from lifeline_hub.core import Connector, StreamInfo, hookimpl
from lifeline_hub.core.airflow import layout
from lifeline_hub.core.airflow.manifest import Manifest
from lifeline_hub.core.config import ConfigError, load
from lifeline_hub.core.models import LinkEvent
from lifeline_hub.core.plugins import PluginHost
from tests.conftest import run_cli


class DtSettings(BaseModel):
    agent_id: int
    corp_id: str = "ding-corp"


class FakeDingTalk(Connector):
    name = "fakedt"
    settings_model = DtSettings
    streams = (StreamInfo("receipts", (LinkEvent,)), StreamInfo("interviews", (LinkEvent,)))


class FakeSms(Connector):
    name = "fakesms"
    actions = ("send_sms",)


class FakeChat(Connector):
    """Messages and tasks, but no approvals or calendar."""

    name = "fakechat"
    actions = ("send_message", "create_task")


def _register(register: Callable[[type[Connector]], None]) -> None:
    for cls in (FakeDingTalk, FakeSms, FakeChat):
        register(cls)


@pytest.fixture
def host() -> PluginHost:
    h = PluginHost()
    h.register(types.SimpleNamespace(lifeline_register_connectors=hookimpl(_register)), "fakes")
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
     "plugins.toml: tenants.acme.connectors.dt.plugin: unknown connector plugin 'nosuch' (available: fakechat, "
     "fakedt, fakesms)"),
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


ROUTED = GOOD + """
[tenants.acme.connectors.sms]
plugin = "fakesms"

[tenants.acme.connectors.chat]
plugin = "fakechat"
"""
"""acme with an SMS gateway and a work chat: what the policy cases below point at."""


@pytest.mark.parametrize(("policy", "message"), [
    ('hr_connector = "nonexistent"',
     "plugins.toml: tenants.acme.policy.hr_connector: no connector instance 'nonexistent' in tenant acme "
     "(instances: dt, sms, chat)"),
    ("candidate_connectors = { email = \"mail\" }",
     "plugins.toml: tenants.acme.policy.candidate_connectors.email: no connector instance 'mail' in tenant acme"),
    ('calendar_connector = "cal"', "plugins.toml: tenants.acme.policy.calendar_connector: no connector instance 'cal'"),
    ('hr_connector = "sms"',
     "plugins.toml: tenants.acme.policy.hr_connector: instance 'sms' (fakesms) cannot create_task, send_message, "
     "which HR's tasks and messages need"),
    ('approval_connector = "chat"',
     "plugins.toml: tenants.acme.policy.approval_connector: instance 'chat' (fakechat) cannot create_approval, "
     "which reschedule approvals need"),
    ('calendar_connector = "chat"',
     "plugins.toml: tenants.acme.policy.calendar_connector: instance 'chat' (fakechat) cannot create_calendar_event, "
     "update_calendar_event"),
    ("candidate_connectors = { sms = \"chat\" }",
     "plugins.toml: tenants.acme.policy.candidate_connectors.sms: instance 'chat' (fakechat) cannot send_sms"),
    ('reminder_channels = ["sms", "email"]',
     "plugins.toml: tenants.acme.policy.reminder_channels: no enabled connector instance of tenant acme can "
     "send_email for 'email' (instances: dt, sms, chat)"),
    ('reminder_channels = ["voice"]',
     "plugins.toml: tenants.acme.policy.reminder_channels: 'voice' cannot carry reminders (reminder channels: "
     "sms, email, dingtalk, feishu, wechat"),
    ('reminder_channels = ["dingtalk"]',  # an IM channel carries reminders through the connector of its name
     "plugins.toml: tenants.acme.policy.reminder_channels: no enabled connector instance of tenant acme can "
     "send_message for 'dingtalk' (instances: dt, sms, chat)"),
])
def test_a_policy_must_name_instances_that_can_do_what_is_planned_on_them(
        tmp_path: Path, host: PluginHost, policy: str, message: str) -> None:
    text = ROUTED.replace("policy = { grace_minutes = 45 }", f"policy = {{ {policy} }}")
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), host)
    assert [p for p in info.value.problems if p.startswith(message)], info.value.problems


def test_a_policy_that_fits_its_instances_loads(tmp_path: Path, host: PluginHost) -> None:
    policy = ('hr_connector = "chat", candidate_connectors = { sms = "sms", dingtalk = "chat" }, '
              'reminder_channels = ["sms"], playbooks = { unknown = ["update_ats"] }')
    cfg = load(write(tmp_path, ROUTED.replace("policy = { grace_minutes = 45 }", f"policy = {{ {policy} }}")), host)
    assert cfg.tenant("acme").policy.hr_connector == "chat"


def test_the_dag_file_finds_the_same_policy_problems(tmp_path: Path, host: PluginHost) -> None:
    """What `lifeline check` says about the policy's instances, the DAG file says at parse time from the manifest."""
    text = ROUTED.replace("policy = { grace_minutes = 45 }",
                          'policy = { hr_connector = "sms", approval_connector = "nowhere" }')
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as offline:  # no plugin, no manifest: the instance that is not there
        layout.read(path)
    assert offline.value.problems == [
        "plugins.toml: tenants.acme.policy.approval_connector: no connector instance 'nowhere' in tenant acme "
        "(instances: dt, sms, chat)"]
    fixed = write(tmp_path, text.replace('"nowhere"', '"chat"'))
    manifest = tmp_path / "plugins.json"
    manifest.write_text(json.dumps({"format": 1, "plugins": host.describe()}), encoding="utf-8")
    with pytest.raises(ConfigError) as parsed:
        layout.read(fixed, Manifest.read(manifest))
    with pytest.raises(ConfigError) as loaded:
        load(fixed, host)
    assert parsed.value.problems[:-1] == loaded.value.problems  # the last line: the manifest's footer
    assert len(loaded.value.problems) == 2


@pytest.mark.parametrize(("store", "message"), [
    ("mysql://lifeline:s3cret@db/lifeline", "plugins.toml: lifeline.store: unsupported store URL scheme 'mysql://'"),
    ("foo://", "plugins.toml: lifeline.store: unsupported store URL scheme 'foo://'"),
    ("postgresql+asyncpg://db/lifeline", "plugins.toml: lifeline.store: unsupported store URL scheme "
                                         "'postgresql+asyncpg://'"),
    ("var/lifeline.db", "plugins.toml: lifeline.store: not a database URL"),
])
def test_an_unsupported_store_url_is_named_without_its_password(tmp_path: Path, host: PluginHost, store: str,
                                                                message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, GOOD.replace("sqlite:///var/test.db", store)), host)
    assert info.value.problems[0].startswith(message) and "s3cret" not in str(info.value)


def test_a_store_url_from_the_environment_is_checked_too(tmp_path: Path, host: PluginHost,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load(write(tmp_path, GOOD), host)
    monkeypatch.setenv("LIFELINE_STORE_URL", "mysql://root:s3cret@db/lifeline")
    with pytest.raises(ConfigError) as info:
        _ = cfg.store_url
    assert info.value.problems == ["$LIFELINE_STORE_URL: unsupported store URL scheme 'mysql://': Lifeline stores in "
                                   "SQLite (sqlite:///PATH) or PostgreSQL (postgresql+psycopg://USER@HOST/DB)"]


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path, host: PluginHost) -> None:
    path = tmp_path / "plugins.toml"
    path.write_bytes(GOOD.replace('locale = "en"', 'display_name = "Acme 招聘"').encode("gb18030"))
    with pytest.raises(ConfigError) as info:
        load(path, host)
    assert info.value.problems == ["plugins.toml: line 7: not UTF-8 text (byte 0xd5); save the file as UTF-8"]
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())  # a byte-order mark (Windows editors) is fine
    assert load(path, host).tenant("acme").locale == "en"


def test_a_sandbox_tenant_is_marked_in_the_file(tmp_path: Path, host: PluginHost) -> None:
    cfg = load(write(tmp_path, GOOD.replace('locale = "en"', 'locale = "en"\nsandbox = true')), host)
    assert cfg.tenant("acme").sandbox
    assert not load(write(tmp_path, GOOD), host).tenant("acme").sandbox
