"""Reschedule approvals on Weaver e-cology through the outbox, with faults: one workflow per request, counted at the
emulator.

e-cology has no idempotency key (weaver-oa.md §4.4): a doCreateRequest whose answer is lost has made its workflow,
and a plain retry makes a second one. 200 reschedule requests (`create_approval` rows, one per interview) are planned
into the outbox of a SQLite store and dispatched through the real `weaver` connector over loopback HTTP to the
emulator (the toolkit's back-off waits on a fake clock: no real sleeping), with faults on: Resin 500 pages, expired
tokens, answers lost after the vendor acted (the `timeout` fault, and every 7th create's answer lost on purpose), a
500 page on every 11th submit, and every token revoked before every 9th action. Dispatch retries what fails, the
row then `maybe_sent`; the connector must search for its reference before creating again. Counted at the emulator,
not in Lifeline's tables. Printed:
- `weaver_workflows_created`: workflows doCreateRequest made (goal: the number of requests, 200);
- `weaver_duplicate_workflows`: workflows beyond the first carrying one Lifeline reference (goal 0);
- `weaver_requests_not_done`: outbox rows not done at the end (goal 0);
- `weaver_lost_answers`: answers lost after the emulator acted (forced and drawn);
- `weaver_faults_injected`: faults the emulator injected (drawn and forced; revoked tokens not counted).
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lifeline_hub.connectors.weaver.emulator import create_app
from lifeline_hub.connectors.weaver.emulator_settings import EmulatorSettings
from lifeline_hub.connectors.weaver.emulator_state import WeaverWorld
from lifeline_hub.connectors.weaver.plugin import WeaverConnector
from lifeline_hub.connectors.weaver.testing import Emulated
from lifeline_hub.core.config import Config, load
from lifeline_hub.core.connector import Connector
from lifeline_hub.core.emulator import Faults, LoopbackServer
from lifeline_hub.core.http.clock import use_clock
from lifeline_hub.core.http.testing import FakeClock
from lifeline_hub.core.models import Action, ActionStatus
from lifeline_hub.core.outbox import Sinks, dispatch, enqueue, rows
from lifeline_hub.core.plugins import get_host
from lifeline_hub.core.remediation.texts import T
from lifeline_hub.core.store import Store

TENANT = "bench"
START = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
"""The outbox's clock (dispatch runs at fixed instants): any fixed date."""
FAULTS = Faults(server_error=0.03, timeout=0.02, timeout_seconds=1.0, expire_token=0.03, seed=20261207)
"""Per call. The connector's read timeout (`sample_settings`: 0.5 s) is below `timeout_seconds`: a lost answer."""
LOST_CREATE, REVOKE, SUBMIT_500 = 7, 9, 11
"""Every n-th action: its create's answer is lost / every token is revoked first / its submit meets a 500 page."""
ZH = T["zh-CN"]


class OneSink(Sinks):
    """Every row goes to the one connector on the emulator (the instance is not in the config's plugins)."""

    def __init__(self, config: Config, store: Store, connector: WeaverConnector) -> None:
        super().__init__(config, store)
        self.connector = connector

    def get(self, action: Action) -> Connector:
        return self.connector


def config(directory: Path, store_url: str) -> Config:
    path = directory / "plugins.toml"
    path.write_text(f'[lifeline]\nstore = "{store_url}"\n\n[tenants.{TENANT}]\n\n[tenants.{TENANT}.policy]\n'
                    "dispatch_max_attempts = 30\ndispatch_backoff_seconds = 1\ndispatch_max_backoff_seconds = 60\n",
                    encoding="utf-8")
    return load(path, get_host())


def reschedule(n: int) -> Action:
    """The n-th reschedule approval, as remediation plans it for interview `iv-<n>`."""
    interview = f"bench.ats/iv-{n}"
    fields = {ZH["ap.candidate"]: f"候选人{n} 138****{n % 10_000:04d}", ZH["ap.interview"]: "技术面试 2026-06-02 10:00",
              ZH["ap.reason"]: "候选人出差", ZH["ap.slots"]: "1. 06-03 10:00\n2. 06-04 15:00",
              ZH["ap.evidence"]: "06-01 09:00 候选人请求改期", ZH["ap.key"]: f"rr-{n}"}
    return Action(idempotency_key=f"bench-weaver-{n:04d}", tenant=TENANT, connector="acme.weaver",
                  kind="create_approval", interview_id=interview, due_at=START, payload={
                      "originator": "101", "process_code": "1001", "title": f"面试改期申请：候选人{n}",
                      "fields": fields, "interview_id": interview})


def drill(store_url: str, requests: int, directory: Path, world: WeaverWorld | None = None) -> dict[str, int]:
    """Plan and dispatch `requests` reschedule approvals against a faulty emulator (`world`, closed at the end:
    its `served` answers stay readable); the emulator's counts."""
    store = Store(store_url)
    store.upgrade()
    world = world or WeaverWorld(EmulatorSettings())
    seen: Counter[str] = Counter()

    def inject(point: str, action: Action) -> None:
        if point != "claimed":
            return
        seen[action.idempotency_key] += 1
        n = int(action.idempotency_key.rsplit("-", 1)[1])
        if seen[action.idempotency_key] > 1:
            return  # faults forced on an action's first try only: a retry meets the drawn faults
        if n % LOST_CREATE == 0:
            world.stall_next(FAULTS.timeout_seconds, api="doCreateRequest")
        if n % REVOKE == 0:
            world.expire_tokens()
        if n % SUBMIT_500 == 0:
            world.fail_next("html_500", api="submitRequest")

    try:
        with LoopbackServer(create_app(world=world)) as server, use_clock(FakeClock(START.timestamp())):
            connector = Emulated(world, server.url, directory).connector()
            sinks = OneSink(config(directory, store_url), store, connector)
            with store.begin() as conn:
                enqueue(conn, [reschedule(n) for n in range(1, requests + 1)], START)
            world.configure_faults(FAULTS)
            now = START
            for _ in range(200):
                dispatch(store, sinks.config, TENANT, now=now, sinks=sinks, probe=inject)
                if all(r.action.status in (ActionStatus.done, ActionStatus.dead) for r in rows(store, TENANT)):
                    break
                now += timedelta(minutes=1)
            world.configure_faults(Faults())
        done = sum(r.action.status is ActionStatus.done for r in rows(store, TENANT))
    finally:
        store.engine.dispose()
        world.close()
    return {"weaver_workflows_created": world.workflows_created(),
            "weaver_duplicate_workflows": world.duplicate_workflows(),
            "weaver_requests_not_done": requests - done,
            "weaver_lost_answers": world.faults.injected["stall"] + world.faults.injected["timeout"],
            "weaver_faults_injected": sum(world.faults.injected.values())}


def run(quick: bool) -> dict[str, int]:
    logging.getLogger("lifeline_hub").setLevel(logging.ERROR)  # retried faults are expected, not news
    with tempfile.TemporaryDirectory(prefix="lifeline-weaver-") as tmp:
        return drill(f"sqlite:///{Path(tmp) / 'lifeline.db'}", 20 if quick else 200, Path(tmp))
