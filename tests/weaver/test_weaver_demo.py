"""`lifeline demo --tenant sandbox_weaver` run for real on the sample plugins.toml, on free ports: HR on Weaver
e-cology (approval workflows, unified todos, message-center notices), candidates by SMS and e-mail. A small fixed
world: no duplicates, no false "missed", HR's todos worked and reschedule requests decided in the OA."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import BIN, ROOT

WORLD = ("--tenant", "sandbox_weaver", "--interviews", "24", "--days", "3", "--seed", "4",
         "--start", "2026-03-02T00:00:00Z")


def test_the_weaver_tenant_runs_without_duplicates_or_false_alarms(tmp_path: Path) -> None:
    run = subprocess.run(
        [str(BIN / "lifeline"), "--config", str(ROOT / "plugins.toml"), "demo", *WORLD, "--free-ports",
         "--store", str(tmp_path / "demo.db"), "--json", str(tmp_path / "demo.json")],
        cwd=tmp_path, capture_output=True, text=True, timeout=1200, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "demo.json").read_text(encoding="utf-8"))
    assert (report["tenant"], report["hr_platform"]) == ("sandbox_weaver", "Weaver e-cology")
    assert (report["duplicates"], report["false_missed"], report["quota_breaches"]) == (0, 0, 0)
    people = report["people"]
    assert report["hr_tasks"] > 0 and people["hr_todos_done"] > 0  # HR opened the todos and followed their links
    assert report["approvals"] > 0 and people["approvals_agreed"] + people.get("approvals_refused", 0) > 0
    assert "an HR task in Weaver e-cology" in run.stdout
    assert (tmp_path / "var" / "weaver-registration.json").exists()  # registered once, kept for the next run
