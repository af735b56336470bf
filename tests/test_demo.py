"""`lifeline demo` run for real on the sample plugins.toml: simulated days, the real pipeline, the truth compared."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ROOT, run_cli

MISSED = ("missed_technical", "missed_declined", "missed_read_no_show", "missed_not_reached")


def test_the_demo_runs_the_pipeline_over_simulated_days_without_false_alarms_or_duplicates(tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    result = run_cli("--config", str(ROOT / "plugins.toml"), "demo", "--interviews", "24", "--days", "3",
                     "--seed", "3", "--store", str(tmp_path / "demo.db"), "--json", str(out), timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report) >= {"interviews", "confusion", "false_missed", "duplicates", "quota_breaches", "api_calls",
                           "hr_tasks", "detection_latency_p95_minutes"}
    assert report["interviews"] == sum(n for row in report["confusion"].values() for n in row.values()) == 24
    assert (report["duplicates"], report["false_missed"], report["quota_breaches"]) == (0, 0, 0)
    confusion = report["confusion"]
    for truth, decided in confusion.items():  # no real attendance is ever called a miss, and no miss an attendance
        assert not any(d.startswith("missed") for d in decided) or not truth.startswith("attended"), confusion
        assert not any(d.startswith("attended") for d in decided) or not truth.startswith("missed"), confusion
    decided_misses = {d: n for truth in MISSED for d, n in confusion.get(truth, {}).items() if d.startswith("missed")}
    right = sum(confusion.get(truth, {}).get(truth, 0) for truth in MISSED)
    assert right >= 0.6 * sum(decided_misses.values()) > 0, confusion  # why it was missed, mostly right
    assert report["hr_tasks"] > 0 and report["api_calls"] > 100
    assert report["candidate_messages"]["sms"] > 0 and report["staff_messages"] > 0
    people = report["people"]
    assert people["joined"] > 0 and people["read_sms"] > 0 and people["interviewer_reads"] > 0
    assert "Lifeline's decisions vs what really happened" in result.stdout and "an HR todo in DingTalk" in result.stdout
