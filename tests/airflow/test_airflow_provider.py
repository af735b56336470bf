"""The provider info, the hooks behind its connection types, masking and the retry policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from importlib import import_module
from importlib.metadata import distribution
from pathlib import Path

import airflow
import jsonschema
import pytest
from airflow._shared.module_loading import import_string  # how Airflow imports a hook class
from airflow.sdk import BaseHook, RetryAction
from airflow.sdk._shared.secrets_masker import redact
from airflow.sdk._shared.secrets_masker.secrets_masker import DEFAULT_SENSITIVE_FIELDS

from lifeline_hub import DISTRIBUTION
from lifeline_hub.core.airflow.hooks import DingtalkHook
from lifeline_hub.core.airflow.masking import secret_values, sensitive
from lifeline_hub.core.airflow.provider import get_provider_info
from lifeline_hub.core.airflow.retry import VendorRetryPolicy
from lifeline_hub.core.config import ConfigError
from lifeline_hub.core.connections import ConnectionNotFound, Credentials
from lifeline_hub.core.http.errors import AuthFailed, InvalidRequest, PermissionDenied, RateLimited, TransientError
from lifeline_hub.core.plugins import get_host
from tests.conftest import run_cli

BUILT_IN = ["aiplatform", "aliyun_sms", "dingtalk", "email", "feishu", "weaver", "wechat", "wecom"]


def airflow_hides(key: str) -> bool:
    """Airflow's own rule with its default list: any listed word inside the key."""
    return any(word in key.lower() for word in DEFAULT_SENSITIVE_FIELDS)


def test_provider_info_matches_airflows_schema_and_the_distribution() -> None:
    info = get_provider_info()
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    assert info["package-name"] == distribution(DISTRIBUTION).metadata["Name"]
    assert [t["connection-type"] for t in info["connection-types"]] == BUILT_IN


def test_each_connection_type_has_a_hook_airflow_accepts() -> None:
    for conn in get_provider_info()["connection-types"]:
        module, _, name = conn["hook-class-name"].rpartition(".")
        hook = getattr(import_module(module), name)
        assert issubclass(hook, BaseHook)
        assert (hook.conn_type, hook.hook_name, hook.conn_name_attr) == (
            conn["connection-type"], conn["hook-name"], "conn_id")
        assert "get_ui_field_behaviour" not in vars(hook) and "get_connection_form_widgets" not in vars(hook)


def test_every_built_in_connector_has_a_connection_type_whose_hook_tests_it() -> None:
    built_in = [cls for cls in get_host().connectors.values() if cls.__module__.startswith("lifeline_hub.connectors.")]
    assert sorted(cls.name for cls in built_in) == BUILT_IN
    assert sorted(cls.connection_form.conn_type for cls in built_in if cls.connection_form is not None) == BUILT_IN
    for conn in get_provider_info()["connection-types"]:
        hook = import_string(conn["hook-class-name"])
        assert callable(getattr(hook, "test_connection", None))  # what Airflow's Connection.test_connection asks


def test_the_aliyun_sms_and_email_forms_name_their_fields() -> None:
    types = {t["connection-type"]: t for t in get_provider_info()["connection-types"]}
    assert (types["aliyun_sms"]["ui-field-behaviour"]["relabeling"], sorted(types["aliyun_sms"]["conn-fields"])) == (
        {"login": "AccessKey ID", "password": "AccessKey secret"}, ["push_token", "security_token"])
    assert (types["email"]["ui-field-behaviour"]["relabeling"], sorted(types["email"]["conn-fields"])) == (
        {"login": "SMTP username", "password": "SMTP password"}, ["imap_password"])


def test_every_secret_field_is_masked_by_airflow_or_by_lifeline() -> None:
    fields = [key for conn in get_provider_info()["connection-types"] for key in conn["conn-fields"]]
    assert sorted(k for k in fields if not airflow_hides(k)) == [  # dingtalk, wechat, wecom; feishu
        "callback_aes_key", "callback_aes_key", "callback_aes_key", "encrypt_key"]
    assert all(sensitive(k) for k in fields if not airflow_hides(k))
    assert [k for k in ("app_key", "appKey", "encoding_aes_key", "corp_id", "agent_id") if sensitive(k)] == [
        "app_key", "appKey", "encoding_aes_key"]


def test_hook_returns_the_credentials_with_their_secrets_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    aes_key = "hook-test-aes-key-0123456789"
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_HOOKTEST", json.dumps({
        "conn_type": "dingtalk", "login": "hook-test-appkey", "password": "hook-test-appsecret",
        "extra": {"callback_aes_key": aes_key, "callback_token": "hook-test-token"}}))
    credentials = DingtalkHook(conn_id="dingtalk_hooktest").get_conn()
    assert (credentials.login, credentials.extra["callback_aes_key"]) == ("hook-test-appkey", aes_key)
    assert redact(f"{aes_key} hook-test-appkey corp") == "*** *** corp"


@pytest.fixture(scope="module")
def third_party_manifest(plugin_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`lifeline plugins --manifest` with the test plugins installed: one declares connection type `greeter`,
    one (`form_clash`) declares `dingtalk` over again and is refused, others are broken."""
    path = tmp_path_factory.mktemp("provider") / "lifeline-plugins.json"
    result = run_cli("plugins", "--manifest",
                     env={"PYTHONPATH": str(plugin_site), "LIFELINE_PLUGIN_MANIFEST": str(path)})
    assert result.returncode == 0, result.stderr
    return path


def test_a_plugins_connection_type_is_listed_with_its_form_and_a_refused_one_is_not(
        third_party_manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(third_party_manifest))
    info = get_provider_info()
    jsonschema.validate(info, json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text()))
    types = {t["connection-type"]: t for t in info["connection-types"]}
    assert list(types) == [*BUILT_IN, "greeter"]
    assert types["dingtalk"]["hook-name"] == "DingTalk (Lifeline)"
    assert types["greeter"] == {
        "connection-type": "greeter", "hook-class-name": "lifeline_hub.core.airflow.hooks.GreeterHook",
        "hook-name": "Greeter (test plugin)",
        "ui-field-behaviour": {"hidden-fields": ["host", "schema", "port"],
                               "relabeling": {"login": "Account", "password": "Key"}},
        "conn-fields": {"signing_key": {"label": "Signing key",
                                        "schema": {"type": ["string", "null"], "format": "password"}}}}
    hook = import_string(types["greeter"]["hook-class-name"])
    assert (hook.conn_type, hook.hook_name, hook.default_conn_name) == ("greeter", "Greeter (test plugin)",
                                                                       "greeter_default")


def test_airflows_providers_manager_finds_a_plugins_connection_type_without_importing_the_plugin(
        third_party_manifest: Path) -> None:
    """Airflow's own discovery (a fresh process: the manager is a singleton), the plugin not on the path."""
    code = ("import json; from airflow.providers_manager import ProvidersManager; pm = ProvidersManager(); "
            "hook = pm.hooks['greeter']; "
            "print(json.dumps([hook.hook_class_name, hook.connection_type, hook.hook_name, hook.package_name, "
            "pm.field_behaviours['greeter'], sorted(k for k in pm.connection_form_widgets if 'greeter' in k)]))")
    env = {**os.environ, "LIFELINE_PLUGIN_MANIFEST": str(third_party_manifest)}
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [
        "lifeline_hub.core.airflow.hooks.GreeterHook", "greeter", "Greeter (test plugin)", DISTRIBUTION,
        {"hidden_fields": ["host", "schema", "port"], "relabeling": {"login": "Account", "password": "Key"},
         "placeholders": {}},
        ["extra__greeter__signing_key"]]


def test_a_plugins_hook_masks_the_extras_its_form_declares_secret(
        third_party_manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(third_party_manifest))
    monkeypatch.setenv("AIRFLOW_CONN_GREETER_HOOKTEST", json.dumps({
        "conn_type": "greeter", "login": "greeter-account", "password": "greeter-key-0001",
        "extra": {"signing_key": "greeter-signing-0123456", "region": "east"}}))
    assert not airflow_hides("signing_key")
    credentials = import_string("lifeline_hub.core.airflow.hooks.GreeterHook")(conn_id="greeter_hooktest").get_conn()
    assert credentials.extra == {"signing_key": "greeter-signing-0123456", "region": "east"}
    assert redact("greeter-signing-0123456 east") == "*** east"


def test_provider_info_imports_neither_airflow_nor_a_broken_plugin_and_loads_plugins_without_a_manifest(
        plugin_site: Path, tmp_path: Path) -> None:
    code = ("import json, sys; from lifeline_hub.core.airflow.provider import get_provider_info; "
            "types = [t['connection-type'] for t in get_provider_info()['connection-types']]; "
            "print(json.dumps([types, 'airflow' in sys.modules]))")
    env = {"PYTHONPATH": str(plugin_site), "LIFELINE_PLUGIN_MANIFEST": str(tmp_path / "missing.json"), "PATH": ""}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [[*BUILT_IN, "greeter"], False]


def test_only_the_missed_secrets_are_picked() -> None:
    creds = Credentials("x", conn_type="feishu", login="cli_a1", extra={"encrypt_key": "ek-123456", "tenant": "t1"})
    assert secret_values(creds) == ["ek-123456"]


@pytest.mark.parametrize(("error", "action", "delay"), [
    (AuthFailed("bad secret", http_status=401), RetryAction.FAIL, None),
    (PermissionDenied("no scope", http_status=403), RetryAction.FAIL, None),
    (InvalidRequest("bad field", http_status=400), RetryAction.FAIL, None),
    (RateLimited("slow", http_status=429, retry_after=7), RetryAction.RETRY, timedelta(seconds=7)),
    (TransientError("down", http_status=503), RetryAction.RETRY, None),
    (ConfigError(["plugins.toml: tenants.a: bad"]), RetryAction.FAIL, None),
    (ConnectionNotFound("connection 'x' is not defined"), RetryAction.FAIL, None),
    (OSError("disk full"), RetryAction.DEFAULT, None),
])
def test_retry_policy_fails_fast_on_credentials_and_retries_rate_limits(
        error: Exception, action: RetryAction, delay: timedelta | None) -> None:
    decision = VendorRetryPolicy().evaluate(error, try_number=1, max_tries=4)
    assert (decision.action, decision.retry_delay) == (action, delay)
