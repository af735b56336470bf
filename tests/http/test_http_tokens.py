"""Token cache: refresh ahead of expiry, one refresh under concurrency, safe invalidation."""

import threading
import time
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.http import Token, TokenProvider, TransientError, VendorClient, use_clock
from lifeline_hub.core.http.testing import FakeClock


class CountingProvider(TokenProvider):
    """Issues t-1, t-2, … each valid for `ttl` seconds; `delay` makes a fetch take real time."""

    def __init__(self, clock: FakeClock | None = None, ttl: float = 7200, delay: float = 0.0) -> None:
        super().__init__(clock=clock.time if clock else time.time)
        self.ttl, self.delay = ttl, delay
        self.fetched = 0
        self._count_lock = threading.Lock()

    def fetch(self) -> Token:
        time.sleep(self.delay)
        with self._count_lock:
            self.fetched += 1
            return self.expiring_in(f"t-{self.fetched}", self.ttl)


def run_threads(count: int, target: Callable[[], None]) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)


def test_token_is_cached_and_refreshed_ahead_of_expiry() -> None:
    clock = FakeClock()
    provider = CountingProvider(clock)
    assert provider.get() == "t-1"
    clock.advance(7200 - 300 - 1)
    assert provider.get() == "t-1"
    clock.advance(1)
    assert provider.get() == "t-2"  # 300 s before expiry
    assert provider.refreshes == provider.fetched == 2


def test_short_lived_token_is_refreshed_at_half_life_not_on_every_call() -> None:
    clock = FakeClock()
    provider = CountingProvider(clock, ttl=200)  # shorter than refresh_ahead
    assert provider.get() == provider.get() == "t-1"
    clock.advance(99)
    assert provider.get() == "t-1"
    clock.advance(1)
    assert provider.get() == "t-2"


def test_one_refresh_for_eight_concurrent_callers() -> None:
    provider = CountingProvider(delay=0.05)
    start = threading.Barrier(8)
    values: list[str] = []

    def call() -> None:
        start.wait()
        values.append(provider.get())

    run_threads(8, call)
    assert values == ["t-1"] * 8
    assert provider.fetched == 1


def test_invalidate_only_drops_the_same_token() -> None:
    provider = CountingProvider(FakeClock())
    assert provider.get() == "t-1"
    provider.invalidate("t-0")  # an older token: nothing happens
    assert provider.get() == "t-1"
    provider.invalidate("t-1")
    assert provider.get() == "t-2"
    provider.invalidate("t-1")  # a late report about t-1 must not drop t-2
    assert provider.get() == "t-2"
    assert provider.fetched == 2


def test_eight_threads_told_token_expired_cause_one_refresh() -> None:
    provider = CountingProvider(delay=0.02)
    stale = provider.get()
    start = threading.Barrier(8)
    values: list[str] = []

    def expired() -> None:
        start.wait()
        provider.invalidate(stale)
        values.append(provider.get())

    run_threads(8, expired)
    assert values == ["t-2"] * 8
    assert provider.fetched == 2


def test_token_repr_hides_the_value() -> None:
    assert "t-secret" not in repr(Token("t-secret", 1.0))


def test_a_failing_token_endpoint_is_retried_once_not_inside_every_retry_of_the_call() -> None:
    """The token request retries on its own; the call that needed the token does not retry around it
    (before: 5 attempts of the call x 5 of the token request = 25 token requests, minutes of timeouts)."""
    app = FastAPI()
    asked = {"token": 0, "api": 0}

    @app.post("/token")
    def token() -> JSONResponse:
        asked["token"] += 1
        return JSONResponse({"error": "down"}, status_code=503)

    @app.get("/api")
    def api() -> dict[str, bool]:
        asked["api"] += 1
        return {"ok": True}

    class EndpointTokens(TokenProvider):
        def __init__(self, client: VendorClient) -> None:
            super().__init__()
            self.client = client

        def fetch(self) -> Token:
            body = self.client.request("POST", "/token", api="token", auth=False, idempotent=True)
            return self.expiring_in(str(body["token"]), 7200)

    with LoopbackServer(app) as server, use_clock(FakeClock()):
        client = VendorClient(server.url)
        client.tokens = EndpointTokens(client)
        with pytest.raises(TransientError):
            client.request("GET", "/api", api="api")
    assert asked == {"token": client.max_attempts, "api": 0}
