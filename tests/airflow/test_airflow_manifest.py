"""The plugin manifest: written by `lifeline plugins --manifest`, read by the DAG file at parse time.

A tenant whose plugin is unknown, failed to load or is disabled gets its failing `config_error`
placeholder DAG (never silently missing DAGs; the other tenants keep theirs); a missing manifest is
the DAG file's import error. Parsing itself loads no plugin. The broken
plugins are the real third-party test distribution, installed and loaded by the real command.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow_tinyats import host as tinyats_host
from airflow_tinyats import write_config

import lifeline_hub.core.plugins
from lifeline_hub.core.airflow import manifest, tasks
from tests.airflow.test_airflow_dags import placeholder
from tests.conftest import run_cli

DAGS = Path(__file__).resolve().parents[2] / "dags"


def bag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> DagBag:
    path = tmp_path / "plugins.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("LIFELINE_CONFIG", str(path))
    monkeypatch.setattr(lifeline_hub.core.plugins, "get_host", lambda: pytest.fail("plugins loaded at parse time"))
    return DagBag(dag_folder=str(DAGS))


def import_error(dagbag: DagBag) -> str:
    assert dagbag.dag_ids == []
    [error] = dagbag.import_errors.values()
    return str(error)


@pytest.fixture(scope="module")
def third_party_manifest(plugin_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`lifeline plugins --manifest` run for real with the test plugins installed."""
    path = tmp_path_factory.mktemp("manifest") / "lifeline-plugins.json"
    result = run_cli("plugins", "--manifest", "--json",
                     env={"PYTHONPATH": str(plugin_site), "LIFELINE_PLUGIN_MANIFEST": str(path)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)  # --json still prints only the JSON
    assert f"plugin manifest written to {path} (" in result.stderr
    assert "not loaded: " in result.stderr and "broken_import" in result.stderr
    return path


def test_the_manifest_records_each_entry_point_and_each_connectors_streams_and_actions(
        third_party_manifest: Path) -> None:
    data = json.loads(third_party_manifest.read_text(encoding="utf-8"))
    plugins = {p["name"]: p for p in data["plugins"]}
    assert plugins["greeter"]["status"] == "loaded"
    assert plugins["greeter"]["connectors"] == [
        {"name": "greeter", "streams": ["confirmations"], "actions": ["send_message"], "channels": [
            {"name": "greetchat", "label": "Greet chat", "address": "account", "delivery_known": True,
             "read_known": True, "click_known": True, "send_action": None, "labels": []}],
         "settings_schema": {"properties": {"greeting": {"title": "Greeting", "type": "string"}},
                             "required": ["greeting"], "title": "GreeterSettings", "type": "object"}}]
    assert plugins["broken_import"]["status"] == "failed"
    assert "lifeline_module_that_does_not_exist" in plugins["broken_import"]["error"]
    assert plugins["dingtalk"]["builtin"] and plugins["dingtalk"]["status"] == "loaded"
    [dingtalk] = plugins["dingtalk"]["connectors"]
    assert dingtalk["settings_schema"]["required"] == ["corp_id", "agent_id"]  # what `lifeline plugins --schema` says
    assert dingtalk["settings_schema"]["additionalProperties"] is False
    assert data["format"] == 1 and data["written_at"].endswith("Z")


@pytest.mark.parametrize(("plugin", "problem"), [
    ("broken_import", "plugin 'broken_import' (distribution lifeline-testplugins 0.0.1) failed to load: "
                      "ModuleNotFoundError: No module named 'lifeline_module_that_does_not_exist'"),
    ("bad_settings", "plugin 'bad_settings' (distribution lifeline-testplugins 0.0.1) failed to load: "
                     "PluginError: connector 'bad_settings': settings_model must be a pydantic model class"),
    ("impostor", "plugin 'impostor' (distribution lifeline-testplugins 0.0.1) failed to load: "
                 "PluginError: connector name 'greeter' is already registered by plugin 'greeter'"),
])
def test_a_broken_plugin_fails_its_tenants_placeholder_naming_key_plugin_and_the_loaders_error(
        third_party_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin: str,
        problem: str) -> None:
    monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(third_party_manifest))
    dagbag = bag(tmp_path, monkeypatch, f'[tenants.acme.connectors.good]\nplugin = "greeter"\ngreeting = "hi"\n'
                                        f'[tenants.acme.connectors.bad]\nplugin = "{plugin}"\n'
                                        f'[tenants.beta.connectors.good]\nplugin = "greeter"\ngreeting = "hi"\n')
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == ["lifeline__acme__config_error", "lifeline__beta__reconcile",
                                      "lifeline__beta__reminders", "lifeline__beta__sync"]
    error = placeholder(dagbag, "acme")
    assert f"plugins.toml: tenants.acme.connectors.bad.plugin: {problem}" in error
    assert f"plugins as recorded in {third_party_manifest} at " in error
    assert "run `lifeline plugins --manifest` again" in error


def test_a_good_third_party_plugin_gets_its_dags_with_the_manifests_streams(
        third_party_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(third_party_manifest))
    dagbag = bag(tmp_path, monkeypatch, '[tenants.acme.connectors.hello]\nplugin = "greeter"\ngreeting = "hi"\n')
    assert dagbag.import_errors == {}
    sync = dagbag.dags["lifeline__acme__sync"]
    assert sorted(t.task_id for t in sync.tasks) == ["plan_greeter", "sync_greeter"]
    assert "- `hello` (greeter): confirmations" in (sync.doc_md or "")


def test_a_plugins_channel_may_be_named_in_plugins_toml_at_parse_time(
        third_party_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest carries the channels a plugin declares, so the DAG file accepts a policy naming one
    without loading the plugin (it was refused as "not a channel" before)."""
    recorded = json.loads(third_party_manifest.read_text())
    [greeter] = [p for p in recorded["plugins"] if p["name"] == "greeter"]
    assert greeter["connectors"][0]["channels"][0]["name"] == "greetchat"
    monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(third_party_manifest))
    dagbag = bag(tmp_path, monkeypatch, '[tenants.acme.connectors.greetchat]\nplugin = "greeter"\ngreeting = "hi"\n'
                                        '[tenants.acme.policy]\ncandidate_connectors = { greetchat = "greetchat" }\n')
    assert dagbag.import_errors == {}
    assert "lifeline__acme__sync" in dagbag.dags


def test_a_plugin_blocked_when_the_manifest_was_written_fails_its_tenants_placeholder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "blocked.json"
    result = run_cli("plugins", "--manifest",
                     env={"LIFELINE_PLUGIN_MANIFEST": str(path), "LIFELINE_DISABLE_PLUGINS": "feishu"})
    assert result.returncode == 0, result.stderr
    monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(path))
    error = placeholder(bag(tmp_path, monkeypatch, '[tenants.acme.connectors.fs]\nplugin = "feishu"\n'), "acme")
    assert ("plugins.toml: tenants.acme.connectors.fs.plugin: plugin 'feishu' (distribution lifeline-hub 0.1.0) "
            "is disabled: blocked by LIFELINE_DISABLE_PLUGINS") in error


def test_an_unknown_plugin_fails_its_tenants_placeholder_listing_the_installed_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin_manifest: Path) -> None:
    error = placeholder(bag(tmp_path, monkeypatch, '[tenants.acme.connectors.dt]\nplugin = "dingtalk"\n'
                                                   'corp_id = "c"\nagent_id = 1\n'
                                                   '[tenants.acme.connectors.x]\nplugin = "nosuch"\n'), "acme")
    assert ("plugins.toml: tenants.acme.connectors.x.plugin: unknown connector plugin 'nosuch' "
            "(installed: aiplatform, aliyun_sms, dingtalk, email, feishu, weaver, wechat, wecom)") in error
    assert f"plugins as recorded in {plugin_manifest} at " in error  # $AIRFLOW_HOME/lifeline-plugins.json


def test_every_instance_is_checked_even_disabled_ones_and_unknown_streams(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run-time config load refuses them all, so parsing must not let them through either."""
    dagbag = bag(tmp_path, monkeypatch,
                 '[tenants.acme.connectors.old]\nplugin = "legacy_ats"\nenabled = false\n'
                 '[tenants.beta.connectors.fs]\nplugin = "feishu"\nstreams = ["interviews", "nope"]\n')
    assert sorted(dagbag.dag_ids) == ["lifeline__acme__config_error", "lifeline__beta__config_error"]
    assert placeholder(dagbag, "acme").startswith(
        "plugins.toml: tenants.acme.connectors.old.plugin: unknown connector plugin 'legacy_ats'")
    assert placeholder(dagbag, "beta").startswith(
        "plugins.toml: tenants.beta.connectors.fs.streams: feishu has no stream 'nope'")


def test_a_missing_manifest_is_an_import_error_saying_which_command_writes_it_and_where(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "airflow-home"
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    error = import_error(bag(tmp_path, monkeypatch, '[tenants.acme.connectors.fs]\nplugin = "feishu"\n'))
    assert f"plugin manifest {home / 'lifeline-plugins.json'} not found: run `lifeline plugins --manifest`" in error
    assert "LIFELINE_PLUGIN_MANIFEST" in error

    monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(tmp_path / "elsewhere.json"))
    assert f"plugin manifest {tmp_path / 'elsewhere.json'} not found" in import_error(DagBag(dag_folder=str(DAGS)))


def test_a_bad_plugins_toml_is_reported_before_a_missing_manifest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(tmp_path / "none.json"))
    error = import_error(bag(tmp_path, monkeypatch, "[lifeline]\ncolour = 1\n"))
    assert "plugins.toml: lifeline.colour: extra inputs are not permitted" in error
    assert "none.json" not in error
    error = import_error(bag(tmp_path, monkeypatch, "[tenants.acme]\ncolour = 1\n"))  # a tenant's: both, in order
    assert error.index("plugins.toml: tenants.acme.colour: extra inputs are not permitted") < error.index(
        f"plugin manifest {tmp_path / 'none.json'} not found")


@pytest.mark.parametrize(("text", "problem"), [
    ('{"format": 1, "plugins": [', ": unreadable ("),
    ('{"format": 1, "plugins": [{"name": "x"}]}', ": not format 1 of `lifeline plugins --manifest`; run it again"),
    ('[]', ": not format 1 of `lifeline plugins --manifest`; run it again"),
])
def test_an_unreadable_manifest_is_an_import_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
                                                   problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(path))
    error = import_error(bag(tmp_path, monkeypatch, '[tenants.acme.connectors.fs]\nplugin = "feishu"\n'))
    assert f"plugin manifest {path}{problem}" in error and "lifeline plugins --manifest" in error


def test_plan_trusts_the_loaded_plugins_and_warns_when_the_manifest_is_stale(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    config = str(write_config(tmp_path, "http://127.0.0.1:9"))
    monkeypatch.setattr(lifeline_hub.core.plugins, "get_host", tinyats_host)
    monkeypatch.setenv("AIRFLOW_VAR_LIFELINE_POOLS", '["lifeline_tinyats"]')  # as `lifeline airflow setup` records
    live = [{"instance": "acme.ats", "stream": "interviews"}]
    with caplog.at_level(logging.WARNING, logger="lifeline_hub.core.airflow.tasks"):
        assert tasks.plan_sync(config, "acme", ["ats"], live) == live
        assert caplog.records == []
        assert tasks.plan_sync(config, "acme", ["ats"], [*live, {"instance": "acme.ats", "stream": "gone"}]) == live
    [record] = caplog.records
    assert "is stale: it promised streams acme.ats:interviews, acme.ats:gone, the loaded plugins give " \
           "acme.ats:interviews; run `lifeline plugins --manifest` again" in record.getMessage()
    assert str(manifest.path()) in record.getMessage()


def test_make_airflow_writes_the_manifest_where_its_dag_processor_looks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lifeline_hub.core.airflow.standalone import airflow_env

    monkeypatch.delenv("LIFELINE_PLUGIN_MANIFEST", raising=False)
    env = airflow_env(tmp_path, tmp_path / "plugins.toml", {})
    assert manifest.path(env) == tmp_path / "var" / "airflow" / "lifeline-plugins.json"
    monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(tmp_path / "elsewhere.json"))  # the engineer's choice wins
    assert manifest.path(airflow_env(tmp_path, tmp_path / "plugins.toml", {})) == tmp_path / "elsewhere.json"
