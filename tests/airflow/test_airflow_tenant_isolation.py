"""At run time a DAG task reads its own tenant: another tenant's broken table (the DAG file shows it as that
tenant's failing placeholder) does not fail this tenant's tasks, nor a sibling connector block a sync task."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_tinyats import host as tinyats_host
from airflow_tinyats import write_config

import lifeline_hub.core.plugins
from lifeline_hub.core.airflow import tasks
from lifeline_hub.core.config import ConfigError, load

BROKEN_TENANT = '\n[tenants.broken.connectors.x]\nplugin = "nosuch"\n'
BAD_SIBLING = '\n[tenants.acme.connectors.other]\nplugin = "tinyats"\nsetting_nobody_has = 1\n'


def test_a_tenants_tasks_run_while_another_tenant_is_broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, "http://127.0.0.1:9")
    path.write_text(path.read_text(encoding="utf-8") + BROKEN_TENANT, encoding="utf-8")
    monkeypatch.setattr(lifeline_hub.core.plugins, "get_host", tinyats_host)
    monkeypatch.setenv("AIRFLOW_VAR_LIFELINE_POOLS", '["lifeline_tinyats"]')
    assert tasks.plan_sync(str(path), "acme", ["ats"]) == [{"instance": "acme.ats", "stream": "interviews"}]
    with pytest.raises(ConfigError, match=r"tenants\.broken\.connectors\.x\.plugin: unknown connector plugin"):
        tasks.plan_sync(str(path), "broken", ["x"])
    with pytest.raises(ConfigError, match="nosuch"):  # the whole file, as `lifeline check` reads it
        load(path, tinyats_host())


def test_a_sync_task_passes_over_its_sibling_blocks_problems(tmp_path: Path) -> None:
    path = write_config(tmp_path, "http://127.0.0.1:9")
    path.write_text(path.read_text(encoding="utf-8") + BAD_SIBLING, encoding="utf-8")
    config = load(path, tinyats_host(), "acme", "ats")
    assert "acme.ats" in config.setups and "acme.other" not in config.setups
    with pytest.raises(ConfigError, match=r"tenants\.acme\.connectors\.other\.setting_nobody_has"):
        load(path, tinyats_host(), "acme")
