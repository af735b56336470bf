"""The DAG tasks that store contact hashes or sign and send HR links (sync, remediate, dispatch) run a real
tenant only with a real LIFELINE_HASH_KEY, fail at once without one, and run a sandbox tenant with a warning."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import RetryAction

from lifeline_hub.core.airflow import tasks
from lifeline_hub.core.airflow.retry import VendorRetryPolicy
from lifeline_hub.core.config import ConfigError
from lifeline_hub.core.store import Store

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
REFUSED = ("LIFELINE_HASH_KEY is not set: HR links would be signed with the public development key; set a secret "
           "of at least 32 bytes (only tenants marked `sandbox = true` in plugins.toml may run without one; not: acme)")


def config(tmp_path: Path, store: Store) -> str:
    path = tmp_path / "plugins.toml"
    path.write_text(f'[lifeline]\nstore = "{store.url}"\n\n[tenants.acme]\n\n[tenants.sandbox]\nsandbox = true\n',
                    encoding="utf-8")
    return str(path)


Task = Callable[[str, str], Any]
KEYED: dict[str, Task] = {
    "sync": lambda path, tenant: tasks.sync(path, f"{tenant}.ats", "interviews"),
    "remediate": lambda path, tenant: tasks.remediate(path, tenant, NOW),
    "dispatch": tasks.dispatch,
}


@pytest.mark.parametrize("name", KEYED)
def test_a_real_tenant_s_task_fails_at_once_without_a_key(tmp_path: Path, store: Store, name: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIFELINE_HASH_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        KEYED[name](config(tmp_path, store), "acme")
    assert info.value.problems == [REFUSED]
    assert VendorRetryPolicy().evaluate(info.value, try_number=1, max_tries=4).action is RetryAction.FAIL


def test_a_sandbox_tenant_s_tasks_run_with_a_warning(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("LIFELINE_HASH_KEY", raising=False)
    path = config(tmp_path, store)
    with caplog.at_level(logging.WARNING, logger="lifeline_hub.core.airflow.tasks"):
        assert tasks.remediate(path, "sandbox", NOW)["planned"] == 0
        assert tasks.dispatch(path, "sandbox")["claimed"] == 0
    assert [r.getMessage() for r in caplog.records] == [
        "LIFELINE_HASH_KEY is not set: HR links would be signed with the public development key; allowed for "
        "sandbox tenant sandbox only, never with real people"] * 2
    monkeypatch.setenv("LIFELINE_HASH_KEY", "airflow-test-key-0123456789abcdefghij")
    assert tasks.dispatch(path, "acme")["claimed"] == 0
