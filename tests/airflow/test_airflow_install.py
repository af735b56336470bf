"""Installing into an existing Airflow: the shipped DAG file and sample config, the `airflow` extra's range, and
what a task says when the store was never migrated."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from importlib.metadata import requires, version
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import RetryAction
from packaging.requirements import Requirement

from lifeline_hub.core.airflow import dag_file, tasks
from lifeline_hub.core.airflow.retry import VendorRetryPolicy
from lifeline_hub.core.store.store import StoreNotMigrated
from tests.conftest import ROOT, run_cli

SAMPLE_DAGS = ["lifeline__acme__reconcile", "lifeline__acme__reminders", "lifeline__acme__sync"]


def install(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "etc" / "plugins.toml"
    return run_cli("airflow", "install-dags", str(tmp_path / "dags"), "--config", str(config), *extra, cwd=tmp_path)


def test_the_installed_dag_file_reads_lifeline_config_and_needs_no_repository(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done = install(tmp_path)
    assert done.returncode == 0, done.stderr
    installed = tmp_path / "dags" / "lifeline_dags.py"
    assert "parents[1]" not in installed.read_text(encoding="utf-8")
    monkeypatch.setenv("LIFELINE_CONFIG", str(tmp_path / "etc" / "plugins.toml"))
    bag = DagBag(dag_folder=str(tmp_path / "dags"))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == SAMPLE_DAGS
    assert bag.dags["lifeline__acme__sync"].fileloc == str(installed)


def test_the_installed_dag_file_without_lifeline_config_is_an_import_error_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert install(tmp_path).returncode == 0
    monkeypatch.delenv("LIFELINE_CONFIG", raising=False)
    bag = DagBag(dag_folder=str(tmp_path / "dags"))
    [error] = bag.import_errors.values()
    assert "LIFELINE_CONFIG is not set: set it to the path of plugins.toml" in error
    assert bag.dag_ids == []


def test_install_dags_keeps_existing_files_unless_forced(tmp_path: Path) -> None:
    assert install(tmp_path).returncode == 0
    config = tmp_path / "etc" / "plugins.toml"
    config.write_text("# mine\n", encoding="utf-8")
    refused = install(tmp_path)
    assert refused.returncode == 1
    assert "lifeline_dags.py exists; pass --force to overwrite it" in refused.stderr
    assert config.read_text(encoding="utf-8") == "# mine\n"
    assert install(tmp_path, "--force").returncode == 0
    assert config.read_text(encoding="utf-8") == dag_file.sample_config()


def test_the_repository_dag_file_is_the_template_with_the_repository_fallback() -> None:
    repo = (ROOT / "dags" / "lifeline_dags.py").read_text(encoding="utf-8")
    assert repo == dag_file.source(dag_file.REPOSITORY_DEFAULT), (
        "regenerate dags/lifeline_dags.py from lifeline_hub.core.airflow.dag_file.source(REPOSITORY_DEFAULT)")


def test_the_wheel_ships_the_dag_file_module_and_the_sample_config(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a copy: no stale build/ of the checkout can supply a file the build would miss
    for name in ("core", "connectors", "lifeline_hub"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True, timeout=300)
    [wheel] = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"lifeline_hub/core/airflow/dag_file.py", "lifeline_hub/core/airflow/plugins.sample.toml"} <= set(names)


def test_the_airflow_extra_is_a_range_holding_the_tested_version() -> None:
    [extra] = [Requirement(r) for r in requires("lifeline-hub") or [] if 'extra == "airflow"' in r]
    assert extra.name == "apache-airflow"
    assert {spec.operator for spec in extra.specifier} == {">=", "<"}
    assert version("apache-airflow") in extra.specifier  # constraints.txt pins the tested one
    assert "3.2.2" not in extra.specifier  # the DAGs' retry_policy needs Airflow 3.3


def test_a_dag_task_on_a_store_never_migrated_fails_at_once_saying_run_db_upgrade(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text(f'[lifeline]\nstore = "{db_url}"\n\n[tenants.sandbox]\nsandbox = true\n', encoding="utf-8")
    with pytest.raises(StoreNotMigrated) as info:
        tasks.reconcile(str(path), "sandbox", datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    assert "run `lifeline db upgrade`" in str(info.value)
    assert VendorRetryPolicy().evaluate(info.value, try_number=1, max_tries=4).action is RetryAction.FAIL
