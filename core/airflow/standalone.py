"""`make airflow`: `airflow standalone` on the sandbox config, its vendor emulators served on loopback.

    python -m lifeline_hub.core.airflow.standalone      # from the repository root; Ctrl-C stops everything

Every connector instance of `$LIFELINE_CONFIG` (default `plugins.toml`) whose base URLs name a
loopback port gets its connector's emulator served on that port, and its connection id the
emulator's credentials as `AIRFLOW_CONN_<ID>` (unless already set). Lifeline's receiver (join
links, confirm and reschedule pages) runs on loopback as `LIFELINE_PUBLIC_URL`, and the sandbox's
people act in real time on the emulators: the recruiter books interviews starting within the hour
and over the next few (`draw_live`), candidates read and answer what the DAGs send them, HR works
the todos. Airflow lives in `var/airflow` (metadata DB, logs, the admin password file); the DAGs
come from `dags/`; `lifeline airflow setup` creates the pools `lifeline_<plugin>` and writes the
plugin manifest; new DAGs start unpaused, and the login is printed once the API is up.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from lifeline_hub.core.airflow.masking import SENSITIVE_WORDS
from lifeline_hub.core.config import Config, default_path, load
from lifeline_hub.core.connections import env_var_name
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.links import PUBLIC_URL_ENV
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.plugins import PluginHost, get_host
from lifeline_hub.core.sandbox import Sandbox, draw_live, worlds_of
from lifeline_hub.core.store import Store

PORT = os.environ.get("AIRFLOW__API__PORT", "8080")
API = f"http://127.0.0.1:{PORT}"
PASSWORDS = "simple_auth_manager_passwords.json.generated"
SANDBOX_INTERVIEWS, SANDBOX_HOURS = 40, 4


@dataclass
class Emulators:
    """What `serve_emulators` started: servers, connections, and each instance's world and control URL."""

    servers: list[LoopbackServer] = field(default_factory=list)
    """The running emulator apps (instances on one port share one)."""
    env: dict[str, str] = field(default_factory=dict)
    """`AIRFLOW_CONN_<ID>` variables of the connections that reach them (those not already set)."""
    worlds: dict[str, Any] = field(default_factory=dict)
    """Instance name (`sandbox.dingtalk`) -> the state its emulator serves (an `EmulatorWorld`)."""
    controls: dict[str, str] = field(default_factory=dict)
    """Instance name -> base URL of its emulator's `/_emulator` endpoints (for e-mail, not the SMTP URL)."""

    def stop(self) -> None:
        """Stop the servers, then the worlds' own threads and listeners (the e-mail world's SMTP server)."""
        for server in self.servers:
            server.stop()
        for world in {id(w): w for w in self.worlds.values()}.values():
            world.close()


def serve_emulators(config: Config) -> Emulators:
    """Start the emulators the config points at: one per loopback port its instances' base URLs name.

    An `http` URL's port serves the emulator app. Any other scheme's (e-mail's `smtp://`) is where the
    emulator's world listens (its factory takes the first as `port`, any further one as `<scheme>_port`:
    e-mail's `imap://`); its control app gets a free port. Each connection id gets what the connector's
    `emulator_connection` says reaches the world.
    """
    emulators = Emulators()
    served: dict[int, tuple[str, Any]] = {}  # port -> (control URL, world)
    try:
        for setup in config.setups.values():
            cls, name = setup.connector_class, setup.instance.name
            urls = [urlsplit(url) for url in setup.instance.base_urls.values()]
            ports = {u.port: u.scheme for u in urls if u.hostname == "127.0.0.1" and u.port}
            if not cls.emulator or not ports or (len(ports) > 1 and {"http", "https"} & set(ports.values())):
                continue
            port, scheme = next(iter(ports.items()))
            if port not in served:
                module, _, factory = cls.emulator.partition(":")
                create = getattr(importlib.import_module(module), factory)
                http = scheme in ("http", "https")
                more = {f"{s}_port": p for p, s in ports.items() if p != port}
                server = LoopbackServer(create() if http else create(port=port, **more), port if http else 0).start()
                emulators.servers.append(server)
                served[port] = (server.url, server.app.state.world)
                where = server.url if http else f"{scheme}://127.0.0.1:{port} (control on {server.url})"
                print(f"{cls.name} emulator for {name} on {where}")
            emulators.controls[name], emulators.worlds[name] = served[port]
            connection = cls.emulator_connection(emulators.worlds[name])
            conn_id = setup.config.connection_id
            if conn_id and connection is not None and env_var_name(conn_id) not in os.environ:
                emulators.env[env_var_name(conn_id)] = json.dumps({"conn_type": setup.config.plugin, **connection})
    except BaseException:
        emulators.stop()
        raise
    return emulators


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
        # on a restart the scheduler starts due tasks while the API server is still starting (slowly on a
        # small machine): let their first calls wait for it instead of failing the task (defaults 5 s, 5 tries)
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "10",
        "LIFELINE_CONFIG": str(config),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def setup_airflow(env: dict[str, str]) -> None:
    """Migrate Airflow's DB, then `lifeline airflow setup`: the vendor pools (a task in a missing pool never
    runs), the plugin manifest the DAG file reads, the connection and store checks. A failing check is
    printed, not fatal: the sandbox still starts."""
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["lifeline", "airflow", "setup"], env=env, check=False)


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


def sandbox(config: Config, host: PluginHost, store: Store, emulators: Emulators,
            ) -> tuple[LoopbackServer, Sandbox | None, threading.Event]:
    """Lifeline's receiver on loopback, and the sandbox's people acting in real time on the emulators of the
    config's first tenant: `SANDBOX_INTERVIEWS` interviews from within the hour over the next `SANDBOX_HOURS`,
    so reminders, decisions, HR tasks and reschedules show in the first half hour. Set the event to stop."""
    from lifeline_hub.core.receiver.app import create_app

    receiver = LoopbackServer(create_app(config, store, host)).start()
    stop = threading.Event()
    tenant = next(iter(config.data.tenants))
    worlds = worlds_of(config, tenant, emulators.worlds)
    people = None
    if worlds:
        bookings = draw_live(1, SANDBOX_INTERVIEWS, utcnow(), SANDBOX_HOURS)
        people = Sandbox(config, tenant, worlds, receiver.url, bookings, seed=1)
        threading.Thread(target=people.run_live, args=(stop,), name="sandbox", daemon=True).start()
        print(f"sandbox: {SANDBOX_INTERVIEWS} interviews of tenant {tenant}, the first starting in "
              f"{min(b.start for b in bookings if b.start > b.booked_at) - bookings[0].booked_at}, the last in "
              f"{SANDBOX_HOURS} hours; Lifeline's pages on {receiver.url}")
    return receiver, people, stop


def main() -> int:
    root = Path.cwd().resolve()
    config_path = default_path().resolve()
    host = get_host()
    config = load(config_path, host)
    store = Store(config.store_url)
    store.upgrade()
    emulators = serve_emulators(config)
    os.environ.update(emulators.env)  # the receiver's callback routes resolve the connections too
    receiver, _, people = sandbox(config, host, store, emulators)
    env = airflow_env(root, config_path, {**emulators.env, PUBLIC_URL_ENV: receiver.url})
    setup_airflow(env)
    airflow = subprocess.Popen(["airflow", "standalone"], env=env, start_new_session=True)
    threading.Thread(target=announce_login, args=(Path(env["AIRFLOW_HOME"]),), daemon=True).start()
    stopping = threading.Event()

    def stop(*_: object) -> None:  # standalone stops its children only as a process group
        stopping.set()
        os.killpg(airflow.pid, signal.SIGTERM)

    def reap(grace: float = 15) -> None:
        """Wait for the rest of the group; a task process still reporting to the gone API server would
        otherwise retry for about a minute after standalone exits. Killed after `grace` seconds."""
        deadline = time.monotonic() + grace
        try:
            while time.monotonic() < deadline:
                os.killpg(airflow.pid, 0)
                time.sleep(0.5)
            os.killpg(airflow.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, stop)
    try:
        airflow.wait()
    except KeyboardInterrupt:
        stop()
        airflow.wait()
    finally:
        reap()
        people.set()
        receiver.stop()
        emulators.stop()
    return 0 if stopping.is_set() else airflow.returncode  # asked to stop: a clean exit, not make's "Error 241"


if __name__ == "__main__":
    sys.exit(main())
