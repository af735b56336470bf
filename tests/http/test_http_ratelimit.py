"""Sliding-window rate limiter: never above a quota in any window, close to it in throughput."""

import threading
import time
from bisect import bisect_left
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from lifeline_hub.core.emulator import LoopbackServer, QuotaMeter
from lifeline_hub.core.http import Quota, RateLimiter, VendorClient
from lifeline_hub.core.http.testing import FakeClock


def max_in_window(stamps: list[float], per_seconds: float) -> int:
    """The most calls any half-open window [t, t + per_seconds) holds."""
    stamps = sorted(stamps)
    return max(bisect_left(stamps, t + per_seconds) - i for i, t in enumerate(stamps))


def acquire_many(limiter: RateLimiter, clock: FakeClock, n: int, *quotas: Quota) -> list[float]:
    stamps = []
    for _ in range(n):
        limiter.acquire("im.send", "app1", quotas)
        stamps.append(clock.time())
    return stamps


def test_never_above_quota_and_at_least_90_percent_of_it() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock.time, sleep=clock.sleep)
    quota = Quota(20, 1.0)
    stamps = acquire_many(limiter, clock, 400, quota)
    assert max_in_window(stamps, quota.per_seconds) == 20
    # Within the margin as well, so a server whose clock runs a little differently agrees.
    assert max_in_window(stamps, quota.per_seconds + limiter.margin * 0.99) <= 20
    rate = (len(stamps) - quota.calls) / (stamps[-1] - stamps[0])
    assert 0.9 * 20 <= rate <= 20


def test_several_quotas_on_one_key() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock.time, sleep=clock.sleep)
    per_second, per_ten = Quota(5, 1.0), Quota(12, 10.0)
    stamps = acquire_many(limiter, clock, 60, per_second, per_ten)
    assert max_in_window(stamps, 1.0) <= 5
    assert max_in_window(stamps, 10.0) == 12


def test_headroom_reserves_part_of_the_quota() -> None:
    clock = FakeClock()
    limiter = RateLimiter(headroom=0.5, clock=clock.time, sleep=clock.sleep)
    stamps = acquire_many(limiter, clock, 50, Quota(20, 1.0))
    assert max_in_window(stamps, 1.0) == 10
    assert limiter.limit(Quota(1, 1.0)) == 1


def test_keys_are_independent_and_pause_holds_one_key() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock.time, sleep=clock.sleep)
    quota = Quota(1, 1.0)
    assert limiter.acquire("a", "app1", quota) == 0
    assert limiter.acquire("b", "app1", quota) == 0
    assert limiter.acquire("a", "app2", quota) == 0
    limiter.pause("a", "app1", clock.time() + 5)
    assert limiter.acquire("b", "app2") == 0  # no quota: only pauses apply
    assert limiter.acquire("a", "app1") == pytest.approx(5)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid quota"):
        Quota(0, 1.0)
    with pytest.raises(ValueError, match="headroom"):
        RateLimiter(headroom=1.5)


@pytest.fixture
def metered() -> Iterator[tuple[str, QuotaMeter, list[float]]]:
    """A loopback server that records arrival times and refuses calls over 10 per 0.5 s."""
    meter = QuotaMeter(limit=10, per_seconds=0.5)
    arrivals: list[float] = []
    lock = threading.Lock()
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> JSONResponse:
        with lock:
            arrivals.append(time.monotonic())
        if not meter.hit("ping"):
            return JSONResponse({"error": "rate limited"}, status_code=429)
        return JSONResponse({"ok": True})

    with LoopbackServer(app) as server:
        yield server.url, meter, arrivals


def test_real_clock_threads_never_breach_the_server_quota(metered: tuple[str, QuotaMeter, list[float]]) -> None:
    url, meter, arrivals = metered
    quota = Quota(10, 0.5)
    client = VendorClient(url, limiter=RateLimiter(), max_attempts=1)

    def work() -> None:
        for _ in range(5):
            client.request("GET", "/ping", api="ping", quota=quota)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    client.close()
    assert len(arrivals) == 30
    assert max_in_window(arrivals, quota.per_seconds) <= quota.calls
    assert meter.total_breaches == 0
    assert client.stats.calls["ping"] == 30
    assert not client.stats.errors
