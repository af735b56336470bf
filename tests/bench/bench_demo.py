"""`lifeline demo` over many seeds: how often Lifeline names the right cause of a missed interview.

Each run is the CLI on the sample plugins.toml, on free ports, with the demo's default vendor faults,
from one fixed start (a run is a function of its seed and start, so the sweep is repeatable); two
runs go at a time (on two cores: a vendor's stall or a retry's back-off costs simulated time, not real time).
Printed, over all runs:
- `demo_cause_accuracy`: share of the decided misses (really missed, decided as a miss) whose cause is right
  (goal >= 0.95);
- `demo_decided_misses`: how many that is (misses Lifeline leaves `unknown` are not decided);
- `demo_read_unknown_misses`: of the wrong causes, those where a candidate read a message on a channel that cannot
  report reads (SMS) and Lifeline said "delivered, read unknown" (`missed_not_reached`, `delivered_read_unknown`);
- `demo_unknown_share`: share of all interviews decided `unknown` (goal <= 0.05);
- `demo_false_missed`, `demo_duplicates`, `demo_quota_breaches`: summed (goal 0 each);
- `demo_undecided`: interviews without a decision when the run ends (goal 0);
- `demo_detection_latency_p95_minutes`: the worst run's p95 from window-plus-grace to decision;
- `demo_seconds_per_run`: the median wall-clock time of one run;
- `demo_mistakes`: every interview decided otherwise than it happened, as `seed:interview really->decided
  (sub-reason)`, for the rules' owners;
- `demo_seconds_400x5` (not with --quick): wall-clock seconds of one 400-interview, 5-day run at vendor faults 0.1
  (goal <= 300 on a 2-core machine: vendor stalls and back-offs cost simulated time only).
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


def demo(seed: int, folder: Path, size: tuple[int, int] = (INTERVIEWS, DAYS),
         faults: tuple[str, ...] = ()) -> tuple[dict[str, Any], float]:
    """One run's JSON report and its wall-clock seconds (`size`: interviews and days; `faults`: e.g. `--faults 0.1`)."""
    report = folder / f"demo-{seed}-{size[0]}x{size[1]}.json"
    started = time.perf_counter()
    done = subprocess.run(
        [str(LIFELINE), "--config", str(ROOT / "plugins.toml"), "demo", "--free-ports", "--start", START,
         "--interviews", str(size[0]), "--days", str(size[1]), "--seed", str(seed), *faults,
         "--store", str(folder / f"demo-{seed}-{size[0]}x{size[1]}.db"), "--json", str(report)],
        capture_output=True, text=True, check=False, cwd=ROOT)
    if not report.exists():  # exit 1 with a report is a run that found duplicates or false alarms: counted below
        raise RuntimeError(f"demo seed {seed} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(report.read_text(encoding="utf-8")), time.perf_counter() - started


def run(quick: bool) -> dict[str, float | str]:
    seeds = range(1, 3 if quick else 11)
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp, ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda seed: demo(seed, Path(tmp)), seeds))
        big = None if quick else demo(1, Path(tmp), (400, 5), ("--faults", "0.1"))
    right = decided = 0
    for report, _ in results:
        for truth in MISSED:
            row = report["confusion"].get(truth, {})
            right += row.get(truth, 0)
            decided += sum(n for got, n in row.items() if got in MISSED)
    reports = [report for report, _ in results]
    interviews = sum(r["interviews"] for r in reports)
    figures: dict[str, float | str] = {
        "demo_runs": len(reports),
        "demo_cause_accuracy": right / decided if decided else float("nan"),
        "demo_decided_misses": decided,
        "demo_read_unknown_misses": sum(1 for r in reports for m in r["mistakes"]
                                        if m["really"] == "missed_read_no_show"
                                        and m["sub_reason"] == "delivered_read_unknown"),
        "demo_unknown_share": sum(row.get("unknown", 0) for r in reports for row in r["confusion"].values())
        / interviews,
        "demo_false_missed": sum(r["false_missed"] for r in reports),
        "demo_duplicates": sum(r["duplicates"] for r in reports),
        "demo_quota_breaches": sum(r["quota_breaches"] for r in reports),
        "demo_undecided": sum(row.get("undecided", 0) for r in reports for row in r["confusion"].values()),
        "demo_detection_latency_p95_minutes": max(r["detection_latency_p95_minutes"] for r in reports),
        "demo_seconds_per_run": statistics.median(seconds for _, seconds in results),
        "demo_mistakes": "; ".join(f"{r['seed']}:{m['interview']} {m['kind']} {m['really']}->{m['decided']}"
                                   + (f" ({m['sub_reason']})" if m["sub_reason"] else "")
                                   for r in reports for m in r["mistakes"]) or "none",
    }
    if big is not None:
        figures["demo_seconds_400x5"] = big[1]
        figures["demo_400x5_false_missed"] = big[0]["false_missed"]
    return figures
