"""`dag.test()` of the generated DAGs against vendor emulators over real HTTP (a tiny ATS, DingTalk).

Connectors come through plugins registered the way entry points are; credentials through
`AIRFLOW_CONN_*` connections. Asserts on the store, on the emulator's request log and on Airflow's
asset events; a second run creates nothing twice. `dag.test()` runs tasks in this process, so the
plugin host can be swapped in and the secrets masker inspected afterwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from airflow.dag_processing.dagbag import DagBag
from airflow.models.asset import AssetEvent
from airflow.models.dagrun import DagRun
from airflow.sdk import DAG
from airflow.sdk._shared.secrets_masker import redact
from airflow.utils.session import create_session
from airflow_tinyats import SECRET, World, connection, create_app, host, write_config

import lifeline_hub.core.plugins
from lifeline_hub.connectors.dingtalk import plugin as dingtalk_plugin
from lifeline_hub.connectors.dingtalk.testing import emulated
from lifeline_hub.core.airflow import manifest
from lifeline_hub.core.airflow.setup import setup_pools
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.store import Store, schema

DAGS = Path(__file__).resolve().parents[2] / "dags"
pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(autouse=True)
def hash_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """acme is no sandbox: its sync, remediate and dispatch tasks run only with a real key."""
    monkeypatch.setenv("LIFELINE_HASH_KEY", "airflow-runs-test-key-0123456789abcdef")


@pytest.fixture(autouse=True)
def pools() -> None:
    """The vendor pools, as `lifeline airflow setup` creates them (without, `plan_<plugin>` fails at once)."""
    setup_pools({"tinyats", "dingtalk"}, None, dry_run=False)


@pytest.fixture
def world() -> World:
    return World(interviews=5)


@pytest.fixture
def store(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The emulator on loopback, a plugins.toml, manifest and connection for it, and the migrated store."""
    with LoopbackServer(create_app(world)) as server:
        config = write_config(tmp_path, server.url)
        monkeypatch.setenv("LIFELINE_CONFIG", str(config))
        monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(manifest.write(host(), tmp_path / "plugins.json")))
        monkeypatch.setenv("AIRFLOW_CONN_TINYATS_ACME", connection())
        monkeypatch.setattr(lifeline_hub.core.plugins, "get_host", host)
        s = Store(f"sqlite:///{tmp_path / 'lifeline.db'}")
        s.upgrade()
        yield s
        s.engine.dispose()


def dag(dag_id: str) -> DAG:
    dagbag = DagBag(dag_folder=str(DAGS))
    assert dagbag.import_errors == {}
    return dagbag.dags[dag_id]


def states(run: DagRun) -> dict[str, tuple[str, int]]:
    return {f"{ti.task_id}[{ti.map_index}]": (ti.state, ti.try_number) for ti in run.get_task_instances()}


def test_sync_dag_fills_the_store_and_a_second_run_creates_nothing_twice(world: World, store: Store) -> None:
    sync = dag("lifeline__acme__sync")
    first = sync.test()
    assert first.state == "success", states(first)
    assert states(first) == {"plan_tinyats[-1]": ("success", 1), "sync_tinyats[0]": ("success", 1)}
    assert store.count("interviews") == 5
    assert [r["after"] for r in world.requests] == [0, 2, 4, 5]  # three pages, then the empty one

    second = sync.test()
    assert second.state == "success", states(second)
    assert store.count("interviews") == 5
    assert [r["after"] for r in world.requests[4:]] == [5]  # resumed from the stored cursor
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.interviews)
                            .where(schema.interviews.c.tenant == "acme")).scalar_one() == 5

    with create_session() as session:
        extras = [e.extra for e in session.scalars(sa.select(AssetEvent).order_by(AssetEvent.id))
                  if e.source_dag_id == "lifeline__acme__sync"][-2:]
    assert [(x["instance"], x["stream"], x["inserted"]) for x in extras] == [
        ("acme.ats", "interviews", 5), ("acme.ats", "interviews", 0)]


def test_sync_masks_the_app_key_airflow_would_not(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    app_key = "app-key-only-this-test-sees"  # the masker is process-wide: a value no other test masked
    monkeypatch.setenv("AIRFLOW_CONN_TINYATS_ACME", connection(app_key))
    assert redact(f"key={app_key} region=cn") == f"key={app_key} region=cn"
    assert dag("lifeline__acme__sync").test().state == "success"
    assert redact(f"key={app_key} token={SECRET} region=cn") == "key=*** token=*** region=cn"


def test_a_401_fails_at_once_despite_retries(world: World, store: Store) -> None:
    world.faults = [401]
    run = dag("lifeline__acme__sync").test()
    assert run.state == "failed"
    assert states(run)["sync_tinyats[0]"] == ("failed", 1)
    assert len(world.requests) == 1


def test_a_429_is_retried_after_the_vendors_retry_after(world: World, store: Store) -> None:
    world.faults = [429]
    run = dag("lifeline__acme__sync").test()
    assert run.state == "success", states(run)
    assert states(run)["sync_tinyats[0]"] == ("success", 2)
    assert store.count("interviews") == 5


def test_reconcile_dag_runs_without_a_data_interval_and_twice_decides_nothing_new(store: Store) -> None:
    assert dag("lifeline__acme__sync").test().state == "success"
    reconcile = dag("lifeline__acme__reconcile")
    first = reconcile.test(logical_date=None)
    assert first.state == "success", states(first)
    decided = store.count("outcomes")
    assert decided == 5
    second = reconcile.test(logical_date=None)
    assert second.state == "success", states(second)
    assert store.count("outcomes") == decided


def test_sync_dag_reads_the_dingtalk_emulators_calendar_over_http(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    host = PluginHost()
    host.register(dingtalk_plugin, "dingtalk")
    monkeypatch.setattr(lifeline_hub.core.plugins, "get_host", lambda: host)
    with emulated(users=2) as dt:
        event = dt.world.add_calendar_event("union1", "二面 面试", time.time() + 7200, time.time() + 10800, ["union2"])
        settings = dt.world.settings
        config = tmp_path / "plugins.toml"
        config.write_text(
            f'[lifeline]\nstore = "sqlite:///{tmp_path / "lifeline.db"}"\n'
            f'[tenants.acme.connectors.dt]\nplugin = "dingtalk"\nconnection_id = "dingtalk_acme"\n'
            f'base_urls = {{oapi = "{dt.url}", api = "{dt.url}"}}\nstreams = ["calendar"]\n'
            f'corp_id = "{settings.corp_id}"\nagent_id = {settings.apps[0].agent_id}\ncalendar_owners = ["union1"]\n',
            encoding="utf-8")
        creds = dt.credentials()
        monkeypatch.setenv("LIFELINE_CONFIG", str(config))
        monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_ACME", json.dumps({
            "conn_type": "dingtalk", "login": creds.login, "password": creds.password, "extra": dict(creds.extra)}))
        store = Store(f"sqlite:///{tmp_path / 'lifeline.db'}")
        store.upgrade()
        sync = dag("lifeline__acme__sync")
        for _ in range(2):
            run = sync.test()
            assert run.state == "success", states(run)
            assert store.count("interviews") == 1
        store.engine.dispose()
        assert list(dt.world.calendar) == [event]  # read only: nothing created at the vendor
    assert redact(f"{creds.extra['callback_aes_key']} {creds.login}") == "*** ***"
