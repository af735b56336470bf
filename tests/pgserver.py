"""A throw-away PostgreSQL server on loopback, for the test session and the drill (`make drill`).

    with postgres_server() as url:        # postgresql+psycopg://lifeline@127.0.0.1:<port>
        database = create_database(url)   # a fresh, empty database on it: <url>/<name>
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from lifeline_hub.core.emulator import free_port


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: `make test` and `make drill` "
                       "install them; or run `apt-get install postgresql`")


@contextlib.contextmanager
def postgres_server(max_connections: int = 100) -> Iterator[str]:
    """Start a cluster in a temp dir (as the `postgres` user when run as root); yields a URL without a database."""
    bindir = _bindir()
    tmp = Path(tempfile.mkdtemp(prefix="lifeline-pg-"))
    port = free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        shutil.chown(tmp, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log = tmp / "data", tmp / "server.log"
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "lifeline",
                    "-E", "UTF8", "--locale", "C", "--no-sync"], check=True, capture_output=True)
    options = (f"-h 127.0.0.1 -p {port} -k {tmp} -F -c fsync=off -c full_page_writes=off "
               f"-c max_connections={max_connections}")
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log),
                    "-w", "-t", "60", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://lifeline@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def create_database(server: str) -> str:
    """A fresh, empty database on `server`; returns its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return f"{server}/{name}"


def drop_database(url: str) -> None:
    server, _, name = url.rpartition("/")
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
