"""`make airflow`'s setup: emulators on the loopback ports the config names, connections to them."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from connectors.dingtalk import plugin as dingtalk_plugin
from core.airflow.standalone import airflow_env, serve_emulators
from core.config import load
from core.emulator import free_port
from core.plugins import PluginHost


def test_emulators_are_served_where_the_config_points_and_connections_reach_them(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[tenants.sandbox.connectors.dt]\nplugin = "dingtalk"\nconnection_id = "sandbox_dingtalk"\n'
        f'base_urls = {{oapi = "http://127.0.0.1:{port}", api = "http://127.0.0.1:{port}"}}\n'
        f'corp_id = "dingemulatorcorp0001"\nagent_id = 3000000001\n'
        f'[tenants.real.connectors.dt]\nplugin = "dingtalk"\nconnection_id = "real_dingtalk"\n'
        f'corp_id = "c"\nagent_id = 1\n', encoding="utf-8")
    host = PluginHost()
    host.register(dingtalk_plugin, "dingtalk")
    servers, connections = serve_emulators(load(config, host))
    try:
        assert [s.url for s in servers] == [f"http://127.0.0.1:{port}"]  # the real tenant's vendor is left alone
        conn = json.loads(connections.pop("AIRFLOW_CONN_SANDBOX_DINGTALK"))
        assert connections == {}
        token = requests.get(f"{servers[0].url}/gettoken", params={"appkey": conn["login"], "appsecret": conn[
            "password"]}, timeout=10).json()
        assert token["errcode"] == 0 and token["access_token"]
    finally:
        for server in servers:
            server.stop()
    env = airflow_env(tmp_path, config, {"AIRFLOW_CONN_X": "{}"})
    assert env["AIRFLOW_HOME"] == str(tmp_path / "var" / "airflow") and env["AIRFLOW_CONN_X"] == "{}"
    assert env["AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES"] == "app_key,appkey,aes_key,aeskey,encrypt_key,encryptkey"
