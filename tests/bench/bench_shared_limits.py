"""Per-process vs shared rate limits: `PROCESSES` worker processes calling one vendor app with one quota.

Each process has its own client and `RateLimiter` (as each Airflow worker does) and makes `CALLS` calls
against the AI-interview platform's emulator (`QPS` per client, its `QuotaMeter` counting the calls it
refuses). Once with the in-process limiter (the default), once with the windows in PostgreSQL
(`[lifeline] rate_limiter = "postgresql"`).

Printed: `ratelimit_breaches_per_process` and `ratelimit_breaches_shared` (calls the platform refused for
the quota; the shared goal is 0), `ratelimit_shared_quota_share` (calls per second the platform metered with
shared limits, over its quota).
"""

from __future__ import annotations

import multiprocessing
import time

from lifeline_hub.connectors.aiplatform.client import AIPlatformClient, ClientCredentials, ClientLimiter
from lifeline_hub.connectors.aiplatform.emulator import AIPlatformWorld, EmulatorSettings, create_app
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.http import Quota
from lifeline_hub.core.http.shared_limits import share_limits_at
from tests.pgserver import create_database, postgres_server

PROCESSES, QPS = 4, 10


def hammer(base_url: str, limits_url: str | None, calls: int) -> None:
    """One worker process: its own client and limiter, the one app's quota."""
    share_limits_at(limits_url)
    settings = EmulatorSettings()
    client = AIPlatformClient(base_url, app=settings.client_id, limiter=ClientLimiter())
    client.tokens = ClientCredentials(client, settings.client_id, settings.client_secret)
    for _ in range(calls):
        client.request("GET", "/invitations", api="invitations.list", quota=Quota(QPS, 1.0), params={"limit": 1})


def drive(limits_url: str | None, calls: int) -> tuple[int, float]:
    """Quota breaches, and metered calls per second over the quota, of one run of the processes."""
    app = create_app(EmulatorSettings(deliver_in_background=False, requests_per_second=QPS))
    world: AIPlatformWorld = app.state.world
    spawn = multiprocessing.get_context("spawn")
    try:
        with LoopbackServer(app) as server:
            workers = [spawn.Process(target=hammer, args=(f"{server.url}/v1", limits_url, calls))
                       for _ in range(PROCESSES)]
            for worker in workers:
                worker.start()
            first = None
            while any(w.is_alive() for w in workers):
                if first is None and world.meter.total_calls:
                    first = (time.monotonic(), world.meter.total_calls)
                time.sleep(0.01)
            end = time.monotonic()
        if any(w.exitcode for w in workers):
            raise RuntimeError("a worker process failed")
        start, before = first or (end, 0)
        return world.quota_breaches(), (world.meter.total_calls - before) / max(end - start, 1e-9) / QPS
    finally:
        world.close()


def run(quick: bool) -> dict[str, float]:
    calls = 10 if quick else 30
    with postgres_server() as server:
        per_process, _ = drive(None, calls)
        shared, share = drive(create_database(server), calls)
    return {"ratelimit_breaches_per_process": per_process, "ratelimit_breaches_shared": shared,
            "ratelimit_shared_quota_share": share}
