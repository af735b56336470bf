"""Scale drill (`make scale-drill`): Lifeline's DAGs on Airflow's CeleryExecutor, several workers, one vendor quota.

On loopback: a throw-away PostgreSQL server (Airflow's metadata DB and the Lifeline store, two databases),
Redis (`redis-server`: the Celery broker and result backend), Airflow's API server, scheduler, DAG processor
and `WORKERS` Celery worker processes, and the AI-interview platform's emulator. `TENANTS` sandbox tenants
each sync the platform's invitations and events through one API client (one vendor app, one
`QPS` quota: an ISV's app shared by its customers), so the sync tasks of all tenants, spread over the
workers, compete for one quota. The store's `[lifeline] rate_limiter = "postgresql"` shares it. Every DAG is
unpaused at creation; the drill waits until each tenant's sync run and the reconcile runs it triggers are done.

Printed: `scale_tenants`, `scale_workers` (Celery worker processes alive at the end), `scale_tasks_ok`,
`scale_tasks_failed`, `scale_quota_breaches` (calls the platform refused for the quota, goal 0),
`scale_quota_share` (calls per second the platform metered, over its quota, while sync tasks were queued or
running, goal >= 0.8), `scale_duplicates` (invitations the platform created twice for one reference, goal
0), `scale_minutes` (wall time from Airflow's start to the last run done).

    python -m tests.bench.scale_drill [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import sqlalchemy as sa

from lifeline_hub.connectors.aiplatform.emulator import AIPlatformWorld, EmulatorSettings, create_app
from lifeline_hub.core.airflow.standalone import airflow_env
from lifeline_hub.core.emulator import LoopbackServer, free_port
from lifeline_hub.core.store import Store
from tests.pgserver import create_database, postgres_server

TENANTS, WORKERS, CONCURRENCY, QPS = 20, 3, 2, 5
INVITATIONS, PAGE_SIZE = 100, 10
CONNECTION = "aiplatform_scale"
TIMEOUT = 20 * 60.0
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
KEEP = bool(os.environ.get("SCALE_DRILL_KEEP"))
"""Keep the drill's directory (config, Airflow home, each process's log) to look at afterwards."""


def config_toml(store: str, api: str, tenants: int) -> str:
    """`tenants` sandbox tenants, each syncing the one platform app (a shared connection) every 10 minutes."""
    lines = ["[lifeline]", f'store = "{store}"', 'rate_limiter = "postgresql"', ""]
    for n in range(1, tenants + 1):
        lines += [f"[tenants.t{n:02d}]", f'display_name = "Scale tenant {n}"', "sandbox = true", "",
                  f"[tenants.t{n:02d}.connectors.aiplatform]", 'plugin = "aiplatform"',
                  f'connection_id = "{CONNECTION}"', f'base_urls = {{ api = "{api}" }}',
                  'streams = ["interviews", "events"]', 'schedule = "*/10 * * * *"',
                  f"page_size = {PAGE_SIZE}", f"requests_per_second = {QPS}", ""]
    return "\n".join(lines)


def seed(world: AIPlatformWorld, n: int) -> None:
    for i in range(n):
        opened = world.invite(f"Candidate {i}", email=f"c{i}@example.com", external_ref=f"app-{i}")["id"]
        world.open_link(opened)


@contextmanager
def process(name: str, args: list[str], env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group (its log in `logs`), stopped with its group at the end."""
    with (logs / f"{name}.log").open("wb") as log:
        child = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield child
        finally:
            stop_group(child)


def step(name: str, args: list[str], env: dict[str, str]) -> None:
    """Run a set-up command; when it fails, raise with the end of its output."""
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{name} failed ({done.returncode}): {(done.stdout + done.stderr)[-3000:]}")


def stop_group(child: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=grace)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


class Meter:
    """Samples the platform's metered calls each second (epoch seconds, calls so far)."""

    def __init__(self, world: AIPlatformWorld) -> None:
        self.world = world
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="quota-meter", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            self.samples.append((time.time(), self.world.meter.total_calls))

    def share(self, busy: list[tuple[float, float]]) -> float:
        """Calls per second over the quota, in the seconds some sync task was queued or running (`busy`)."""
        calls = seconds = 0.0
        for (start, before), (end, after) in zip(self.samples, self.samples[1:], strict=False):
            if any(a <= (start + end) / 2 <= b for a, b in busy):
                calls, seconds = calls + after - before, seconds + end - start
        return calls / (seconds * QPS) if seconds else 0.0


def sync_busy(engine: sa.Engine) -> list[tuple[float, float]]:
    """When each sync task was queued or running (epoch seconds): vendor work waiting for the quota."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT queued_dttm, end_date FROM task_instance WHERE task_id LIKE 'sync\\_%' "
            "AND queued_dttm IS NOT NULL AND end_date IS NOT NULL")).all()
    return [(queued.timestamp(), ended.timestamp()) for queued, ended in rows]


def runs_done(engine: sa.Engine, tenants: int) -> bool:
    """Each tenant's sync ran, and no DAG run or task of any tenant is still to do."""
    with engine.connect() as conn:
        states = conn.execute(sa.text("SELECT dag_id, state FROM dag_run")).all()
        pending = conn.execute(sa.text(
            "SELECT count(*) FROM task_instance WHERE state IN ('scheduled', 'queued', 'running', "
            "'up_for_retry', 'restarting', 'deferred')")).scalar_one()
    synced = {dag for dag, state in states if dag.endswith("__sync") and state in ("success", "failed")}
    return len(synced) >= tenants and pending == 0 and all(s in ("success", "failed") for _, s in states)


def run(quick: bool) -> dict[str, float]:
    tenants = 4 if quick else TENANTS
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="scale-drill-"))
        if not KEEP:
            stack.callback(shutil.rmtree, tmp, True)
        logs = tmp / "logs"
        logs.mkdir()
        server = stack.enter_context(postgres_server(max_connections=400))
        airflow_db, store_url = create_database(server), create_database(server)
        Store(store_url).upgrade()
        redis_port = free_port()
        stack.enter_context(process("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                              "--save", "", "--appendonly", "no"], dict(os.environ), logs))
        app = create_app(EmulatorSettings(requests_per_second=QPS, deliver_in_background=False))
        world: AIPlatformWorld = app.state.world
        stack.callback(world.close)
        seed(world, INVITATIONS)
        seeded = len(world.invitations)
        platform = stack.enter_context(LoopbackServer(app))
        config = tmp / "plugins.toml"
        config.write_text(config_toml(store_url, f"{platform.url}/v1", tenants), encoding="utf-8")
        connection = {"conn_type": "aiplatform", "login": world.settings.client_id,
                      "password": world.settings.client_secret,
                      "extra": {"webhook_secret": world.settings.webhook_secret}}
        port, broker = free_port(), f"redis://127.0.0.1:{redis_port}/0"
        env = {**airflow_env(REPO, config, {f"AIRFLOW_CONN_{CONNECTION.upper()}": json.dumps(connection)}),
               "AIRFLOW_HOME": str(tmp / "airflow"),
               "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
               "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": airflow_db,  # psycopg 3 is async too: no asyncpg
               "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
               "AIRFLOW__CELERY__BROKER_URL": broker,
               "AIRFLOW__CELERY__RESULT_BACKEND": f"redis://127.0.0.1:{redis_port}/1",
               "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CONCURRENCY),
               "AIRFLOW__API__PORT": str(port),
               "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
               "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
               "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
               "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
               "AIRFLOW__CORE__PARALLELISM": str(WORKERS * CONCURRENCY * 2),
               "LIFELINE_PLUGIN_MANIFEST": str(tmp / "lifeline-plugins.json")}
        step("migrate", [str(BIN / "airflow"), "db", "migrate"], env)
        step("setup", [str(BIN / "lifeline"), "airflow", "setup", "--slots", str(WORKERS * CONCURRENCY)], env)
        started = time.monotonic()
        for name in ("api-server", "scheduler", "dag-processor"):
            stack.enter_context(process(name, [str(BIN / "airflow"), name], env, logs))
        workers = [stack.enter_context(process(
            f"worker{n}", [str(BIN / "airflow"), "celery", "worker", "--skip-serve-logs",
                           "--celery-hostname", f"lifeline-scale-{n}@%h"], env, logs)) for n in range(1, WORKERS + 1)]
        meter = Meter(world)
        meter.thread.start()
        engine = sa.create_engine(airflow_db)
        stack.callback(engine.dispose)
        deadline = started + TIMEOUT
        while not runs_done(engine, tenants):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the DAG runs did not finish in {TIMEOUT / 60:.0f} minutes; logs in {logs}")
            time.sleep(5)
        minutes = (time.monotonic() - started) / 60
        meter.stop.set()
        with engine.connect() as conn:
            states: Counter[str] = Counter(dict(conn.execute(sa.text(
                "SELECT state, count(*) FROM task_instance GROUP BY state")).all()))
        refs = Counter(inv.external_ref for inv in list(world.invitations.values())[seeded:])
        seeded_refs = {f"app-{i}" for i in range(INVITATIONS)}
        duplicates = sum(n - (0 if ref in seeded_refs else 1) for ref, n in refs.items())
        return {
            "scale_tenants": tenants,
            "scale_workers": sum(w.poll() is None for w in workers),
            "scale_tasks_ok": states.get("success", 0),
            "scale_tasks_failed": states.get("failed", 0) + states.get("upstream_failed", 0),
            "scale_quota_breaches": world.quota_breaches(),
            "scale_quota_share": meter.share(sync_busy(engine)),
            "scale_duplicates": duplicates,
            "scale_minutes": minutes,
        }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.scale_drill", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"4 tenants instead of {TENANTS}")
    figures = run(parser.parse_args().quick)
    for key, value in figures.items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}", flush=True)
    goals = ("scale_quota_breaches", "scale_duplicates", "scale_tasks_failed")
    return 0 if all(figures[name] == 0 for name in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
