"""Ops alerts through the tenant's own connector (a DingTalk emulator over loopback), `lifeline health`, and
the policy keys behind them; the store on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lifeline_hub.connectors.dingtalk import plugin as dingtalk_plugin
from lifeline_hub.connectors.dingtalk.testing import Emulated, emulated
from lifeline_hub.core import health, ops
from lifeline_hub.core.config import Config, ConfigError, load
from lifeline_hub.core.models import ActionStatus
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.store import Store, schema
from tests.conftest import run_cli
from tests.test_config import ROUTED, host, write  # noqa: F401 (the host fixture)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def dt() -> Iterator[Emulated]:
    with emulated(users=2) as em:
        yield em


def _config(tmp_path: Path, db_url: str, dt: Emulated, policy: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    s, creds = dt.world.settings, dt.credentials()
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_OPS", json.dumps({
        "conn_type": "dingtalk", "login": creds.login, "password": creds.password, "extra": dict(creds.extra)}))
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[lifeline]\nstore = "{db_url}"\n[tenants.acme]\nsandbox = true\n[tenants.acme.policy]\n{policy}\n'
        f'[tenants.acme.connectors.ops]\nplugin = "dingtalk"\nconnection_id = "dingtalk_ops"\n'
        f'base_urls = {{oapi = "{dt.url}", api = "{dt.url}"}}\nstreams = []\n'
        f'corp_id = "{s.corp_id}"\nagent_id = {s.apps[0].agent_id}\n', encoding="utf-8")
    return path


@pytest.fixture
def dingtalk_host() -> PluginHost:
    h = PluginHost()
    h.register(dingtalk_plugin, "dingtalk")
    return h


def _setup(tmp_path: Path, db_url: str, dt: Emulated, policy: str, monkeypatch: pytest.MonkeyPatch,
           plugins: PluginHost) -> tuple[Config, Store]:
    config = load(_config(tmp_path, db_url, dt, policy, monkeypatch), plugins)
    store = Store(db_url)
    store.upgrade()
    return config, store


def test_an_alert_reaches_the_ops_recipients_once(tmp_path: Path, db_url: str, dt: Emulated,
                                                 monkeypatch: pytest.MonkeyPatch, dingtalk_host: PluginHost) -> None:
    config, store = _setup(tmp_path, db_url, dt, 'ops_connector = "ops"\nops_recipients = ["u1", "u2"]', monkeypatch,
                           dingtalk_host)
    text = "sync failed: candidate 13812345678 <li.lei@example.com> not reached"
    first = ops.alert(store, config, "acme", "failed:x", "acme: sync failed", text, NOW)
    again = ops.alert(store, config, "acme", "failed:x", "acme: sync failed", text, NOW)
    assert first == again == ops.alert_key("acme", "failed:x")
    [notice] = dt.world.notices.values()
    body = json.dumps(notice.msg, ensure_ascii=False)
    assert "acme: sync failed" in body and "13812345678" not in body and "li.lei@example.com" not in body
    assert sorted(notice.status) == ["u1", "u2"]
    assert store.count("actions", status=ActionStatus.done.value) == 1
    store.engine.dispose()


def test_an_alert_the_vendor_refuses_stays_in_the_outbox(tmp_path: Path, db_url: str, dt: Emulated,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         dingtalk_host: PluginHost) -> None:
    config, store = _setup(tmp_path, db_url, dt, 'ops_connector = "ops"\nops_recipients = ["u1"]', monkeypatch,
                           dingtalk_host)
    dt.world.faults.faults = dt.world.faults.faults.model_copy(update={"server_error": 1.0})
    key = ops.alert(store, config, "acme", "failed:y", "acme: sync failed", "boom", NOW)
    with store.engine.connect() as conn:
        status = conn.execute(sa.select(schema.actions.c.status).where(
            schema.actions.c.idempotency_key == key)).scalar_one()
    assert status == ActionStatus.planned.value and not dt.world.notices  # the tenant's next dispatch retries it
    store.engine.dispose()


def test_without_an_ops_connector_an_alert_is_only_logged(tmp_path: Path, db_url: str, dt: Emulated,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          dingtalk_host: PluginHost,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    config, store = _setup(tmp_path, db_url, dt, "", monkeypatch, dingtalk_host)
    assert ops.alert(store, config, "acme", "failed:z", "acme: sync failed", "boom", NOW) is None
    assert store.count("actions") == 0 and "no policy.ops_connector" in caplog.text
    store.engine.dispose()


def _troubles(store: Store) -> None:
    with store.begin() as conn:
        conn.execute(sa.insert(schema.sync_state).values(
            source="acme.ops", stream="calendar", tenant="acme", cursor={}, last_success_at=NOW - timedelta(hours=3),
            last_error="TransientError: dingtalk: 系统错误"))
        conn.execute(sa.insert(schema.sync_state).values(
            source="acme.ops", stream="receipts", tenant="acme", cursor={}, last_success_at=NOW - timedelta(minutes=5)))
        conn.execute(sa.insert(schema.actions).values(
            idempotency_key="ll-dead", tenant="acme", connector="acme.ops", kind="send_message", payload={},
            status="dead", attempts=6, due_at=NOW, last_error="gave up", created_at=NOW, updated_at=NOW))
        conn.execute(sa.insert(schema.health).values(tenant="acme", kind="incident", subject="platform:zoom",
                                                     message="3 technical misses", raised_at=NOW))
    health.StoreBreakers(store, "acme").open("acme.ops", "5 consecutive transport/5xx failures", NOW.timestamp())


def test_the_health_report_lists_what_is_wrong(tmp_path: Path, db_url: str, dt: Emulated,
                                               monkeypatch: pytest.MonkeyPatch, dingtalk_host: PluginHost) -> None:
    config, store = _setup(tmp_path, db_url, dt, "", monkeypatch, dingtalk_host)
    assert health.report(store, config, "acme", NOW).ok
    _troubles(store)
    found = health.report(store, config, "acme", NOW)
    assert found.lines() == [
        "acme: stale stream: acme.ops:calendar: last success 2026-03-02T06:00+00:00; last error: TransientError: "
        "dingtalk: 系统错误",
        "acme: dead outbox row: ll-dead send_message on acme.ops: gave up",
        "acme: breaker open: acme.ops: since 2026-03-02T09:00+00:00: 5 consecutive transport/5xx failures",
        "acme: incident: platform:zoom: since 2026-03-02T09:00+00:00: 3 technical misses",
    ]
    assert found.short() == ("health of acme: 1 stale streams, 1 dead outbox rows, 1 breakers open (acme.ops), "
                             "1 incidents")
    health.StoreBreakers(store, "acme").close("acme.ops", NOW.timestamp())
    assert health.report(store, config, "acme", NOW).breakers == []
    store.engine.dispose()


def test_lifeline_health(tmp_path: Path, db_url: str, dt: Emulated, monkeypatch: pytest.MonkeyPatch,
                         dingtalk_host: PluginHost) -> None:
    config, store = _setup(tmp_path, db_url, dt, "", monkeypatch, dingtalk_host)
    path = str(config.path)
    clean = run_cli("--config", path, "health", "--tenant", "acme")
    assert (clean.returncode, clean.stdout) == (0, "acme: ok (no stale stream, dead outbox row, open breaker or "
                                                   "incident)\n"), clean.stderr
    _troubles(store)
    found = run_cli("--config", path, "health")
    assert found.returncode == 1
    assert "acme: breaker open: acme.ops: since" in found.stdout and "acme: dead outbox row: ll-dead" in found.stdout
    unknown = run_cli("--config", path, "health", "--tenant", "globex")
    assert unknown.returncode == 2 and "tenant 'globex' is not configured" in unknown.stderr
    store.engine.dispose()


@pytest.mark.parametrize(("policy", "message"), [
    ('ops_connector = "pager"',
     "plugins.toml: tenants.acme.policy.ops_connector: no connector instance 'pager' in tenant acme "
     "(instances: dt, sms, chat)"),
    ('ops_connector = "chat"',
     "plugins.toml: tenants.acme.policy.ops_recipients: empty: name who gets the alerts on ops_connector 'chat'"),
    ('ops_recipients = ["u1"]',
     "plugins.toml: tenants.acme.policy.ops_connector: not set: ops_recipients need a connector instance to be "
     "reached on"),
    ('ops_connector = "sms", ops_recipients = ["u1"]',
     "plugins.toml: tenants.acme.policy.ops_connector: instance 'sms' (fakesms) cannot send_message, which failure "
     "and deadline alerts need"),
    ("breaker_failures = 0",
     "plugins.toml: tenants.acme.policy.breaker_failures: input should be greater than or equal to 1"),
])
def test_the_ops_policy_keys_are_checked(tmp_path: Path, host: PluginHost, policy: str,  # noqa: F811
                                        message: str) -> None:
    text = ROUTED.replace("policy = { grace_minutes = 45 }", f"policy = {{ {policy} }}")
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), host)
    assert message in info.value.problems, info.value.problems


def test_a_retry_budget_setting_is_a_positive_number(tmp_path: Path, host: PluginHost) -> None:  # noqa: F811
    text = ROUTED.replace('plugin = "fakechat"', 'plugin = "fakechat"\nretry_budget_seconds = 0')
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), host)
    assert info.value.problems == [
        "plugins.toml: tenants.acme.connectors.chat.retry_budget_seconds: input should be greater than 0"]
    fine = load(write(tmp_path, text.replace("retry_budget_seconds = 0", "retry_budget_seconds = 20")), host)
    assert fine.setups["acme.chat"].config.retry_budget_seconds == 20
