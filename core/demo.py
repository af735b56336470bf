"""`lifeline demo`: the real pipeline against the built-in vendor emulators, with known ground truth.

The vendors are emulated on loopback (the ports `plugins.toml` names); everything else is real:
the connectors talk HTTP to the emulators, the store is a SQLite file, and sync, reconcile,
remediation and dispatch are the same functions Airflow and the CLI run. A seeded population of
AI-interview invitations behaves like candidates do (finish, open and walk away, fail to join,
never open); the platform's clock then moves past every deadline, and the pipeline must say who
missed and why, and create each HR task exactly once, twice over.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from core.airflow.standalone import serve_emulators
from core.config import Config
from core.emulator import Faults
from core.plugins import PluginHost
from core.store import Store, schema
from core.sync import build_connector, sync_stream

PAST = timedelta(hours=80)
MAX_PASSES = 6
TRUTHS = ("attended", "missed_technical", "missed_read_no_show", "missed_not_reached")
WEIGHTS = (0.55, 0.15, 0.15, 0.15)
HR = {"userid": "hr01", "union_id": "unionhr01", "name": "HR Wang"}


@dataclass
class DemoReport:
    interviews: int = 0
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    false_missed: int = 0
    duplicates: int = 0
    quota_breaches: int = 0
    api_calls: int = 0
    hr_tasks: int = 0
    quarantined: int = 0
    detection_latency_p95_minutes: float = 0.0
    faults_injected: dict[str, int] = field(default_factory=dict)
    samples: list[dict[str, str]] = field(default_factory=list)
    """A few HR todos as HR sees them in DingTalk (subject and description)."""


def _world(servers: list[Any], config: Config, plugin: str) -> Any:
    for setup in config.instances():
        if setup.config.plugin == plugin:
            port = next(iter(setup.instance.base_urls.values())).split(":")[2].split("/")[0]
            return next(s.app.state.world for s in servers if str(s.port) == port)
    raise LookupError(f"the demo config has no {plugin} instance")


def _seed(platform: Any, rng: random.Random, n: int) -> dict[str, str]:
    """Invite `n` candidates and let each behave per a drawn ground truth; returns invitation -> truth."""
    truth: dict[str, str] = {}
    for i in range(n):
        kind = rng.choices(TRUTHS, WEIGHTS)[0]
        inv = platform.invite(f"Candidate {i:03d}", email=f"candidate{i:03d}@example.com", window_hours=48,
                              external_ref=f"req-{i:03d}")
        iid = inv["id"]
        truth[iid] = kind
        platform.advance(rng.randint(60, 3600))
        if kind == "attended":
            platform.start(iid)
            platform.advance(rng.randint(600, 1800))
            platform.submit(iid)
        elif kind == "missed_technical":
            platform.open_link(iid)
            platform.technical(iid, "join_error", "NETWORK_ERROR")
            platform.technical(iid, "device_check_failed", "CAMERA_BLOCKED")
        elif kind == "missed_read_no_show":
            platform.open_link(iid)
    return truth


def run(config: Config, host: PluginHost, store_path: Path, n: int, seed: int, faults: float,
        console: Console) -> DemoReport:
    tenant = next(iter(config.data.tenants))
    store_path.unlink(missing_ok=True)
    store = Store(f"sqlite:///{store_path.resolve()}")
    store.upgrade()
    servers, env = serve_emulators(config)
    os.environ.update(env)
    try:
        platform = _world(servers, config, "aiplatform")
        dingtalk = _world(servers, config, "dingtalk")
        dingtalk.add_user(HR["userid"], union_id=HR["union_id"], name=HR["name"])
        rng = random.Random(seed)
        platform.advance(-PAST.total_seconds())  # the population was invited days ago...
        truth = _seed(platform, rng, n)
        platform.advance(time.time() - platform.now())  # ...and every deadline has passed by now
        for server in servers:  # faults once the population exists; every emulator takes the same knobs
            requests.put(f"{server.url}/_emulator/faults", json=Faults.uniform(faults, seed).model_dump(),
                         timeout=10).raise_for_status()
        now = datetime.now(UTC)
        from core.outbox import dispatch
        from core.reconcile import reconcile
        from core.remediation.run import remediate

        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("pipeline passes", total=MAX_PASSES)
            for done in range(MAX_PASSES):  # like the scheduler: again until decided; re-runs create nothing twice
                if done >= 2 and _all_decided(store, len(truth)):
                    break
                for setup in config.instances(tenant):
                    connector = build_connector(setup, store)
                    for stream in setup.streams:
                        try:
                            sync_stream(store, setup, stream, connector)
                        except Exception as exc:  # a fault the retries could not absorb: the next pass resumes
                            console.print(f"  {setup.instance.name}:{stream}: {type(exc).__name__}, resumed next pass")
                reconcile(store, tenant, now, config, host)
                remediate(store, tenant, now, config, host)
                dispatch(store, config, tenant, now=now)
                progress.advance(task)
        grace = timedelta(minutes=config.tenant(tenant).policy.grace_minutes)
        return _report(store, truth, dingtalk, servers, now, grace)
    finally:
        for server in servers:
            server.stop()


def _all_decided(store: Store, expected: int) -> bool:
    o = schema.outcomes
    with store.engine.connect() as conn:
        decided = conn.execute(sa.select(sa.func.count(sa.distinct(o.c.interview_id)))
                               .where(o.c.outcome != "pending")).scalar_one()
    return int(decided) >= expected


def _total(counts: Any) -> int:
    """Sum of the numbers in an emulator's (possibly nested) call or breach counters."""
    if isinstance(counts, dict):
        return sum(_total(v) for v in counts.values())
    return int(counts) if isinstance(counts, int) else 0


def _report(store: Store, truth: dict[str, str], dingtalk: Any, servers: list[Any], started: datetime,
            grace: timedelta) -> DemoReport:
    o, i = schema.outcomes, schema.interviews
    with store.engine.connect() as conn:  # the first decision: remediation may reopen a window later
        rows = conn.execute(sa.select(i.c.remote_id, i.c.end_at, o.c.outcome, o.c.decided_at)
                            .join(o, o.c.interview_id == i.c.id).where(o.c.outcome != "pending")
                            .order_by(o.c.version.desc())).all()
        stored = set(conn.execute(sa.select(i.c.remote_id)).scalars())
        quarantined = conn.execute(sa.select(sa.func.count()).select_from(schema.quarantine)).scalar_one()
    decided = {r.remote_id: r.outcome for r in rows}
    report = DemoReport(interviews=len(truth), quarantined=int(quarantined))
    for inv, real in truth.items():
        # an invitation the platform garbled (a `malformed` fault) is quarantined, with its reason, not guessed at
        got = decided.get(inv, "undecided" if inv in stored or not quarantined else "quarantined")
        report.confusion.setdefault(real, {}).setdefault(got, 0)
        report.confusion[real][got] += 1
        if real == "attended" and got.startswith("missed"):
            report.false_missed += 1
    todos = dingtalk.todo_list()
    report.hr_tasks = len(todos)
    report.samples = [{"subject": t.get("subject", ""), "description": t.get("description", "")} for t in todos[:2]]
    injected: Counter[str] = Counter()
    for server in servers:
        plan = getattr(server.app.state.world, "faults", None) or getattr(server.app.state.world, "plan", None)
        injected.update(plan.injected if plan is not None else {})
    report.faults_injected = dict(injected)
    per_key = Counter(t.get("sourceId") for t in todos)
    report.duplicates = sum(c - 1 for c in per_key.values() if c > 1)
    worlds = [s.app.state.world for s in servers]
    report.api_calls = sum(_total(w.call_counts() if hasattr(w, "call_counts") else w.calls) for w in worlds)
    report.quota_breaches = sum(_total(w.qps_breaches() if hasattr(w, "qps_breaches") else w.breaches())
                                for w in worlds if hasattr(w, "qps_breaches") or hasattr(w, "breaches"))
    # from when the decision became possible (window end + grace, or the pipeline's start) to the decision
    latencies = [(r.decided_at - max(r.end_at + grace, started)).total_seconds() / 60
                 for r in rows if r.outcome != "pending"]
    if latencies:
        report.detection_latency_p95_minutes = round(statistics.quantiles(latencies, n=20)[-1]
                                                     if len(latencies) > 1 else latencies[0], 1)
    return report


def show(report: DemoReport, console: Console) -> None:
    table = Table(title=f"Outcomes vs ground truth ({report.interviews} AI interviews)")
    decided = sorted({d for row in report.confusion.values() for d in row})
    table.add_column("ground truth")
    for d in decided:
        table.add_column(d, justify="right")
    for real in TRUTHS:
        row = report.confusion.get(real, {})
        table.add_row(real, *(str(row.get(d, 0)) for d in decided))
    console.print(table)
    summary = Table(title="What Lifeline did")
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    for key in ("hr_tasks", "duplicates", "false_missed", "quarantined", "quota_breaches", "api_calls",
                "detection_latency_p95_minutes"):
        summary.add_row(key, str(getattr(report, key)))
    summary.add_row("faults injected", ", ".join(f"{k} {v}" for k, v in sorted(report.faults_injected.items())) or "-")
    console.print(summary)
    for sample in report.samples:
        console.rule("an HR todo in DingTalk")
        console.print(f"[bold]{sample['subject']}[/]\n{sample['description']}", markup=True, highlight=False)


def write_json(report: DemoReport, path: Path) -> None:
    path.write_text(json.dumps(report.__dict__, indent=2, ensure_ascii=False), encoding="utf-8")
