"""One clock for the whole HTTP toolkit: a client built with no clock of its own retries, backs off, paces
and expires tokens on the clock `use_clock` installs, so a test never waits on the wall."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.http import (
    SYSTEM_CLOCK,
    Quota,
    RateLimiter,
    Token,
    TokenProvider,
    VendorClient,
    current_clock,
    use_clock,
)
from lifeline_hub.core.http.testing import FakeClock


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def next(self) -> int:
        with self.lock:
            self.calls += 1
            return self.calls


@pytest.fixture
def url() -> Iterator[str]:
    app = FastAPI()
    throttled = Counter()

    @app.get("/throttled/{times}")
    def limited(times: int, request: Request) -> JSONResponse:
        if throttled.next() <= times:
            return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": "40"})
        return JSONResponse({"ok": True, "token": request.headers.get("authorization")})

    with LoopbackServer(app) as server:
        yield server.url


class Tokens(TokenProvider):
    def __init__(self) -> None:
        super().__init__(refresh_ahead=10.0)

    def fetch(self) -> Token:
        return self.expiring_in(f"t{self.refreshes + 1}", 120.0)


def test_retry_after_waits_on_the_installed_clock(url: str) -> None:
    clock = FakeClock()
    with use_clock(clock):
        client = VendorClient(url, limiter=RateLimiter())
        assert client.request("GET", "/throttled/2", api="x") == {"ok": True, "token": None}
    # two Retry-After: 40 (each also pauses the limiter), none of it waited for real
    assert clock.sleeps and sum(clock.sleeps) >= 80
    assert client.stats.retries == 2


def test_the_rate_limiter_paces_on_the_installed_clock(url: str) -> None:
    clock = FakeClock()
    with use_clock(clock):
        client = VendorClient(url, limiter=RateLimiter(margin=0))
        for _ in range(3):
            client.request("GET", "/throttled/0", api="x", quota=Quota(1, 30.0))
    assert clock.now - 1_000_000.0 == pytest.approx(60.0)


def test_tokens_expire_on_the_installed_clock(url: str) -> None:
    clock = FakeClock()
    with use_clock(clock):
        client = VendorClient(url, tokens=Tokens())
        assert client.request("GET", "/throttled/0", api="x")["token"] == "Bearer t1"
        clock.advance(109)
        assert client.request("GET", "/throttled/0", api="x")["token"] == "Bearer t1"
        clock.advance(1)  # expiry minus refresh_ahead (120 - 10)
        assert client.request("GET", "/throttled/0", api="x")["token"] == "Bearer t2"


def test_the_clock_is_back_after_the_block() -> None:
    fake = FakeClock()
    with use_clock(fake):
        with use_clock(fake):
            assert current_clock() is fake
        assert current_clock() is fake
    assert current_clock() is SYSTEM_CLOCK
