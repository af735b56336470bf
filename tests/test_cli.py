"""The `lifeline` command run for real: schema creation on both databases."""

from __future__ import annotations

import sqlalchemy as sa

from core.connector import Malformed
from core.store import Store
from tests.conftest import run_cli


def test_db_upgrade_creates_the_schema_and_status_reports_it(db_url: str) -> None:
    before = run_cli("db", "status", "--url", db_url)
    assert before.returncode == 1 and "run `lifeline db upgrade`" in before.stderr
    upgraded = run_cli("db", "upgrade", "--url", db_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "is at revision" in upgraded.stdout
    status = run_cli("db", "status", "--url", db_url)
    assert status.returncode == 0, status.stderr
    assert "evidence: 0 rows" in status.stdout
    assert "quarantine: 0 rows (bad records, met 0 times)" in status.stdout
    store = Store(db_url)
    try:  # a bad record met by three syncs is one row, met three times
        for _ in range(3):
            store.quarantine("acme", "acme.dt", "receipts", [Malformed(reason="userid: field required", payload={})])
    finally:
        store.engine.dispose()
    status = run_cli("db", "status", "--url", db_url)
    assert "quarantine: 1 rows (bad records, met 3 times)" in status.stdout, status.stdout
    engine = sa.create_engine(db_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"interviews", "evidence", "sync_state", "quarantine", "outcomes", "actions", "alembic_version"} <= tables
