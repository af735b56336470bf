"""`lifeline reconcile` and `lifeline evidence`, run for real with the fake connectors installed as a plugin."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from lifeline_hub.core.models import Channel, DeliveryType, LinkEventType
from lifeline_hub.core.store import Store
from tests.conftest import ROOT, run_cli
from tests.reconcile.scenario import MIN, T0, World, config, config_text

NOW = T0 + 2 * timedelta(hours=1)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A plugin distribution (entry point -> tests.reconcile.scenario), a plugins.toml and a SQLite store."""
    site = tmp_path / "site"
    dist = site / "lifeline_reconcile_fakes-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lifeline-reconcile-fakes\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[lifeline]\nreconcile_fakes = tests.reconcile.scenario\n")
    (tmp_path / "plugins.toml").write_text(config_text(), encoding="utf-8")
    path = os.pathsep.join(p for p in (str(site), str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "LIFELINE_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
            "LIFELINE_CONFIG": str(tmp_path / "plugins.toml")}


@pytest.fixture
def world(env: dict[str, str], tmp_path: Path) -> World:
    store = Store(env["LIFELINE_STORE_URL"])
    store.upgrade()
    w = World(store, config(tmp_path / "in-process"))
    came = w.interview("came")
    w.join(came, T0 + MIN, T0 + 55 * MIN)
    missed = w.interview("missed")
    sent = w.notify(missed, T0 - 24 * 60 * MIN, Channel.sms)
    w.receipt(sent, T0 - 24 * 60 * MIN + MIN, DeliveryType.delivered, iv=missed, code="DELIVERED")
    w.link(missed, T0 - 24 * 60 * MIN + 2 * MIN, LinkEventType.open, machine=True)
    w.watermark(NOW)
    return w


def test_reconcile_prints_a_summary_and_reports_stale_streams(world: World, env: dict[str, str]) -> None:
    result = run_cli("reconcile", "--tenant", "acme", "--now", NOW.isoformat(), env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("acme: full reconcile at 2026-03-02T04:00:00+00:00: 2 interviews examined")
    assert lines[1] == "  new outcomes: attended 1, missed_not_reached 1"
    assert "stale" not in result.stdout

    later = run_cli("reconcile", "--tenant", "acme", "--now", (NOW + 3 * 60 * MIN).isoformat(), "--json", env=env)
    assert later.returncode == 0, later.stderr
    summary = json.loads(later.stdout)
    assert summary["full"] is False and summary["decided"] == {}
    assert [s["stream"] for s in summary["stale_streams"]] == ["interviews", "attendance", "notifications", "receipts"]
    assert "warning: stale stream acme.msg:receipts" in later.stderr

    text = run_cli("reconcile", "--tenant", "acme", "--now", (NOW + 3 * 60 * MIN).isoformat(), env=env)
    assert "  stale stream: acme.msg:receipts is complete only up to 2026-03-02T04:00:00+00:00 (180 min behind): " \
        "interviews that need it stay pending" in text.stdout.splitlines()


def test_evidence_prints_the_trail_in_the_tenant_zone(world: World, env: dict[str, str]) -> None:
    assert run_cli("reconcile", "--tenant", "acme", "--now", NOW.isoformat(), env=env).returncode == 0
    table = run_cli("evidence", "acme.ats/missed", env=env)
    assert table.returncode == 0, table.stderr
    assert "acme.ats/missed (video, scheduled, sequence 0): 2026-03-02 10:00 - 2026-03-02 11:00 Asia/Shanghai" \
        in table.stdout
    for shown in ("Evidence trail (Asia/Shanghai)", "2026-03-01 10:00:00 +0800", "sent invite", "delivered",
                  "DELIVERED", "not counted", "outcome v1: missed_not_reached", "delivered_read_unknown"):
        assert shown in table.stdout

    data = json.loads(run_cli("evidence", "acme.ats/missed", "--json", env=env).stdout)
    assert data["timezone"] == "Asia/Shanghai"
    assert [(e["at"], e["event"]) for e in data["trail"]] == [
        ("2026-03-01T10:00:00+08:00", "sent invite"),
        ("2026-03-01T10:01:00+08:00", "delivered"),
        ("2026-03-01T10:02:00+08:00", "link opened"),
        ("2026-03-02T12:00:00+08:00", "outcome v1: missed_not_reached"),
    ]
    assert data["outcomes"][0]["sub_reason"] == "delivered_read_unknown"


def test_errors_are_one_line_with_an_exit_code(world: World, env: dict[str, str]) -> None:
    missing = run_cli("evidence", "acme.ats/nobody", env=env)
    assert missing.returncode == 1 and "no interview 'acme.ats/nobody' in the store" in missing.stderr
    tenant = run_cli("reconcile", "--tenant", "globex", env=env)
    assert tenant.returncode == 2 and "tenant 'globex' is not configured" in tenant.stderr
    bad_now = run_cli("reconcile", "--tenant", "acme", "--now", "2026-03-02 10:00", env=env)
    assert bad_now.returncode == 2 and "--now" in bad_now.stderr


def test_a_pending_interview_says_which_stream_it_waits_for_since_when(world: World, env: dict[str, str]) -> None:
    waiting = world.interview("waiting", start=NOW)
    later = NOW + 3 * 60 * MIN
    for stream in ("acme.ats:interviews", "acme.msg:notifications", "acme.msg:receipts"):
        world.watermark(later, only=stream)  # the meeting's attendance stays complete only up to NOW
    summary = run_cli("reconcile", "--tenant", "acme", "--now", later.isoformat(), env=env)
    assert summary.returncode == 0, summary.stderr
    because = ("acme.meet:attendance is complete only up to 2026-03-02T04:00:00+00:00, behind since then "
               "(needs 2026-03-02T05:30:00+00:00")
    assert "  pending: stream_behind 1" in summary.stdout and f"  pending because {because}" in summary.stdout

    shown = run_cli("evidence", waiting, env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"pending: {because}" in shown.stdout
    data = json.loads(run_cli("evidence", waiting, "--json", env=env).stdout)
    assert data["pending_because"][0].startswith(because)
