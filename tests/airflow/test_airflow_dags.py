"""The DAG file: what it generates from plugins.toml, its parse time, and how a bad file shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import CronDataIntervalTimetable, CronTriggerTimetable
from airflow.sdk.exceptions import AirflowFailException

from lifeline_hub.core.airflow.dags import evidence, run_time
from lifeline_hub.core.airflow.layout import read
from tests.conftest import run_cli

DAGS = Path(__file__).resolve().parents[2] / "dags"

CONFIG = """
[tenants.acme]
timezone = "Europe/Berlin"
[tenants.acme.connectors.dt]
plugin = "dingtalk"
connection_id = "dingtalk_acme"
corp_id = "ding-acme"
agent_id = 1
[tenants.acme.connectors.fs]
plugin = "feishu"
[tenants.acme.connectors.off]
plugin = "aliyun_sms"
sign_name = "Acme"
enabled = false

[tenants.beta.connectors.ai]
plugin = "aiplatform"
schedule = "*/5 * * * *"
[tenants.beta.connectors.dt]
plugin = "dingtalk"
corp_id = "ding-beta"
agent_id = 2
"""
GOOD = '[tenants.good.connectors.fs]\nplugin = "feishu"\n'
GOOD_DAGS = ["lifeline__good__reconcile", "lifeline__good__reminders", "lifeline__good__sync"]


def bag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> DagBag:
    path = tmp_path / "plugins.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("LIFELINE_CONFIG", str(path))
    return DagBag(dag_folder=str(DAGS))


def failure(dagbag: DagBag, dag_id: str, task_id: str) -> str:
    """The error `task_id` of `dag_id` fails with, when its callable runs as the task would."""
    task = dagbag.dags[dag_id].get_task(task_id)
    assert task.retries == 0
    with pytest.raises(AirflowFailException) as info:
        task.python_callable()
    return str(info.value)


def placeholder(dagbag: DagBag, tenant: str) -> str:
    """The one failing task of a broken tenant's placeholder DAG: what it fails with, also in its doc."""
    dag = dagbag.dags[f"lifeline__{tenant}__config_error"]
    assert [t.task_id for t in dag.tasks] == ["config_error"]
    assert (type(dag.timetable).__name__, dag.is_paused_upon_creation, dag.catchup) == ("OnceTimetable", False, False)
    assert tenant in dag.tags and "config_error" in dag.tags
    error = failure(dagbag, dag.dag_id, "config_error")
    assert error in (dag.doc_md or "")
    return error


def test_one_sync_reconcile_and_reminders_dag_per_tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dagbag = bag(tmp_path, monkeypatch, CONFIG)
    assert (dagbag.import_errors, dagbag.captured_warnings) == ({}, {})  # no deprecated Airflow 2 API either
    assert sorted(dagbag.dag_ids) == [
        "lifeline__acme__reconcile", "lifeline__acme__reminders", "lifeline__acme__sync",
        "lifeline__beta__reconcile", "lifeline__beta__reminders", "lifeline__beta__sync", "lifeline__beta__sync_dt",
    ]
    sync = dagbag.dags["lifeline__acme__sync"]
    assert isinstance(sync.timetable, CronDataIntervalTimetable)
    assert (sync.timetable.expression, sync.timetable.timezone, sync.max_active_runs) == ("*/15 * * * *",
                                                                                          "Europe/Berlin", 1)
    tasks = {t.task_id: t for t in sync.tasks}
    assert sorted(tasks) == ["plan_dingtalk", "plan_feishu", "sync_dingtalk", "sync_feishu"]  # disabled sms left out
    assert (tasks["sync_dingtalk"].pool, tasks["sync_feishu"].pool) == ("lifeline_dingtalk", "lifeline_feishu")
    assert tasks["sync_dingtalk"].outlets == [evidence("acme")]
    assert tasks["sync_dingtalk"].retry_policy is not None and tasks["sync_dingtalk"].retries == 2  # fits its schedule
    assert dagbag.dags["lifeline__beta__sync"].timetable.expression == "*/5 * * * *"  # the first instance's
    assert dagbag.dags["lifeline__beta__sync_dt"].timetable.expression == "*/15 * * * *"

    reconcile = dagbag.dags["lifeline__acme__reconcile"]
    assert list(reconcile.timetable.asset_condition.objects) == [evidence("acme")]
    assert [t.task_id for t in reconcile.topological_sort()] == ["reconcile", "remediate", "dispatch"]
    assert reconcile.max_active_runs == 1
    reminders = dagbag.dags["lifeline__acme__reminders"]
    assert isinstance(reminders.timetable, CronTriggerTimetable)
    assert [t.task_id for t in reminders.topological_sort()] == ["plan_reminders", "dispatch"]


def test_a_task_process_builds_only_its_own_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "lifeline__beta__sync_dt")
    assert bag(tmp_path, monkeypatch, CONFIG).dag_ids == ["lifeline__beta__sync_dt"]


@pytest.mark.parametrize(("text", "problem"), [
    ("[tenants.acme\n", "plugins.toml: line 1, column 14: "),
    ("[lifeline]\nstore = \"mysql://db/x\"\n" + GOOD, "plugins.toml: lifeline.store: unsupported store URL scheme"),
    ("[tenants.Acme.connectors.fs]\nplugin = \"feishu\"\n" + GOOD,
     "plugins.toml: tenants: tenant name 'Acme' must be lower-case"),
])
def test_a_problem_of_the_whole_file_is_an_import_error_naming_file_key_and_problem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, problem: str) -> None:
    dagbag = bag(tmp_path, monkeypatch, text)
    assert dagbag.dag_ids == []
    [error] = dagbag.import_errors.values()
    assert problem in error


@pytest.mark.parametrize(("text", "problem"), [
    ("[tenants.acme.connectors.dt]\nplugin = \"dingtalk\"\nenabled = 3\n",
     "plugins.toml: tenants.acme.connectors.dt.enabled: input should be a valid boolean"),
    ("[tenants.acme]\ncolour = \"red\"\n", "plugins.toml: tenants.acme.colour: extra inputs are not permitted"),
    ("[tenants.acme]\ntimezone = \"Mars/Olympus\"\n", "plugins.toml: tenants.acme.timezone: "),
    ("[tenants.acme.connectors.fs]\nplugin = \"feishu\"\nschedule = \"61 * * * *\"\n",
     "plugins.toml: tenants.acme.connectors.fs.schedule: [61 * * * *] is not acceptable, out of range"),
    ("[tenants.acme.connectors.x]\nplugin = \"nosuch\"\n",
     "plugins.toml: tenants.acme.connectors.x.plugin: unknown connector plugin 'nosuch'"),
    ("[tenants.acme.connectors.fs]\nplugin = \"feishu\"\n[tenants.acme.policy]\nhr_connector = \"nowhere\"\n",
     "plugins.toml: tenants.acme.policy.hr_connector: no connector instance 'nowhere' in tenant acme"),
])
def test_a_bad_tenant_gets_a_failing_placeholder_dag_and_the_others_keep_theirs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, problem: str) -> None:
    """One tenant's typo or unknown plugin was the DAG file's import error: every tenant's DAGs were gone."""
    dagbag = bag(tmp_path, monkeypatch, GOOD + text)
    assert (dagbag.import_errors, dagbag.captured_warnings) == ({}, {})
    assert sorted(dagbag.dag_ids) == ["lifeline__acme__config_error", *GOOD_DAGS]
    error = placeholder(dagbag, "acme")
    assert error.startswith(problem), error
    check = run_cli("check", "--offline", env={"LIFELINE_CONFIG": str(tmp_path / "plugins.toml")})
    if "schedule" in problem:  # `lifeline check` does not validate cron expressions (Airflow does, at parse time)
        assert check.returncode == 0, check.stderr
    else:
        assert check.returncode == 2 and problem in check.stderr, check.stderr  # `lifeline check` still says it


@pytest.mark.usefixtures("airflow_db")
def test_the_placeholder_runs_red_and_its_task_process_builds_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = GOOD + "[tenants.acme]\ncolour = \"red\"\n"
    assert bag(tmp_path, monkeypatch, text).dags["lifeline__acme__config_error"].test().state == "failed"
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "lifeline__acme__config_error")
    assert bag(tmp_path, monkeypatch, text).dag_ids == ["lifeline__acme__config_error"]


@pytest.mark.parametrize(("block", "problems"), [
    ('corp_id = "c"\nagent_idd = 1\n', [
        "plugins.toml: tenants.acme.connectors.dt.agent_idd: extra inputs are not permitted",
        "plugins.toml: tenants.acme.connectors.dt.agent_id: field required"]),
    ('corp_id = "c"\nagent_id = "one"\n', ["plugins.toml: tenants.acme.connectors.dt.agent_id: 'one' is not of type "
                                            "'integer'"]),
    ('corp_id = "c"\nagent_id = 1\nmessage_channel = "fax"\ncalendar_owners = ["u1", 2]\n',
     ["plugins.toml: tenants.acme.connectors.dt.calendar_owners.1: 2 is not of type 'string'",
      "plugins.toml: tenants.acme.connectors.dt.message_channel: 'fax' is not one of ['work_notice', 'robot']"]),
])
def test_a_connector_block_that_breaks_its_settings_schema_fails_only_that_connectors_task(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: str, problems: list[str]) -> None:
    """The manifest carries each connector's settings JSON Schema, so the block is checked at parse time (it
    failed every sync of every tenant at run time before); the tenant's other connectors keep their tasks."""
    text = f'[tenants.acme.connectors.dt]\nplugin = "dingtalk"\n{block}[tenants.acme.connectors.fs]\nplugin = "feishu"'
    dagbag = bag(tmp_path, monkeypatch, f"{GOOD}{text}\n")
    assert (dagbag.import_errors, dagbag.captured_warnings) == ({}, {})
    assert sorted(dagbag.dag_ids) == ["lifeline__acme__reconcile", "lifeline__acme__reminders", "lifeline__acme__sync",
                                      *GOOD_DAGS]
    sync = dagbag.dags["lifeline__acme__sync"]
    assert sorted(sync.task_ids) == ["config_error_dt", "plan_feishu", "sync_feishu"]
    assert failure(dagbag, sync.dag_id, "config_error_dt").splitlines() == problems
    assert all(f"\n{line}\n" in (sync.doc_md or "") for line in problems)
    assert "- `fs` (feishu): " in (sync.doc_md or "") and "- `dt`" not in (sync.doc_md or "")


def test_a_missing_plugins_toml_is_an_import_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LIFELINE_CONFIG", str(tmp_path / "nowhere.toml"))
    [error] = DagBag(dag_folder=str(DAGS)).import_errors.values()
    assert "nowhere.toml: file not found (set LIFELINE_CONFIG for the DAG processor)" in error


def test_fifty_tenants_parse_within_budget_without_loading_plugins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lifeline_hub.core.plugins

    monkeypatch.setattr(lifeline_hub.core.plugins, "get_host", lambda: pytest.fail("plugins loaded at parse time"))
    tenants = "".join(f'[tenants.t{i}.connectors.dt]\nplugin = "dingtalk"\ncorp_id = "c"\nagent_id = {i}\n'
                      f'[tenants.t{i}.connectors.fs]\n'
                      f'plugin = "feishu"\n[tenants.t{i}.connectors.ai]\nplugin = "aiplatform"\n' for i in range(50))
    dagbag = bag(tmp_path, monkeypatch, tenants)
    assert dagbag.import_errors == {} and len(dagbag.dags) == 150
    assert not [t for d in dagbag.dags.values() for t in d.task_ids if t.startswith("config_error")]
    [stat] = dagbag.dagbag_stats
    assert stat.duration < timedelta(seconds=5), stat


def test_layout_groups_instances_by_schedule(tmp_path: Path) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text(CONFIG, encoding="utf-8")
    acme, beta = read(path)
    assert [(g.name, g.schedule, g.plugins) for g in acme.groups] == [("sync", "*/15 * * * *", ["dingtalk", "feishu"])]
    assert [(g.name, [i.key for i in g.instances]) for g in beta.groups] == [("sync", ["ai"]), ("sync_dt", ["dt"])]


def test_run_time_falls_back_to_run_after_without_a_data_interval() -> None:
    at = datetime(2026, 3, 1, 8, 15, tzinfo=UTC)
    run = SimpleNamespace(run_after=at + timedelta(minutes=1))
    assert run_time({"data_interval_end": at, "logical_date": at - timedelta(minutes=15), "dag_run": run}) == at
    assert run_time({"logical_date": at, "dag_run": run}) == at
    assert run_time({"data_interval_end": None, "logical_date": None, "dag_run": run}) == at + timedelta(minutes=1)


def test_a_plugin_without_streams_gets_no_sync_task_that_would_always_be_skipped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """E-mail syncs no stream: its mapped `sync_email` over an empty plan was skipped on every run."""
    mail = ('[tenants.acme.connectors.mail]\nplugin = "email"\nfrom_address = "hr@example.com"\n'
            '[tenants.acme.connectors.fs]\nplugin = "feishu"\n')
    dagbag = bag(tmp_path, monkeypatch, f"{GOOD}{mail}")
    assert (dagbag.import_errors, dagbag.captured_warnings) == ({}, {})
    sync = dagbag.dags["lifeline__acme__sync"]
    assert sorted(sync.task_ids) == ["plan_feishu", "sync_feishu"]
    assert "- `mail` (email): no streams to sync" in (sync.doc_md or "")


def test_the_dag_details_show_the_tenants_display_name_and_time_zone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    named = ('[tenants.acme]\ndisplay_name = "Acme Recruiting"\ntimezone = "Europe/Berlin"\n'
             '[tenants.acme.connectors.ai]\nplugin = "aiplatform"\n')
    dagbag = bag(tmp_path, monkeypatch, f"{named}{GOOD}")
    assert dagbag.import_errors == {}
    for dag in dagbag.dags.values():
        tenant = dag.dag_id.split("__")[1]
        shown, zone = ("Acme Recruiting", "Europe/Berlin") if tenant == "acme" else ("good", "Asia/Shanghai")
        assert dag.description is not None and shown in dag.description and zone in dag.description
        assert (dag.doc_md or "").startswith(f"**{shown}** (tenant `{tenant}`, {zone})")
