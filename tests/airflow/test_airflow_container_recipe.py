"""The container recipe's steps (deploy/build-steps.sh, which deploy/Dockerfile runs on the official Airflow image)
in a fresh venv that holds only Airflow, as the image does: Lifeline from a wheel of this checkout plus a
third-party plugin, the DAG file in the DAGs folder, the plugin manifest, and a DagBag without import errors.
About a minute and a half (pip fetches Airflow's and Lifeline's dependencies, pinned by constraints.txt)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

CONSTRAINTS = ROOT / "constraints.txt"
TEST_DIST = ROOT / "tests" / "plugins" / "lifeline-testplugins"
PIP = ["-m", "pip", "install", "-q", "--disable-pip-version-check"]
BAG = ("import json; from airflow.dag_processing.dagbag import DagBag; "
       "bag = DagBag(dag_folder={folder!r}); "
       "print(json.dumps({{'errors': bag.import_errors, 'dags': sorted(bag.dag_ids)}}))")


def wheel(tmp_path: Path) -> Path:
    """A wheel of this checkout, built from a copy (no stale build/ of the checkout in it)."""
    source = tmp_path / "src"
    for name in ("core", "connectors", "lifeline_hub"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True, timeout=300)
    [built] = (tmp_path / "dist").glob("lifeline_hub-*.whl")
    return built


def airflow_only_venv(tmp_path: Path, airflow_version: str) -> Path:
    """A fresh venv with Airflow alone (what the official image brings), from this interpreter's base Python."""
    venv = tmp_path / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)], check=True,
                   timeout=120)
    subprocess.run([str(venv / "bin" / "python"), *PIP, "-c", str(CONSTRAINTS), f"apache-airflow=={airflow_version}"],
                   check=True, capture_output=True, timeout=600, cwd=tmp_path)
    return venv


def test_the_recipe_steps_install_lifeline_plugins_manifest_and_dag_file_into_an_airflow(tmp_path: Path) -> None:
    from importlib.metadata import version

    airflow_version = version("apache-airflow")
    built = wheel(tmp_path)
    venv = airflow_only_venv(tmp_path, airflow_version)
    home = tmp_path / "airflow"
    config = tmp_path / "etc" / "lifeline" / "plugins.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LIFELINE", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", AIRFLOW_HOME=str(home),
               AIRFLOW_VERSION=airflow_version, LIFELINE_CONFIG=str(config), LIFELINE_SOURCE=str(built),
               LIFELINE_PLUGINS=str(TEST_DIST), LIFELINE_CONSTRAINTS=str(CONSTRAINTS))
    steps = subprocess.run(["bash", str(ROOT / "deploy" / "build-steps.sh")], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=600, check=False)
    assert steps.returncode == 0, steps.stderr[-3000:]

    python = str(venv / "bin" / "python")
    where = subprocess.run([python, "-c", "import lifeline_hub, airflow; print(lifeline_hub.__path__[0]); "
                            "print(airflow.__version__)"], capture_output=True, text=True, env=env, cwd=tmp_path,
                           timeout=120, check=True).stdout.splitlines()
    assert where[0].startswith(str(venv)) and where[-1] == airflow_version  # installed there; Airflow kept as is
    dag_file = home / "dags" / "lifeline_dags.py"
    assert "dags.generate(dag_file.config())" in dag_file.read_text(encoding="utf-8")
    assert config.read_text(encoding="utf-8").startswith("# Lifeline configuration for an existing Airflow")
    manifest = json.loads((home / "lifeline-plugins.json").read_text(encoding="utf-8"))
    assert manifest["python"].startswith(str(venv))
    plugins = {p["name"]: p for p in manifest["plugins"]}
    assert {"dingtalk", "feishu", "aliyun_sms", "email"} <= plugins.keys()
    assert (plugins["greeter"]["distribution"], plugins["greeter"]["status"]) == ("lifeline-testplugins", "loaded")
    assert plugins["broken_import"]["status"] == "failed"  # recorded with its error: the DAG file names it

    bag = subprocess.run([python, "-c", BAG.format(folder=str(home / "dags"))], capture_output=True, text=True,
                         env={**env, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}, cwd=tmp_path, timeout=300, check=False)
    assert bag.returncode == 0, bag.stderr[-3000:]
    parsed = json.loads(bag.stdout.splitlines()[-1])
    assert parsed == {"errors": {}, "dags": ["lifeline__acme__reconcile", "lifeline__acme__reminders",
                                            "lifeline__acme__sync"]}


def test_the_dockerfile_is_the_official_image_of_the_pinned_airflow_running_those_steps() -> None:
    from importlib.metadata import version

    lines = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8").splitlines()
    pinned = next(line for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines()
                  if line.startswith("apache-airflow=="))
    assert pinned == f"apache-airflow=={version('apache-airflow')}"  # the tests run on the image's Airflow
    assert f"ARG AIRFLOW_VERSION={pinned.split('==')[1]}" in lines
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python3.11" in lines
    assert "    bash /opt/lifeline/src/deploy/build-steps.sh" in lines  # the steps the test above runs
