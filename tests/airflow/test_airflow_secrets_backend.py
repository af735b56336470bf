"""Credentials through Airflow's connection lookup outside tasks: a real `lifeline serve` whose DingTalk
callback secrets live only in Airflow's LocalFilesystemBackend (a secrets backend, as Vault or AWS SM
would be), the environment when Airflow is not configured, and errors that say where they looked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import requests

from lifeline_hub.connectors.dingtalk import callback_kit
from lifeline_hub.core.conformance.callbacks import plugins_toml
from tests.conftest import run_cli
from tests.receiver.test_receiver_serve import serve, stop, wait_healthy

CONN_ID = "dingtalk_vault"
SECRETS = ("conformance-appsecret", callback_kit.TOKEN, callback_kit.AES_KEY)


def bare_env(home: Path) -> dict[str, str]:
    """This process's environment without any Airflow setting or connection, Airflow's home in `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    return {**env, "AIRFLOW_HOME": str(home)}


def backend_env(home: Path, connections: dict[str, object]) -> dict[str, str]:
    """Airflow configured by environment with a LocalFilesystemBackend holding `connections`."""
    path = home / "connections.json"
    path.write_text(json.dumps(connections), encoding="utf-8")
    return {**bare_env(home), "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
            "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(path)}),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db"}


def vault_entry() -> dict[str, object]:
    conn = json.loads(callback_kit.kit().connection or "{}")
    return {**conn, "extra": json.dumps(conn["extra"])}


def resolve_in(env: dict[str, str], conn_id: str) -> subprocess.CompletedProcess[str]:
    code = ("import sys\nfrom lifeline_hub.core.connections import ConnectionNotFound, resolve\n"
            f"try:\n    c = resolve({conn_id!r})\nexcept ConnectionNotFound as exc:\n    sys.exit(str(exc))\n"
            "print(c.conn_type, c.login, sorted(c.extra))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=False)


def test_serve_answers_a_signed_callback_with_secrets_from_an_airflow_secrets_backend(
        tmp_path: Path, db_url: str) -> None:
    kit = callback_kit.kit()
    config = tmp_path / "plugins.toml"
    config.write_text(f'[lifeline]\nstore = "{db_url}"\n\n'
                      + plugins_toml("vault", "dingtalk", dict(kit.settings), CONN_ID)
                      .replace('timezone = "Asia/Shanghai"', 'timezone = "Asia/Shanghai"\nsandbox = true'),
                      encoding="utf-8")
    assert run_cli("--config", str(config), "db", "upgrade").returncode == 0
    env = backend_env(tmp_path, {CONN_ID: vault_entry()})
    assert f"AIRFLOW_CONN_{CONN_ID.upper()}" not in env
    proc, url = serve(config, env)
    try:
        wait_healthy(url, proc)
        route = f"{url}/callbacks/vault.dingtalk"
        signed = kit.event("vault1", datetime.now(UTC))
        answer = requests.post(route, data=signed.body, params=dict(signed.query), headers=dict(signed.headers),
                               timeout=10)
        forged = kit.event("vault2", datetime.now(UTC), signature="forged")
        refused = requests.post(route, data=forged.body, params=dict(forged.query), headers=dict(forged.headers),
                                timeout=10)
    finally:
        logs = stop(proc)
    assert answer.status_code == 200, answer.text  # 503 when the receiver cannot resolve the connection
    assert refused.status_code == 401
    assert "POST /callbacks/{instance} -> 200" in logs  # importing Airflow left the receiver's own logging alone
    for secret in SECRETS:
        assert secret not in logs and secret not in answer.text


def test_the_lookup_order_and_errors_that_say_where_they_looked(tmp_path: Path) -> None:
    found = resolve_in(backend_env(tmp_path, {CONN_ID: vault_entry()}), CONN_ID)
    assert found.returncode == 0 and found.stdout == (  # Airflow's own notices go to stderr
        f"dingtalk {callback_kit.APPKEY} ['callback_aes_key', 'callback_token']\n")
    sms = resolve_in({**backend_env(tmp_path, {}), "AIRFLOW_CONN_SMS": json.dumps(
        {"conn_type": "aliyun_sms", "login": "LTAIkey", "password": "sms-secret"})}, "sms")
    assert sms.stdout == "aliyun_sms LTAIkey []\n" and "sms-secret" not in sms.stdout + sms.stderr
    missing = resolve_in(backend_env(tmp_path, {CONN_ID: vault_entry()}), "feishu_vault")
    assert missing.returncode == 1
    assert ("connection 'feishu_vault' is not defined: looked through Airflow's secrets backends "
            "(LocalFilesystemBackend, EnvironmentVariablesBackend, MetastoreBackend; "
            "the environment one reads $AIRFLOW_CONN_FEISHU_VAULT)") in missing.stderr
    broken = resolve_in({**backend_env(tmp_path, {}), "AIRFLOW_CONN_BROKEN": '{"conn_type": '}, "broken")
    assert broken.returncode == 1 and "connection 'broken': malformed JSON" in broken.stderr
    without = resolve_in(bare_env(tmp_path / "no-airflow-here"), CONN_ID)
    assert without.returncode == 1 and (f"connection {CONN_ID!r} is not defined: looked in "
                                        f"$AIRFLOW_CONN_{CONN_ID.upper()} only (Airflow is not configured here") \
        in without.stderr
    from_env = resolve_in({**bare_env(tmp_path / "no-airflow-here"),
                           f"AIRFLOW_CONN_{CONN_ID.upper()}": callback_kit.kit().connection or ""}, CONN_ID)
    assert from_env.stdout == found.stdout
    for told in (found, missing, broken, without, from_env):
        for secret in SECRETS:
            assert secret not in told.stdout + told.stderr

