"""Airflow's test environment, set before the first `import airflow` (Airflow reads its config then).

Only the tests under tests/airflow import Airflow. The environment they change (Airflow's task
runner exports `AIRFLOW_CTX_*`, which `lifeline_hub.core.connections` reads) is restored after each test so the
rest of the suite, run in the same process, never sees it. The plugin manifest of the installed
plugins is written where the DAG file looks by default, `$AIRFLOW_HOME/lifeline-plugins.json`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

if "airflow.configuration" in sys.modules:
    raise RuntimeError("Airflow was imported before tests/airflow/conftest.py could point it at a test home")

ROOT = Path(__file__).resolve().parents[2]
TEST_DIST = ROOT / "tests" / "plugins" / "lifeline-testplugins"
_HOME = Path(tempfile.mkdtemp(prefix="lifeline-airflow-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ.update({
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
})


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh Airflow metadata DB (SQLite) for `dag.test()`; about a second."""
    from airflow.utils import db

    db.resetdb(skip_init=False)


@pytest.fixture(scope="session", autouse=True)
def plugin_manifest() -> Path:
    """The manifest of the installed plugins (the built-ins), as `lifeline plugins --manifest` writes it."""
    from lifeline_hub.core.airflow import manifest
    from lifeline_hub.core.plugins import PluginHost

    return manifest.write(PluginHost().load_entry_points(), _HOME / manifest.FILE_NAME)


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The third-party test plugins (one good, several broken) `pip install`ed into a directory of their own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(TEST_DIST)],
                   check=True, capture_output=True, timeout=300)
    return target

