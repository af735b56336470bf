"""`make airflow`'s setup: emulators on the loopback ports the config names, connections to them."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import requests

from lifeline_hub.connectors.aliyun_sms import plugin as sms_plugin
from lifeline_hub.connectors.dingtalk import plugin as dingtalk_plugin
from lifeline_hub.connectors.email import plugin as email_plugin
from lifeline_hub.core.airflow.standalone import airflow_env, sandbox, serve_emulators, setup_airflow
from lifeline_hub.core.config import load
from lifeline_hub.core.demo import on_free_ports
from lifeline_hub.core.emulator import free_port
from lifeline_hub.core.plugins import PluginHost, get_host
from lifeline_hub.core.store import Store
from lifeline_hub.core.sync import build_connector
from tests.conftest import ROOT


def test_emulators_are_served_where_the_config_points_and_connections_reach_them(tmp_path: Path) -> None:
    port, sms_port, smtp_port = free_port(), free_port(), free_port()
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[tenants.sandbox.connectors.dt]\nplugin = "dingtalk"\nconnection_id = "sandbox_dingtalk"\n'
        f'base_urls = {{oapi = "http://127.0.0.1:{port}", api = "http://127.0.0.1:{port}"}}\n'
        f'corp_id = "dingemulatorcorp0001"\nagent_id = 3000000001\n'
        f'[tenants.sandbox.connectors.sms]\nplugin = "aliyun_sms"\nconnection_id = "sandbox_sms"\n'
        f'base_urls = {{api = "http://127.0.0.1:{sms_port}"}}\nsign_name = "面试助手"\n'
        f'[tenants.sandbox.connectors.mail]\nplugin = "email"\nbase_urls = {{smtp = "smtp://127.0.0.1:{smtp_port}"}}\n'
        f'from_address = "recruiting@example.com"\nstarttls = false\n'
        f'[tenants.real.connectors.dt]\nplugin = "dingtalk"\nconnection_id = "real_dingtalk"\n'
        f'corp_id = "c"\nagent_id = 1\n', encoding="utf-8")
    host = PluginHost()
    for module, name in ((dingtalk_plugin, "dingtalk"), (sms_plugin, "aliyun_sms"), (email_plugin, "email")):
        host.register(module, name)
    loaded = load(config, host)
    emulators = serve_emulators(loaded)
    try:
        assert set(emulators.worlds) == set(emulators.controls) == {"sandbox.dt", "sandbox.sms", "sandbox.mail"}
        assert emulators.controls["sandbox.dt"] == f"http://127.0.0.1:{port}"  # the real tenant's vendor is left alone
        assert len(emulators.servers) == 3 and emulators.worlds["sandbox.dt"].settings.corp_id == "dingemulatorcorp0001"
        conn = json.loads(emulators.env.pop("AIRFLOW_CONN_SANDBOX_DINGTALK"))
        sms = json.loads(emulators.env["AIRFLOW_CONN_SANDBOX_SMS"])
        assert set(emulators.env) == {"AIRFLOW_CONN_SANDBOX_SMS"} and sms["conn_type"] == "aliyun_sms"
        token = requests.get(f"http://127.0.0.1:{port}/gettoken", params={"appkey": conn["login"], "appsecret": conn[
            "password"]}, timeout=10).json()
        assert token["errcode"] == 0 and token["access_token"]
        os.environ.update(emulators.env)  # restored after the test
        setup = next(s for s in loaded.setups.values() if s.instance.name == "sandbox.sms")
        assert build_connector(setup).check().ok
        mail = emulators.worlds["sandbox.mail"]  # SMTP on the configured port, the control app on a free one
        assert mail.url == f"smtp://127.0.0.1:{smtp_port}" and emulators.controls["sandbox.mail"] != mail.url
        state = requests.get(f"{emulators.controls['sandbox.mail']}/_emulator/state", timeout=10).json()
        assert state["smtp"]["port"] == smtp_port and state["api_calls"] == state["quota_breaches"] == 0
    finally:
        emulators.stop()
    assert mail.controller is None, "stopping the emulators stops the SMTP server too"
    env = airflow_env(tmp_path, config, {"AIRFLOW_CONN_X": "{}"})
    assert env["AIRFLOW_HOME"] == str(tmp_path / "var" / "airflow") and env["AIRFLOW_CONN_X"] == "{}"
    assert env["AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES"] == "app_key,appkey,aes_key,aeskey,encrypt_key,encryptkey"


def test_make_airflow_sets_up_pools_the_dags_accept_in_a_fresh_airflow_home(tmp_path: Path) -> None:
    """`make airflow` runs `lifeline airflow setup` in Airflow's environment: pools created and recorded."""
    config = tmp_path / "plugins.toml"
    config.write_text(f'[lifeline]\nstore = "sqlite:///{tmp_path / "lifeline.db"}"\n[tenants.sandbox.connectors.dt]\n'
                      'plugin = "dingtalk"\ncorp_id = "c"\nagent_id = 1\n', encoding="utf-8")
    env = airflow_env(tmp_path, config, {})
    env.pop("LIFELINE_PLUGIN_MANIFEST", None)
    setup_airflow(env)
    pools = subprocess.run(["airflow", "pools", "get", "lifeline_dingtalk", "-o", "json"], env=env, check=True,
                           capture_output=True, text=True).stdout
    assert [(p["pool"], int(p["slots"])) for p in json.loads(pools)] == [("lifeline_dingtalk", 4)]
    recorded = subprocess.run(["airflow", "variables", "get", "lifeline_pools"], env=env, check=True,
                              capture_output=True, text=True).stdout
    assert json.loads(recorded) == ["lifeline_dingtalk"]
    assert (tmp_path / "var" / "airflow" / "lifeline-plugins.json").exists()


def test_make_airflows_sandbox_books_interviews_starting_within_the_hour(tmp_path: Path) -> None:
    """The live sandbox's recruiter books today's interviews at start-up (they were days ahead, so a newcomer saw
    nothing happen): the due ones reach the emulators, the first starts within 20 minutes, T-1h reminders fall
    in the first half hour."""
    config = on_free_ports(load(ROOT / "plugins.toml", get_host()))
    emulators = serve_emulators(config)
    store = Store(f"sqlite:///{tmp_path / 'lifeline.db'}")
    store.upgrade()
    receiver, people, stop = sandbox(config, get_host(), store, emulators)
    try:
        assert people is not None
        started = min(b.booked_at for b in people.bookings)
        upcoming = [b.start - started for b in people.bookings if b.start > started]
        assert timedelta(minutes=10) <= min(upcoming) <= timedelta(minutes=20)
        assert any(timedelta(minutes=60) <= at <= timedelta(minutes=90) for at in upcoming)
        deadline = time.monotonic() + 60
        while not all(b.remote_id for b in people.bookings) and time.monotonic() < deadline:
            time.sleep(0.1)
        ai = {b.remote_id for b in people.bookings if b.kind == "ai"}
        assert ai and set(emulators.worlds["sandbox.aiplatform"].invitations) >= ai
    finally:
        stop.set()
        receiver.stop()
        emulators.stop()
