"""A dead vendor under Airflow: the retry budget, the circuit breaker, the other streams and the ops alerts.

Tenant acme syncs a tiny ATS (healthy) and a DingTalk calendar whose emulator answers every call with a
5xx (`server_error=1.0`: a dead vendor), both on one schedule, in one sync DAG; a second DingTalk emulator
is the tenant's ops channel (`policy.ops_connector`). `dag.test()` runs the tasks in this process over real
HTTP, on a fake toolkit clock (the in-task retries back off without waiting); the store is a SQLite file and
PostgreSQL.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from airflow.dag_processing.dagbag import DagBag
from airflow.models.dagrun import DagRun
from airflow.sdk import DAG
from airflow.sdk.definitions.callback import SyncCallback
from airflow.sdk.definitions.deadline import DeadlineReference
from airflow.sdk.execution_time.callback_supervisor import execute_callback
from airflow.serialization.serialized_objects import DagSerialization
from airflow_tinyats import World, connection, create_app, write_config

import lifeline_hub.core.plugins
from lifeline_hub.connectors.dingtalk import plugin as dingtalk_plugin
from lifeline_hub.connectors.dingtalk.emulator_state import EmulatorSettings
from lifeline_hub.connectors.dingtalk.testing import Emulated, emulated
from lifeline_hub.core.airflow import manifest
from lifeline_hub.core.airflow.dags import sync_timing
from lifeline_hub.core.airflow.notify import OpsNotifier
from lifeline_hub.core.airflow.setup import setup_pools
from lifeline_hub.core.emulator import Faults, LoopbackServer
from lifeline_hub.core.http.clock import use_clock
from lifeline_hub.core.http.testing import FakeClock
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.store import Store, schema

DAGS = Path(__file__).resolve().parents[2] / "dags"
pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(autouse=True)
def _test_without_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    """`dag.test()` of Airflow 3.3.2 hands its scheduler DAG the deadline alerts as serialized dicts, not the ids
    `SerializedDagModel.write_dag` stores them under, and crashes when a run ends (`DeadlineAlertModel.get_by_id`
    of a dict): the deadline alerts of acme (it has an ops channel) are left out of `dag.test()` runs here; the
    tests below check them in the DAG and run their callback through Airflow's own `execute_callback`."""
    original = DAG.test

    def test(self: DAG, *args: Any, **kwargs: Any) -> Any:
        self.deadline = None
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DAG, "test", test)


@dataclass
class Tenant:
    ats: World
    dead: Emulated
    ops: Emulated
    store: Store
    config: Path


def _host() -> PluginHost:
    host = PluginHost()
    host.register(sys.modules["airflow_tinyats"], "tinyats")
    host.register(dingtalk_plugin, "dingtalk")
    return host


def _dingtalk(em: Emulated, key: str, streams: list[str], extra: str = "") -> str:
    s = em.world.settings
    return (f'[tenants.acme.connectors.{key}]\nplugin = "dingtalk"\nconnection_id = "dingtalk_{key}"\n'
            f'base_urls = {{oapi = "{em.url}", api = "{em.url}"}}\nstreams = {json.dumps(streams)}\n'
            f'corp_id = "{s.corp_id}"\nagent_id = {s.apps[0].agent_id}\n{extra}')


def _connection(em: Emulated) -> str:
    creds = em.credentials()
    return json.dumps({"conn_type": "dingtalk", "login": creds.login, "password": creds.password,
                       "extra": dict(creds.extra)})


@pytest.fixture
def tenant(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenant]:
    monkeypatch.setenv("LIFELINE_HASH_KEY", "airflow-alerts-test-key-0123456789abcdef")
    setup_pools({"tinyats", "dingtalk"}, None, dry_run=False)
    ats = World(interviews=3)
    with ExitStack() as stack:
        server = stack.enter_context(LoopbackServer(create_app(ats)))
        dead = stack.enter_context(emulated(EmulatorSettings(faults=Faults(server_error=1.0)), users=1))
        ops = stack.enter_context(emulated(users=1))
        config = tmp_path / "plugins.toml"
        config.write_text(
            f'[lifeline]\nstore = "{db_url}"\n'
            '[tenants.acme.policy]\nops_connector = "ops"\nops_recipients = ["u1"]\n'
            f'[tenants.acme.connectors.ats]\nplugin = "tinyats"\nconnection_id = "tinyats_acme"\n'
            f'base_urls = {{api = "{server.url}/v1"}}\n'
            + _dingtalk(dead, "dt", ["calendar"], 'calendar_owners = ["union1"]\n')
            + _dingtalk(ops, "ops", []), encoding="utf-8")
        monkeypatch.setenv("LIFELINE_CONFIG", str(config))
        monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(manifest.write(_host(), tmp_path / "plugins.json")))
        monkeypatch.setenv("AIRFLOW_CONN_TINYATS_ACME", connection())
        monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_DT", _connection(dead))
        monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_OPS", _connection(ops))
        monkeypatch.setattr(lifeline_hub.core.plugins, "get_host", _host)
        store = Store(db_url)
        store.upgrade()
        stack.callback(store.engine.dispose)
        yield Tenant(ats, dead, ops, store, config)


def dag(dag_id: str) -> DAG:
    dagbag = DagBag(dag_folder=str(DAGS))
    assert dagbag.import_errors == {}
    return dagbag.dags[dag_id]


def states(run: DagRun) -> dict[str, tuple[str, int]]:
    return {f"{ti.task_id}[{ti.map_index}]": (ti.state, ti.try_number) for ti in run.get_task_instances()}


def failed_at_vendor(em: Emulated) -> int:
    return sum(1 for s in em.world.served if s.status >= 500 or (isinstance(s.body, dict) and s.body.get("errcode")
                                                                  == -1))


def breakers(store: Store) -> list[tuple[str, bool]]:
    with store.engine.connect() as conn:
        return [(r.subject, r.resolved_at is None) for r in conn.execute(
            sa.select(schema.health).where(schema.health.c.kind == "breaker"))]


def ops_notices(em: Emulated) -> list[str]:
    return [json.dumps(n.msg, ensure_ascii=False) for n in em.world.notices.values()]


def test_a_dead_vendor_fails_fast_alerts_once_and_never_blocks_the_other_streams(tenant: Tenant) -> None:
    sync = dag("lifeline__acme__sync")
    with use_clock(FakeClock()) as clock:
        first = sync.test()
    assert first.state == "failed"
    assert states(first) == {"plan_dingtalk[-1]": ("success", 1), "plan_tinyats[-1]": ("success", 1),
                             "sync_dingtalk[0]": ("failed", 1),  # CircuitOpen: no Airflow retry
                             "sync_tinyats[0]": ("success", 1)}
    assert tenant.store.count("interviews") == 3  # the healthy stream synced in the same run
    assert failed_at_vendor(tenant.dead) == 5  # policy.breaker_failures, then no more calls
    assert sum(clock.sleeps) <= sync_timing("*/15 * * * *").budget.total_seconds()
    assert breakers(tenant.store) == [("acme.dt", True)]
    notices = ops_notices(tenant.ops)
    assert len(notices) == 1
    assert "lifeline__acme__sync.sync_dingtalk failed" in notices[0] and "circuit breaker of acme.dt" in notices[0]
    assert "1 breakers open (acme.dt)" in notices[0]

    tenant.ats.interviews = 4
    with use_clock(clock):  # the next schedule, within the breaker's cool-down
        second = sync.test()
    assert states(second)["sync_tinyats[0]"] == ("success", 1) and tenant.store.count("interviews") == 4
    assert states(second)["sync_dingtalk[0]"] == ("failed", 1)
    assert failed_at_vendor(tenant.dead) == 5  # failed fast: the dead vendor was not called again
    assert len(ops_notices(tenant.ops)) == 1  # the same breaker opening: no second alert


def test_after_the_cool_down_one_probe_closes_the_breaker_when_the_vendor_is_back(tenant: Tenant) -> None:
    sync = dag("lifeline__acme__sync")
    clock = FakeClock()
    with use_clock(clock):
        assert sync.test().state == "failed"
        assert breakers(tenant.store) == [("acme.dt", True)]
        tenant.dead.world.faults.faults = Faults()  # the vendor is back
        clock.advance(301)  # past policy.breaker_cooldown_seconds
        run = sync.test()
    assert run.state == "success", states(run)
    assert breakers(tenant.store) == [("acme.dt", False)]  # the alert resolved


def test_an_instances_retry_budget_bounds_each_try_and_airflows_retries_fit_its_schedule(
        tenant: Tenant) -> None:
    text = tenant.config.read_text(encoding="utf-8")
    text = text.replace('ops_recipients = ["u1"]\n', 'ops_recipients = ["u1"]\nbreaker_failures = 50\n')
    text = text.replace('calendar_owners = ["union1"]\n',
                        'calendar_owners = ["union1"]\nschedule = "* * * * *"\nretry_budget_seconds = 2\n')
    tenant.config.write_text(text, encoding="utf-8")
    timing = sync_timing("* * * * *")
    assert timing.budget.total_seconds() == 6 and timing.retry_delay == timedelta(seconds=6)
    with use_clock(FakeClock()) as clock:
        run = dag("lifeline__acme__sync_dt").test()  # dt's own schedule: its own DAG
    assert states(run) == {"plan_dingtalk[-1]": ("success", 1), "sync_dingtalk[0]": ("failed", 3)}
    assert sum(clock.sleeps) <= 3 * 2  # three tries, each within the instance's 2 s, not the schedule's 6 s
    assert 3 <= failed_at_vendor(tenant.dead) <= 9 and breakers(tenant.store) == []
    [notice] = ops_notices(tenant.ops)  # one alert for the task, after its last try
    assert "lifeline__acme__sync_dt.sync_dingtalk failed" in notice and "retry budget of 2 s" in notice
    assert "try 3" in notice


def test_the_sync_dag_lets_each_stream_and_each_run_go_on_its_own(tenant: Tenant) -> None:
    sync = dag("lifeline__acme__sync")
    assert sync.max_active_runs == 1 and not sync.catchup
    for task in sync.tasks:
        assert (task.depends_on_past, task.wait_for_downstream, task.trigger_rule) == (False, False, "all_success")
        assert task.upstream_task_ids <= {"plan_dingtalk", "plan_tinyats"}  # a sync waits for its own plan only
    assert {t.task_id: sorted(t.upstream_task_ids) for t in sync.tasks if t.task_id.startswith("sync_")} == {
        "sync_dingtalk": ["plan_dingtalk"], "sync_tinyats": ["plan_tinyats"]}
    timing = sync_timing("*/15 * * * *")
    task = sync.get_task("sync_dingtalk")
    assert (task.retries, task.retry_delay, task.max_retry_delay) == (timing.retries, timing.retry_delay,
                                                                      timing.retry_delay)
    assert timing.worst_case <= timing.interval / 2  # every try of a dead vendor's task ends before the next run


@pytest.mark.parametrize("schedule", ["* * * * *", "*/5 * * * *", "*/15 * * * *", "0 * * * *", "0 3 * * *",
                                      "0 9,10 * * 1-5"])
def test_the_tries_of_a_sync_task_fit_in_the_shortest_gap_of_its_schedule(schedule: str) -> None:
    timing = sync_timing(schedule)
    assert timedelta(0) < timing.budget <= timedelta(minutes=10)
    assert timing.worst_case <= timing.interval / 2


def test_every_dag_alerts_ops_on_failure_and_on_a_missed_deadline(tenant: Tenant) -> None:
    dagbag = DagBag(dag_folder=str(DAGS))
    for dag_id in ("lifeline__acme__sync", "lifeline__acme__reconcile", "lifeline__acme__reminders"):
        built = dagbag.dags[dag_id]
        assert all(isinstance(cb, OpsNotifier) for t in built.tasks for cb in _callbacks(t.on_failure_callback))
        assert all(t.on_failure_callback for t in built.tasks)
        [alert] = built.deadline
        assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
        assert isinstance(alert.callback, SyncCallback)
        assert alert.callback.path == "lifeline_hub.core.airflow.notify.OpsNotifier"
        assert alert.callback.kwargs == {"config": str(tenant.config), "tenant": "acme", "event": "deadline"}
        serialized = DagSerialization.to_dict(built)  # what the scheduler stores
        assert serialized["dag"]["deadline"]
    assert dagbag.dags["lifeline__acme__sync"].deadline[0].interval == timedelta(minutes=15)
    assert dagbag.dags["lifeline__acme__reminders"].deadline[0].interval == timedelta(minutes=10)


def test_a_tenant_without_an_ops_channel_has_no_deadline_alerts(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFELINE_CONFIG", str(write_config(tmp_path, "http://127.0.0.1:9")))
    monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(manifest.write(_host(), tmp_path / "plugins.json")))
    dagbag = DagBag(dag_folder=str(DAGS))
    assert dagbag.import_errors == {}
    assert [d.deadline for d in dagbag.dags.values()] == [None, None, None]
    assert all(t.on_failure_callback for d in dagbag.dags.values() for t in d.tasks)  # logged, not sent


def _callbacks(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_a_missed_deadline_is_told_once_through_airflows_own_callback_runner(tenant: Tenant) -> None:
    alert = dag("lifeline__acme__reminders").deadline[0]
    context = {"dag_run": {"dag_id": "lifeline__acme__reminders", "dag_run_id": "scheduled__2026-03-02T01:00:00+00:00",
                           "state": "running"},
               "deadline": {"id": "d1", "deadline_time": datetime(2026, 3, 2, 1, 10, tzinfo=UTC).isoformat()}}
    log = _Log()
    for _ in range(2):  # the callback may run twice: the alert is one outbox row
        ok, error = execute_callback(alert.callback.path, {**alert.callback.kwargs, "context": context},
                                     Path("lifeline_dags.py"), None, log)
        assert (ok, error) == (True, None)
    [notice] = ops_notices(tenant.ops)
    assert "lifeline__acme__reminders run scheduled__2026-03-02T01:00:00+00:00 is late" in notice
    assert "health of acme: 0 stale streams, 0 dead outbox rows, 0 breakers open" in notice
    assert tenant.store.count("actions", status="done") == 1


class _Log:
    """The structlog-style logger `execute_callback` writes to."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _keep(self, event: str, **fields: Any) -> None:
        self.lines.append(event)

    debug = info = warning = error = exception = _keep
