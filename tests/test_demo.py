"""`lifeline demo` run for real on the sample plugins.toml: the pipeline must get the truth right."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ROOT, run_cli


def test_demo_finds_every_miss_without_false_alarms_or_duplicates(tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    result = run_cli("--config", str(ROOT / "plugins.toml"), "demo", "--interviews", "16", "--seed", "3",
                     "--store", str(tmp_path / "demo.db"), "--json", str(out))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report) >= {"interviews", "confusion", "false_missed", "duplicates", "quota_breaches", "api_calls",
                           "hr_tasks", "detection_latency_p95_minutes"}
    assert report["interviews"] == 16
    assert (report["duplicates"], report["false_missed"]) == (0, 0)
    quarantined = 0
    for truth, decided in report["confusion"].items():
        quarantined += decided.pop("quarantined", 0)  # garbled by an injected fault: kept with its reason
        assert decided == {truth: sum(decided.values())}, report["confusion"]
    assert quarantined <= report["quarantined"]
    missed = sum(n for truth, row in report["confusion"].items() if truth != "attended" for n in row.values())
    assert report["hr_tasks"] >= missed > 0
    assert "Outcomes vs ground truth" in result.stdout
