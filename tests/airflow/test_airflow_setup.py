"""`lifeline airflow setup` against a real Airflow metadata DB, and the sync DAG failing fast without its pool.

Airflow 3.3 itself leaves a task whose pool does not exist "scheduled" for ever (the scheduler logs
"Tasks using non-existent pool"); `dag.test()` ignores pools altogether, so the run below fails only
because `plan_<plugin>` checks the pools `lifeline airflow setup` recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from airflow.dag_processing.dagbag import DagBag
from airflow.models.pool import Pool
from airflow.models.variable import Variable
from airflow.utils.session import create_session
from airflow_tinyats import World, connection, create_app, host, write_config
from click.testing import CliRunner

import lifeline_hub.core.plugins
from lifeline_hub.core.airflow import manifest, tasks
from lifeline_hub.core.airflow.setup import POOLS_VARIABLE, PoolNotSetUp, setup_pools
from lifeline_hub.core.cli import cli
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.store import Store

DAGS = Path(__file__).resolve().parents[2] / "dags"
pytestmark = pytest.mark.usefixtures("airflow_db")

CONFIG = """
[lifeline]
store = "sqlite:///{store}"
[tenants.acme.connectors.dt]
plugin = "dingtalk"
connection_id = "dingtalk_acme"
agent_id = 1
corp_id = "dingcorp"
[tenants.acme.connectors.fs]
plugin = "feishu"
connection_id = "feishu_acme"
"""
DINGTALK = json.dumps({"conn_type": "dingtalk", "login": "app-key", "password": "app-secret-setup-test"})


@pytest.fixture(autouse=True)
def no_pools() -> None:
    """Start without Lifeline's pools and without the record of them (the metadata DB is per session)."""
    with create_session() as session:
        session.execute(sa.delete(Pool).where(Pool.pool.like("lifeline_%")))
    Variable.delete(POOLS_VARIABLE)


def slots(name: str) -> int | None:
    pool = Pool.get_pool(name)
    return None if pool is None else pool.slots


def lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line]


def setup_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    config = tmp_path / "plugins.toml"
    config.write_text(CONFIG.format(store=tmp_path / "lifeline.db"), encoding="utf-8")
    monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(tmp_path / "manifest.json"))
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_ACME", DINGTALK)
    monkeypatch.delenv("AIRFLOW_CONN_FEISHU_ACME", raising=False)
    return config, tmp_path / "manifest.json"


def test_setup_creates_the_pools_writes_the_manifest_and_says_how_to_fix_what_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, written = setup_cli(tmp_path, monkeypatch)
    head = Store(f"sqlite:///{tmp_path / 'lifeline.db'}").head()
    result = CliRunner().invoke(cli, ["--config", str(config), "airflow", "setup"])
    assert result.exit_code == 1, result.output
    assert lines(result.output) == [
        "ok   pool lifeline_dingtalk: missing, created with 4 slots",
        "ok   pool lifeline_feishu: missing, created with 4 slots",
        "ok   connection dingtalk_acme (acme.dt): resolves",
        "FAIL connection feishu_acme (acme.fs): connection 'feishu_acme' is not defined: looked through Airflow's "
        "secrets backends (EnvironmentVariablesBackend, MetastoreBackend; the environment one reads "
        "$AIRFLOW_CONN_FEISHU_ACME); add or fix it in Airflow's Connections",
        f"ok   plugin manifest: written to {written}",
        f"FAIL store sqlite:///{tmp_path / 'lifeline.db'}: revision None, head {head}; "
        "run `lifeline db upgrade`",
    ]
    assert "app-secret-setup-test" not in result.output
    assert (slots("lifeline_dingtalk"), slots("lifeline_feishu")) == (4, 4)
    assert json.loads(Variable.get(POOLS_VARIABLE)) == ["lifeline_dingtalk", "lifeline_feishu"]
    assert {p["name"] for p in json.loads(written.read_text())["plugins"]} >= {"dingtalk", "feishu"}

    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_ACME", json.dumps({"conn_type": "feishu", "login": "a", "password": "b"}))
    Store(f"sqlite:///{tmp_path / 'lifeline.db'}").upgrade()
    again = CliRunner().invoke(cli, ["--config", str(config), "airflow", "setup", "--slots", "6"])
    assert again.exit_code == 0, again.output
    assert lines(again.output)[:2] == ["ok   pool lifeline_dingtalk: 4 slots, resized to 6",
                                       "ok   pool lifeline_feishu: 4 slots, resized to 6"]
    assert (slots("lifeline_dingtalk"), slots("lifeline_feishu")) == (6, 6)


SMS_CONFIG = """
[lifeline]
store = "sqlite:///{store}"
[tenants.acme.connectors.sms]
plugin = "aliyun_sms"
connection_id = "sms_acme"
sign_name = "Acme"
"""


def test_connections_resolve_as_the_tasks_resolve_them_without_airflow_printing_into_the_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's own lookup prints a warning among the command's lines for a connection type with `_` (RFC 3986);
    `connections.resolve`, which the tasks use, does not."""
    config = tmp_path / "plugins.toml"
    config.write_text(SMS_CONFIG.format(store=tmp_path / "lifeline.db"), encoding="utf-8")
    monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(tmp_path / "manifest.json"))
    monkeypatch.setenv("AIRFLOW_CONN_SMS_ACME", json.dumps(
        {"conn_type": "aliyun_sms", "login": "key-id", "password": "sms-secret-setup-test"}))
    done = subprocess.run([str(Path(sys.executable).parent / "lifeline"), "--config", str(config), "airflow",
                           "setup", "--dry-run"], capture_output=True, text=True, timeout=300, check=False)
    assert "ok   connection sms_acme (acme.sms): resolves" in lines(done.stdout), done.stdout
    assert "RFC3986" not in done.stdout
    assert "sms-secret-setup-test" not in done.stdout + done.stderr

    monkeypatch.setenv("AIRFLOW_CONN_SMS_ACME", '{"conn_type": "aliyun_sms", "login": ')
    broken = CliRunner().invoke(cli, ["--config", str(config), "airflow", "setup", "--dry-run"])
    assert "FAIL connection sms_acme (acme.sms): connection 'sms_acme': malformed JSON (Expecting value); " \
           "add or fix it in Airflow's Connections" in lines(broken.output)


def test_dry_run_creates_and_writes_nothing_and_fails_for_a_missing_pool(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, written = setup_cli(tmp_path, monkeypatch)
    result = CliRunner().invoke(cli, ["--config", str(config), "airflow", "setup", "--dry-run"])
    assert result.exit_code == 1, result.output
    assert lines(result.output)[:2] == [
        "FAIL pool lifeline_dingtalk: missing, would be created with 4 slots (run `lifeline airflow setup`)",
        "FAIL pool lifeline_feishu: missing, would be created with 4 slots (run `lifeline airflow setup`)",
    ]
    assert f"ok   plugin manifest: would be written to {written}" in lines(result.output)
    assert (slots("lifeline_dingtalk"), written.exists()) == (None, False)
    assert Variable.get(POOLS_VARIABLE, default_var=None) is None


@pytest.fixture
def tinyats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The tiny ATS on loopback with its plugins.toml, manifest, connection and migrated store."""
    monkeypatch.setenv("LIFELINE_HASH_KEY", "airflow-setup-test-key-0123456789abcdef")
    with LoopbackServer(create_app(World(interviews=2))) as server:
        config = write_config(tmp_path, server.url)
        monkeypatch.setenv("LIFELINE_CONFIG", str(config))
        monkeypatch.setenv("LIFELINE_PLUGIN_MANIFEST", str(manifest.write(host(), tmp_path / "plugins.json")))
        monkeypatch.setenv("AIRFLOW_CONN_TINYATS_ACME", connection())
        monkeypatch.setattr(lifeline_hub.core.plugins, "get_host", host)
        store = Store(f"sqlite:///{tmp_path / 'lifeline.db'}")
        store.upgrade()
        store.engine.dispose()
        yield config


def test_the_sync_dag_fails_at_once_naming_the_command_when_its_pool_was_not_set_up(tinyats: Path) -> None:
    dagbag = DagBag(dag_folder=str(DAGS))
    assert dagbag.import_errors == {}
    sync = dagbag.dags["lifeline__acme__sync"]
    failed = sync.test()
    assert failed.state == "failed"
    states = {ti.task_id: (ti.state, ti.try_number) for ti in failed.get_task_instances()}
    assert states == {"plan_tinyats": ("failed", 1), "sync_tinyats": ("upstream_failed", 0)}  # no retries
    with pytest.raises(PoolNotSetUp, match=r"pool lifeline_tinyats was not set up.*run `lifeline airflow setup`"):
        tasks.plan_sync(str(tinyats), "acme", ["ats"])

    setup_pools({"tinyats"}, None, dry_run=False)
    assert sync.test().state == "success"
