"""`lifeline demo` over many seeds: how often Lifeline names the right cause of a missed interview.

Each run is the CLI on the sample plugins.toml, on free ports, with the demo's default vendor faults,
from one fixed start (a run is a function of its seed and start, so the sweep is repeatable); two
runs go at a time (they mostly wait out the faults' back-offs). Printed, over all runs:
- `demo_cause_accuracy`: share of the decided misses (really missed, decided as a miss) whose cause is right;
- `demo_decided_misses`: how many that is (misses Lifeline leaves `unknown` are not decided);
- `demo_false_missed`, `demo_duplicates`, `demo_quota_breaches`: summed (goal 0 each);
- `demo_undecided`: interviews without a decision when the run ends (goal 0);
- `demo_detection_latency_p95_minutes`: the worst run's p95 from window-plus-grace to decision;
- `demo_seconds_per_run`: the median wall-clock time of one run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LIFELINE = Path(sys.executable).parent / "lifeline"
START = "2026-03-02T00:00:00Z"
"""A Monday, 08:00 in Beijing: the interviews fall on the working days after it."""
INTERVIEWS, DAYS = 24, 3
MISSED = ("missed_technical", "missed_declined", "missed_read_no_show", "missed_not_reached")


def demo(seed: int, folder: Path) -> tuple[dict[str, Any], float]:
    """One run's JSON report and its wall-clock seconds."""
    report = folder / f"demo-{seed}.json"
    started = time.perf_counter()
    done = subprocess.run(
        [str(LIFELINE), "--config", str(ROOT / "plugins.toml"), "demo", "--free-ports", "--start", START,
         "--interviews", str(INTERVIEWS), "--days", str(DAYS), "--seed", str(seed),
         "--store", str(folder / f"demo-{seed}.db"), "--json", str(report)],
        capture_output=True, text=True, check=False, cwd=ROOT)
    if not report.exists():  # exit 1 with a report is a run that found duplicates or false alarms: counted below
        raise RuntimeError(f"demo seed {seed} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(report.read_text(encoding="utf-8")), time.perf_counter() - started


def run(quick: bool) -> dict[str, float]:
    seeds = range(1, 3 if quick else 11)
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp, ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda seed: demo(seed, Path(tmp)), seeds))
    right = decided = 0
    for report, _ in results:
        for truth in MISSED:
            row = report["confusion"].get(truth, {})
            right += row.get(truth, 0)
            decided += sum(n for got, n in row.items() if got in MISSED)
    reports = [report for report, _ in results]
    return {
        "demo_runs": len(reports),
        "demo_cause_accuracy": right / decided if decided else float("nan"),
        "demo_decided_misses": decided,
        "demo_false_missed": sum(r["false_missed"] for r in reports),
        "demo_duplicates": sum(r["duplicates"] for r in reports),
        "demo_quota_breaches": sum(r["quota_breaches"] for r in reports),
        "demo_undecided": sum(row.get("undecided", 0) for r in reports for row in r["confusion"].values()),
        "demo_detection_latency_p95_minutes": max(r["detection_latency_p95_minutes"] for r in reports),
        "demo_seconds_per_run": statistics.median(seconds for _, seconds in results),
    }
