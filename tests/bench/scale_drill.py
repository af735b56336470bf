"""Scale drill (`make scale-drill`): Lifeline's DAGs on Airflow's CeleryExecutor, several workers, one vendor quota.

On loopback: a throw-away PostgreSQL server (Airflow's metadata DB and the Lifeline store, two databases),
Redis (`redis-server`: the Celery broker and result backend), Airflow's API server, scheduler, DAG processor
and `WORKERS` Celery worker processes, the AI-interview platform's emulator and Aliyun SMS's. `TENANTS`
sandbox tenants each sync the platform's invitations and events through one API client (one vendor app, one
`QPS` quota: an ISV's app shared by its customers), so the sync tasks of all tenants, spread over the
workers, compete for one quota; `[lifeline] rate_limiter = "postgresql"` shares it. The DAGs run for a
simulated period of schedule rounds. The backfill: every DAG is unpaused at creation and its latest interval
runs at once, so each tenant's sync reads `INVITATIONS` invitations and its reconcile runs on the sync's
asset. The first round plans the reminders of `REMINDED` sessions due `REMINDER_DUE` seconds after the
start. Before the second, at that time, the world has moved on: the recruiter invited `INVITED_LATER` more
candidates, and the platform's reports of `MISSED` candidates' failed joins are complete (it takes them up
to 5 minutes late); the second round syncs, reconciles, remediates (the link reissued on the platform and
texted) and sends the reminders, all through each tenant's outbox from whichever worker runs the task. The
SMS emulator counts every text it got twice under one outbox key, the platform every invitation created
twice for one reference and every link reissued more than once per tenant.

Printed: `scale_tenants`, `scale_workers` (Celery worker processes alive at the end), `scale_tasks_ok`,
`scale_tasks_failed`, `scale_quota_breaches` (calls the platform refused for the quota, goal 0),
`scale_quota_share` (calls per second the platform metered, over its quota, while the platform's sync tasks
were queued or running, goal >= 0.8), `scale_reminders` (reminder texts the SMS emulator got; goal
`scale_reminders_due`: every tenant sees every invitation of the shared app), `scale_remediations` (links
reissued and the texts carrying them), `scale_duplicates` (of those, and of invitations, the ones sent twice,
goal 0),
`scale_minutes` (wall time from Airflow's start to the last run done).

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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
import sqlalchemy as sa

from lifeline_hub.connectors.aiplatform import emulator as platform_emulator
from lifeline_hub.connectors.aiplatform.emulator import AIPlatformWorld
from lifeline_hub.connectors.aliyun_sms import emulator as sms_emulator
from lifeline_hub.connectors.aliyun_sms.emulator_state import SmsWorld, Template
from lifeline_hub.connectors.aliyun_sms.sandbox import WORDING
from lifeline_hub.core.airflow.standalone import airflow_env
from lifeline_hub.core.emulator import LoopbackServer, free_port
from lifeline_hub.core.links import PUBLIC_URL_ENV
from lifeline_hub.core.sandbox import PUBLIC_URL, repeats
from lifeline_hub.core.store import Store
from tests.pgserver import create_database, postgres_server

TENANTS, WORKERS, CONCURRENCY, QPS = 20, 3, 4, 5
SYNC_SLOTS = 8
"""The platform's pool (`lifeline airflow setup --slots`): fewer than the workers' slots, so sync tasks queue in it and
one starts while the others call, the other slots run reconcile, reminders and dispatch."""
INVITATIONS, PAGE_SIZE = 100, 10
INVITED_LATER, REMINDED, MISSED = 100, 2, 2
REMINDER_DUE, MISSED_WINDOW = 330.0, timedelta(seconds=2)
"""Seconds from Airflow's start to the `REMINDED` sessions' T-1h reminders (and the second round), and from the
seeding to the end of the `MISSED` candidates' windows."""
CONNECTION, SMS_CONNECTION = "aiplatform_scale", "sms_scale"
SIGN_NAME = "面试助手"
TEMPLATES = {purpose: f"SMS_48000000{n}" for n, purpose in enumerate(
    ("reminder_t1h", "confirm_request", "urgent", "reschedule_offer", "reissued_link", "cancellation", "invite"), 1)}
TIMEOUT = 20 * 60.0
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
KEEP = bool(os.environ.get("SCALE_DRILL_KEEP"))
"""Keep the drill's directory (config, Airflow home, each process's log) to look at afterwards."""


def config_toml(store: str, api: str, sms: str, tenants: int) -> str:
    """`tenants` sandbox tenants, each syncing the one platform app (a shared connection) every 10 minutes and
    texting candidates through one SMS account: T-1h reminders, a reissued link after a technical miss."""
    lines = ["[lifeline]", f'store = "{store}"', 'rate_limiter = "postgresql"', ""]
    for n in range(1, tenants + 1):
        t = f"tenants.t{n:02d}"
        lines += [f"[{t}]", f'display_name = "Scale tenant {n}"', "sandbox = true", "",
                  f"[{t}.policy]", "quiet_hours = [0, 0]", "grace_minutes = 0", 'reminder_channels = ["sms"]',
                  'candidate_connectors = { sms = "sms" }', "reminder_offsets_minutes = { reminder_t1h = 60 }",
                  'playbooks = { missed_technical = ["reissue_platform", "new_link"] }', "",
                  f"[{t}.connectors.aiplatform]", 'plugin = "aiplatform"',
                  f'connection_id = "{CONNECTION}"', f'base_urls = {{ api = "{api}" }}',
                  'streams = ["interviews", "events"]', 'schedule = "0 * * * *"',
                  f"page_size = {PAGE_SIZE}", f"requests_per_second = {QPS}", "",
                  f"[{t}.connectors.sms]", 'plugin = "aliyun_sms"', f'connection_id = "{SMS_CONNECTION}"',
                  f'base_urls = {{ api = "{sms}" }}', f'sign_name = "{SIGN_NAME}"', "streams = []", "",
                  f"[{t}.connectors.sms.templates]", *(f'{p} = "{code}"' for p, code in TEMPLATES.items()), ""]
    return "\n".join(lines)


def seed(world: AIPlatformWorld, n: int, first: int = 0) -> None:
    """`n` invited candidates who opened their link (references `app-<first>` on)."""
    for i in range(first, first + n):
        opened = world.invite(f"Candidate {i}", email=f"c{i}@example.com", external_ref=f"app-{i}")["id"]
        world.open_link(opened)


def seed_missed(world: AIPlatformWorld, n: int) -> None:
    """`n` candidates whose session window closes seconds from now, after a failed join (a technical miss:
    Lifeline reissues the link and texts it). The platform takes client reports up to 5 minutes late, so its
    events are complete past the window, and the interview decidable, only in the period's later rounds."""
    now = datetime.now(UTC)
    for k in range(n):
        missed = world.invite(f"Candidate m{k}", phone=f"+86{13900139000 + k}", external_ref=f"app-m{k}",
                              deadline_basis="absolute", window_hours=None,
                              opens_at=(now - timedelta(hours=1)).isoformat(),
                              deadline_at=(now + MISSED_WINDOW).isoformat())["id"]
        world.technical(missed, "join_error", "NETWORK_ERROR")


def seed_reminded(world: AIPlatformWorld, n: int, due: datetime) -> None:
    """`n` candidates with sessions whose T-1h reminder falls due at `due`."""
    starts = due + timedelta(hours=1)
    for k in range(n):
        world.invite(f"Candidate r{k}", phone=f"+86{13800138000 + k}", external_ref=f"app-r{k}",
                     deadline_basis="absolute", window_hours=None, opens_at=starts.isoformat(),
                     deadline_at=(starts + timedelta(hours=1)).isoformat())


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
    """When each of the platform's sync tasks was queued or running (epoch seconds): work waiting for its quota."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT queued_dttm, end_date FROM task_instance WHERE task_id = 'sync_aiplatform' "
            "AND queued_dttm IS NOT NULL AND end_date IS NOT NULL")).all()
    return [(queued.timestamp(), ended.timestamp()) for queued, ended in rows]


def runs_done(engine: sa.Engine, expected: dict[str, int]) -> bool:
    """At least `expected[kind]` runs of the tenants' `kind` DAGs ended, and no DAG run or task is still to do."""
    with engine.connect() as conn:
        states = conn.execute(sa.text("SELECT dag_id, state FROM dag_run")).all()
        pending = conn.execute(sa.text(
            "SELECT count(*) FROM task_instance WHERE state IN ('scheduled', 'queued', 'running', "
            "'up_for_retry', 'restarting', 'deferred')")).scalar_one()
    ended = Counter(dag.rsplit("__", 1)[1] for dag, state in states if state in ("success", "failed"))
    return (all(ended[kind] >= n for kind, n in expected.items()) and pending == 0
            and all(s in ("success", "failed") for _, s in states))


def wait_for_runs(engine: sa.Engine, expected: dict[str, int], deadline: float, logs: Path) -> None:
    while not runs_done(engine, expected):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the DAG runs did not finish in {TIMEOUT / 60:.0f} minutes; logs in {logs}")
        time.sleep(3)


def trigger(api: str, dag_ids: list[str], patience: float = 120.0) -> None:
    """A manual run of each DAG (a schedule round) through Airflow's REST API; waits for a DAG not parsed yet."""
    token = requests.get(f"{api}/auth/token", timeout=30).json()["access_token"]
    for dag_id in dag_ids:
        give_up = time.monotonic() + patience
        while True:
            answer = requests.post(f"{api}/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None},
                                   headers={"Authorization": f"Bearer {token}"}, timeout=60)
            if answer.status_code != 404 or time.monotonic() > give_up:
                answer.raise_for_status()
                break
            time.sleep(2)


def sms_world() -> SmsWorld:
    """One SMS account with the tenants' signature and a template per purpose (the sandbox's wording)."""
    world = SmsWorld(sms_emulator.EmulatorSettings(sign_names=[SIGN_NAME], push_background=False))
    for purpose, code in TEMPLATES.items():
        world.settings.templates[code] = Template(content=WORDING.get(purpose, WORDING["reminder"]))
    return world


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
        app = platform_emulator.create_app(platform_emulator.EmulatorSettings(
            requests_per_second=QPS, deliver_in_background=False, max_resets=TENANTS))
        world: AIPlatformWorld = app.state.world
        stack.callback(world.close)
        seed(world, INVITATIONS)
        seed_missed(world, MISSED)
        platform = stack.enter_context(LoopbackServer(app))
        texts = sms_world()
        stack.callback(texts.close)
        sms = stack.enter_context(LoopbackServer(sms_emulator.create_app(world=texts)))
        config = tmp / "plugins.toml"
        config.write_text(config_toml(store_url, f"{platform.url}/v1", sms.url, tenants), encoding="utf-8")
        key_id, key_secret = next(iter(texts.settings.access_keys.items()))
        connections = {
            CONNECTION: {"conn_type": "aiplatform", "login": world.settings.client_id,
                         "password": world.settings.client_secret,
                         "extra": {"webhook_secret": world.settings.webhook_secret}},
            SMS_CONNECTION: {"conn_type": "aliyun_sms", "login": key_id, "password": key_secret}}
        port, broker = free_port(), f"redis://127.0.0.1:{redis_port}/0"
        api = f"http://127.0.0.1:{port}"
        conns = {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(value) for conn_id, value in connections.items()}
        env = {**airflow_env(REPO, config, conns),
               "AIRFLOW_HOME": str(tmp / "airflow"),
               "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
               "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": airflow_db,  # psycopg 3 is async too: no asyncpg
               "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
               "AIRFLOW__CELERY__BROKER_URL": broker,
               "AIRFLOW__CELERY__RESULT_BACKEND": f"redis://127.0.0.1:{redis_port}/1",
               "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CONCURRENCY),
               "AIRFLOW__API__PORT": str(port),
               "AIRFLOW__API__BASE_URL": api,
               "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
               "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
               "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
               "AIRFLOW__CORE__PARALLELISM": str(WORKERS * CONCURRENCY * 2),
               "LIFELINE_PLUGIN_MANIFEST": str(tmp / "lifeline-plugins.json"),
               "LIFELINE_HASH_KEY": secrets.token_hex(32),
               PUBLIC_URL_ENV: PUBLIC_URL}
        step("migrate", [str(BIN / "airflow"), "db", "migrate"], env)
        step("setup", [str(BIN / "lifeline"), "airflow", "setup", "--slots", str(SYNC_SLOTS)], env)
        started = time.monotonic()
        seed_reminded(world, REMINDED, datetime.now(UTC) + timedelta(seconds=REMINDER_DUE))
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
        # The backfill: each DAG's latest interval at once (the reconcile runs on its sync's asset). The first round
        # plans the reminders; before the second the world moves on, and it syncs, remediates and sends them.
        names = [f"t{n:02d}" for n in range(1, tenants + 1)]
        wait_for_runs(engine, {"sync": tenants, "reminders": tenants}, deadline, logs)
        trigger(api, [f"lifeline__{t}__reminders" for t in names])
        time.sleep(max(0.0, started + REMINDER_DUE - time.monotonic()))
        seed(world, INVITED_LATER, INVITATIONS)
        trigger(api, [f"lifeline__{t}__{dag}" for t in names for dag in ("sync", "reminders")])
        wait_for_runs(engine, {"sync": tenants * 2, "reminders": tenants * 3}, deadline, logs)
        minutes = (time.monotonic() - started) / 60
        meter.stop.set()
        with engine.connect() as conn:
            states: Counter[str] = Counter(dict(conn.execute(sa.text(
                "SELECT state, count(*) FROM task_instance GROUP BY state")).all()))
        messages = texts.message_list()
        new_links = sum(m["template_code"] == TEMPLATES["reissued_link"] for m in messages)
        reissued = [inv.resets for inv in world.invitations.values()]
        return {
            "scale_tenants": tenants,
            "scale_workers": sum(w.poll() is None for w in workers),
            "scale_tasks_ok": states.get("success", 0),
            "scale_tasks_failed": states.get("failed", 0) + states.get("upstream_failed", 0),
            "scale_quota_breaches": world.quota_breaches(),
            "scale_quota_share": meter.share(sync_busy(engine)),
            "scale_reminders": len(messages) - new_links,
            "scale_reminders_due": tenants * REMINDED,
            "scale_remediations": sum(reissued) + new_links,
            "scale_duplicates": (repeats(m["out_id"] for m in messages)
                                 + repeats(inv.external_ref for inv in world.invitations.values())
                                 + sum(max(0, n - tenants) for n in reissued)),
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
