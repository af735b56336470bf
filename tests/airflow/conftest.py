"""Airflow's test environment, set before the first `import airflow` (Airflow reads its config then).

Only the tests under tests/airflow import Airflow. The environment they change (Airflow's task
runner exports `AIRFLOW_CTX_*`, which `core.connections` reads) is restored after each test so the
rest of the suite, run in the same process, never sees it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

if "airflow.configuration" in sys.modules:
    raise RuntimeError("Airflow was imported before tests/airflow/conftest.py could point it at a test home")

ROOT = Path(__file__).resolve().parents[2]
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
