"""DAG parse time of `dags/` with 50 tenants, as a multiple of a trivial one-task DAG file (goal <= 3).

Both folders are parsed the same way, as a task process or `airflow dags list` does: a fresh
Python process imports Airflow and fills a `DagBag` from the folder (and fails unless it got DAGs
and no import error). Runs alternate between the two; the ratio is of the best times (the least
disturbed by other load on the machine).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"
TENANTS = 50
TRIVIAL = """\
from datetime import datetime, timezone

from airflow.sdk import DAG, task

with DAG("trivial", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):
    @task
    def noop() -> None: ...

    noop()
"""
PARSE = """\
import sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
sys.exit(0 if bag.dags and not bag.import_errors else f"{len(bag.dags)} dags, errors: {bag.import_errors}")
"""


def _config(tenants: int) -> str:
    """Each tenant: DingTalk, Feishu and the AI platform, as in a typical deployment."""
    return "".join(
        f'[tenants.t{i}.connectors.dt]\nplugin = "dingtalk"\nconnection_id = "dingtalk_t{i}"\n'
        f'[tenants.t{i}.connectors.fs]\nplugin = "feishu"\nconnection_id = "feishu_t{i}"\n'
        f'[tenants.t{i}.connectors.ai]\nplugin = "aiplatform"\nconnection_id = "aiplatform_t{i}"\n'
        for i in range(tenants))


def _parse(folder: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", PARSE, str(folder)], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def run(quick: bool) -> dict[str, float]:
    rounds = 3 if quick else 7
    with tempfile.TemporaryDirectory(prefix="bench-airflow-") as tmp:
        root = Path(tmp)
        (root / "plugins.toml").write_text(_config(TENANTS), encoding="utf-8")
        (root / "trivial").mkdir()
        (root / "trivial" / "trivial_dag.py").write_text(TRIVIAL, encoding="utf-8")
        env = {**os.environ, "AIRFLOW_HOME": str(root / "home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
               "LIFELINE_CONFIG": str(root / "plugins.toml"), "LIFELINE_PLUGIN_MANIFEST": str(root / "plugins.json")}
        # the deploy step: the DAG file checks plugins.toml against the manifest (not timed)
        subprocess.run([str(Path(sys.executable).parent / "lifeline"), "plugins", "--manifest"], env=env, check=True,
                       capture_output=True)
        ours, trivial = [], []
        for _ in range(rounds):
            ours.append(_parse(DAGS, env))
            trivial.append(_parse(root / "trivial", env))
    return {"dag_parse_vs_trivial": min(ours) / min(trivial)}
