"""Crash/replay drill: dispatch is killed at random points with vendor faults on, then replayed.

Each run plans the remediation of one missed interview (an HR todo or work notice, a candidate SMS,
now and then a reschedule approval) against the DingTalk and Aliyun SMS emulators, lets a real worker
process dispatch it and die the hard way (`os._exit`, no cleanup) at a random probe point (after a
claim, after a vendor call, after the store update) or after a random delay (mid-request), then
replays dispatch until every row is done. Workers are forked from one long-lived process that paid
the imports once. Printed: `drill_runs`, `drill_duplicates` (vendor objects beyond one per action,
goal 0) and `drill_lost` (actions that ended without their vendor object, goal 0).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.emulator import Faults
from core.models import ActionStatus, OutcomeClass, Slot, utcnow
from core.outbox import Sinks, dispatch, rows
from core.remediation import remediate
from core.remediation.reschedule import submit
from core.remediation.testing import HR_USER, TENANT, EmulatedTenant, emulated_tenant

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = (OutcomeClass.missed_read_no_show, OutcomeClass.missed_technical, OutcomeClass.missed_declined,
            OutcomeClass.attended_partial, OutcomeClass.unknown)
LEASE = timedelta(seconds=30)
LANES = 2
"""Runs go in parallel lanes, one process each (2 cores: the lanes mostly wait on workers and back-offs)."""


def run(quick: bool) -> dict[str, float]:
    runs = 50 if quick else 1000
    shares = [runs // LANES + (n < runs % LANES) for n in range(LANES)]
    with ProcessPoolExecutor(LANES, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(lane, range(LANES), shares))
    duplicates, lost = (sum(column) for column in zip(*results, strict=True))
    return {"drill_runs": runs, "drill_duplicates": duplicates, "drill_lost": lost}


def lane(number: int, runs: int) -> tuple[int, int]:
    """`runs` crash/replay runs on a tenant of their own (emulators with faults on, a SQLite store, a worker
    process), in a process of their own; returns (duplicates, lost)."""
    rng = random.Random(20261125 + number)
    faults = Faults(rate_limit=0.01, server_error=0.02, timeout=0.01, timeout_seconds=0.4, expire_token=0.02,
                    duplicate=0.05, seed=7 + number)
    policy = {"dispatch_max_attempts": 50, "dispatch_backoff_seconds": 1}
    slow = {"dt": {"read_timeout_seconds": 0.3}, "sms": {"http_timeout_seconds": 0.3}}
    duplicates = lost = 0
    with tempfile.TemporaryDirectory(prefix="lifeline-drill-") as tmp, \
            emulated_tenant(Path(tmp), f"sqlite:///{tmp}/drill.db", faults=faults, policy=policy,
                            settings=slow) as t:
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)  # requests cut short by kills are expected
        zygote = subprocess.Popen([sys.executable, "-m", "core.remediation.testing", "zygote", str(t.path), TENANT],
                                  cwd=ROOT, env={**os.environ, **t.env}, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        sinks = Sinks(t.config, t.store)  # the replaying side keeps its connectors (and their tokens)
        try:
            for i in range(runs):
                keys = plan(t, i, rng)
                kill(zygote, rng, len(keys))
                replay(t, keys, sinks)
                found = objects(t, keys)
                duplicates += sum(max(n - 1, 0) for n in found.values())
                lost += sum(1 for key, n in found.items() if n == 0 or keys[key].status is not ActionStatus.done)
        finally:
            assert zygote.stdin is not None
            zygote.stdin.close()
            zygote.wait(timeout=30)
    return duplicates, lost


def plan(t: EmulatedTenant, i: int, rng: random.Random) -> dict[str, Any]:
    """Seed one missed interview (sometimes with a reschedule request) and plan it; returns its rows by key."""
    now = utcnow()
    name = f"候选人{i:04d}"
    t.candidate(f"c{i}", name, phone=f"139{i:08d}")
    interview = t.interview(f"iv{i}", now - timedelta(hours=3), candidate=f"c{i}")
    t.decide(interview.id, OUTCOMES[i % len(OUTCOMES)], now)
    remediate(t.store, TENANT, now, t.config, t.host)
    if rng.random() < 0.1:
        start = (now + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
        submit(t.store, t.config, interview.id, [Slot(start_at=start, end_at=start + timedelta(minutes=45))], now)
    return {r.action.idempotency_key: r.action for r in rows(t.store, TENANT, interview_id=interview.id)}


def kill(zygote: subprocess.Popen[str], rng: random.Random, actions: int) -> None:
    """One worker run that dies at a random probe point (3 per action) or after a random delay."""
    if rng.random() < 0.5:
        order: dict[str, Any] = {"exit_at": rng.randint(1, 3 * actions + 1)}
    else:
        order = {"exit_after": rng.uniform(0.0, 0.3)}
    assert zygote.stdin is not None and zygote.stdout is not None
    zygote.stdin.write(json.dumps({**order, "lease": LEASE.total_seconds()}) + "\n")
    zygote.stdin.flush()
    json.loads(zygote.stdout.readline())


def replay(t: EmulatedTenant, keys: dict[str, Any], sinks: Sinks) -> None:
    """Dispatch (faults still on) until the run's rows are settled, past dead workers' leases and backoffs."""
    at: datetime = utcnow()
    for _ in range(40):
        at += LEASE + timedelta(seconds=1)
        dispatch(t.store, t.config, TENANT, now=at, sinks=sinks)
        current = {r.action.idempotency_key: r.action for r in rows(t.store, TENANT)
                   if r.action.idempotency_key in keys}
        keys.update(current)
        if all(a.status is ActionStatus.done for a in current.values()):
            return


def objects(t: EmulatedTenant, keys: dict[str, Any]) -> dict[str, int]:
    """Vendor objects per action, by the marks the sinks leave (todo sourceId, SMS OutId, approval marker,
    and for work notices the content, which DingTalk refuses to deliver twice in a day)."""
    todos = [todo["sourceId"] for todo in t.dingtalk.todo_list()]
    sms = [m["out_id"] for m in t.sms.message_list()]
    approvals = [str(a["form"]) for a in t.dingtalk.approval_list()]
    notices = [str(n["msg"]) for n in t.dingtalk.messages() if n["recipients"].get(HR_USER) in ("unread", "read")]
    found: dict[str, int] = {}
    for key, action in keys.items():
        if action.kind == "create_task":
            found[key] = todos.count(key)
        elif action.kind == "send_sms":
            found[key] = sms.count(key)
        elif action.kind == "create_approval":
            found[key] = sum(key in form for form in approvals)
        else:
            found[key] = sum(action.payload["title"] in text for text in notices)
    return found

