"""`make airflow`: `airflow standalone` on the sandbox config, its vendor emulators served on loopback.

    python -m core.airflow.standalone      # from the repository root; Ctrl-C stops everything

Every connector instance of `$LIFELINE_CONFIG` (default `plugins.toml`) whose base URLs name a
loopback port gets its connector's emulator served on that port, and its connection id the
emulator's credentials as `AIRFLOW_CONN_<ID>` (unless already set). Airflow lives in `var/airflow`
(metadata DB, logs, the admin password file); the DAGs come from `dags/`, the pools
`lifeline_<plugin>` are created, new DAGs start unpaused, and the login is printed once the API is up.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from core.airflow.masking import SENSITIVE_WORDS
from core.config import Config, default_path, load
from core.connections import env_var_name
from core.emulator import LoopbackServer
from core.plugins import get_host
from core.store import Store

PORT = os.environ.get("AIRFLOW__API__PORT", "8080")
API = f"http://127.0.0.1:{PORT}"
POOL_SLOTS = 4
PASSWORDS = "simple_auth_manager_passwords.json.generated"


def _dingtalk(s: Any) -> dict[str, Any]:
    app = s.apps[0]
    return {"login": app.appkey, "password": app.appsecret,
            "extra": {"callback_token": s.callback_token, "callback_aes_key": s.callback_aes_key}}


def _feishu(s: Any) -> dict[str, Any]:
    return {"login": s.app_id, "password": s.app_secret,
            "extra": {"encrypt_key": s.encrypt_key, "verification_token": s.verification_token}}


def _aiplatform(s: Any) -> dict[str, Any]:
    return {"login": s.client_id, "password": s.client_secret, "extra": {"webhook_secret": s.webhook_secret}}


EMULATOR_CREDENTIALS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "dingtalk": _dingtalk, "feishu": _feishu, "aiplatform": _aiplatform}
"""How a connection to each emulator looks, from the emulator's (fake, fixed) settings."""


def serve_emulators(config: Config) -> tuple[list[LoopbackServer], dict[str, str]]:
    """Start the emulators the config points at; returns them and the `AIRFLOW_CONN_*` variables."""
    servers: dict[int, LoopbackServer] = {}
    env: dict[str, str] = {}
    for setup in config.setups.values():
        cls = setup.connector_class
        urls = [urlsplit(url) for url in setup.instance.base_urls.values()]
        ports = {u.port for u in urls if u.hostname == "127.0.0.1" and u.port}
        if not cls.emulator or len(ports) != 1:
            continue
        port = ports.pop()
        if port not in servers:
            module, _, factory = cls.emulator.partition(":")
            servers[port] = LoopbackServer(getattr(importlib.import_module(module), factory)(), port).start()
            print(f"{cls.name} emulator for {setup.instance.name} on {servers[port].url}")
        credentials = EMULATOR_CREDENTIALS.get(setup.config.plugin)
        conn_id = setup.config.connection_id
        if conn_id and credentials and env_var_name(conn_id) not in os.environ:
            world = servers[port].app.state.world
            env[env_var_name(conn_id)] = json.dumps({"conn_type": setup.config.plugin, **credentials(world.settings)})
    return list(servers.values()), env


def airflow_env(root: Path, config: Path, connections: dict[str, str]) -> dict[str, str]:
    home = root / "var" / "airflow"
    return {
        **os.environ, **connections,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES": ",".join(SENSITIVE_WORDS),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": PORT,
        "AIRFLOW__API__BASE_URL": API,  # task processes reach the execution API under it
        "LIFELINE_CONFIG": str(config),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def create_pools(env: dict[str, str], plugins: set[str]) -> None:
    """Migrate Airflow's DB and create the vendor pools (a task in a missing pool never runs)."""
    pools = {f"lifeline_{p}": {"slots": POOL_SLOTS, "description": f"Lifeline: concurrent {p} calls",
                               "include_deferred": False} for p in sorted(plugins)}
    path = Path(env["AIRFLOW_HOME"]) / "pools.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pools, indent=2), encoding="utf-8")
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["airflow", "pools", "import", str(path)], env=env, check=True, stdout=subprocess.DEVNULL)


def announce_login(home: Path, timeout: float = 300) -> None:
    """Print the URL and the admin password once the API server answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{API}/api/v2/monitor/health", timeout=2).ok and (home / PASSWORDS).exists():
                password = json.loads((home / PASSWORDS).read_text())["admin"]
                print(f"\nLifeline on Airflow: {API}  user admin, password {password}  (from {home / PASSWORDS})\n",
                      flush=True)
                return
        except requests.RequestException:
            pass
        time.sleep(2)


def main() -> int:
    root = Path.cwd().resolve()
    config_path = default_path().resolve()
    config = load(config_path, get_host())
    Store(config.store_url).upgrade()
    servers, connections = serve_emulators(config)
    env = airflow_env(root, config_path, connections)
    create_pools(env, {s.config.plugin for s in config.setups.values()})
    airflow = subprocess.Popen(["airflow", "standalone"], env=env, start_new_session=True)
    threading.Thread(target=announce_login, args=(Path(env["AIRFLOW_HOME"]),), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(airflow.pid, signal.SIGTERM))
    try:
        airflow.wait()
    except KeyboardInterrupt:  # standalone stops its children only as a process group
        os.killpg(airflow.pid, signal.SIGTERM)
        airflow.wait()
    finally:
        for server in servers:
            server.stop()
    return airflow.returncode


if __name__ == "__main__":
    sys.exit(main())
