"""Shared fixtures: real SQLite files and a real PostgreSQL server started for the session."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from lifeline_hub.core.store import Store
from tests.pgserver import create_database, drop_database, postgres_server

ROOT = Path(__file__).resolve().parents[1]

settings.register_profile("lifeline", derandomize=True, database=None, deadline=None)
settings.load_profile("lifeline")  # property tests draw the same examples on every run: a suite that never flakes


@pytest.fixture(autouse=True)
def _log_record_factory() -> Iterator[None]:
    """Each test gets the log-record factory it started with: a command run in-process installs Lifeline's
    redaction (process-wide), and a later test must not find it installed by whichever test ran before."""
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on loopback; yields a server URL without a database name."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server."""
    url = create_database(pg_server)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lifeline.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lifeline.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    s.upgrade()
    yield s
    s.engine.dispose()


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `lifeline` console script for real."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(BIN / "lifeline"), *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd or ROOT, timeout=timeout, check=False)

