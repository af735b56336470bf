"""The retry budget and the circuit breaker of `VendorClient`, over real HTTP on loopback, the breaker kept in
the store's health table (SQLite and PostgreSQL), on a fake toolkit clock (backoff without waiting)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.health import StoreBreakers
from lifeline_hub.core.http import PermissionDenied, TransientError, VendorClient, use_clock
from lifeline_hub.core.http.breaker import Breaker, CircuitOpen, use_breaker
from lifeline_hub.core.http.budget import BudgetSpent, retry_budget
from lifeline_hub.core.http.testing import FakeClock
from lifeline_hub.core.store import Store, schema


class Vendor:
    """Answers every call with `status` (200: an empty JSON object) and counts the calls."""

    def __init__(self) -> None:
        self.status = 503
        self.calls = 0


@pytest.fixture
def vendor() -> Iterator[tuple[Vendor, str]]:
    state = Vendor()
    app = FastAPI()

    @app.get("/v1/items")
    def listing() -> JSONResponse:
        state.calls += 1
        return JSONResponse({"error": state.status} if state.status != 200 else {}, status_code=state.status)

    with LoopbackServer(app) as server:
        yield state, server.url


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with use_clock(FakeClock()) as fake:
        yield fake


def call(url: str) -> object:
    with VendorClient(url, vendor="acme-ats", max_attempts=8) as client:
        return client.request("GET", "/v1/items", api="items")


def open_breakers(store: Store) -> list[tuple[str, str | None, bool]]:
    with store.engine.connect() as conn:
        return [(r.subject, r.tenant, r.resolved_at is None) for r in conn.execute(
            sa.select(schema.health).where(schema.health.c.kind == "breaker").order_by(schema.health.c.id))]


def test_the_retries_of_a_call_stop_within_the_tasks_budget(vendor: tuple[Vendor, str], clock: FakeClock) -> None:
    state, url = vendor
    with retry_budget(5.0), pytest.raises(BudgetSpent, match=r"retry budget of 5 s") as failed:
        call(url)
    assert sum(clock.sleeps) <= 5.0  # 0.5 + 1 + 2 s of backoff (with jitter); the next wait would pass 5 s
    assert 2 <= state.calls < 8
    assert failed.value.retryable and failed.value.http_status == 503  # Airflow's bounded retries may still help


def test_without_a_budget_the_retries_stop_at_max_attempts(vendor: tuple[Vendor, str], clock: FakeClock) -> None:
    state, url = vendor
    with pytest.raises(TransientError) as failed:
        call(url)
    assert not isinstance(failed.value, BudgetSpent) and state.calls == 8


def test_a_budget_spans_every_call_of_the_block(vendor: tuple[Vendor, str], clock: FakeClock) -> None:
    state, url = vendor
    with retry_budget(10.0):
        with pytest.raises(BudgetSpent):
            call(url)
        first = state.calls
        with pytest.raises(BudgetSpent):
            call(url)  # what the first call spent is gone
    assert state.calls - first < first


def test_the_breaker_opens_after_n_failures_and_every_worker_then_fails_fast(
        vendor: tuple[Vendor, str], clock: FakeClock, store: Store) -> None:
    state, url = vendor
    breakers = StoreBreakers(store, "acme")
    with use_breaker(Breaker("acme.ats", breakers, failures=3, cooldown=60)), \
            pytest.raises(CircuitOpen, match="opened: 3 consecutive transport/5xx failures") as opened:
        call(url)
    assert state.calls == 3 and not opened.value.retryable
    assert open_breakers(store) == [("acme.ats", "acme", True)]

    state.status = 200  # whatever the vendor does now, nobody calls it during the cool-down
    with use_breaker(Breaker("acme.ats", StoreBreakers(store, "acme"), failures=3, cooldown=60)), \
            pytest.raises(CircuitOpen, match="is open"):
        call(url)  # another worker process: a breaker of its own over the same store
    assert state.calls == 3

    clock.advance(61)
    with use_breaker(Breaker("acme.ats", breakers, failures=3, cooldown=60)):
        assert call(url) == {}  # the probe
    assert state.calls == 4 and open_breakers(store) == [("acme.ats", "acme", False)]


def test_a_failed_probe_opens_the_breaker_for_another_cool_down(
        vendor: tuple[Vendor, str], clock: FakeClock, store: Store) -> None:
    state, url = vendor
    breakers = StoreBreakers(store, "acme")
    with use_breaker(Breaker("acme.ats", breakers, failures=2, cooldown=60)), pytest.raises(CircuitOpen):
        call(url)
    clock.advance(61)
    with use_breaker(Breaker("acme.ats", breakers, failures=2, cooldown=60)), \
            pytest.raises(CircuitOpen, match="the probe after the cool-down failed"):
        call(url)
    assert state.calls == 3  # one probe call
    clock.advance(30)
    with use_breaker(Breaker("acme.ats", breakers, failures=2, cooldown=60)), pytest.raises(CircuitOpen, match="open"):
        call(url)
    assert state.calls == 3 and open_breakers(store) == [("acme.ats", "acme", True)]


def test_only_one_caller_takes_the_probe(store: Store, clock: FakeClock) -> None:
    breakers = StoreBreakers(store, "acme")
    breakers.open("acme.ats", "down", clock.time())
    clock.advance(61)
    first, second = (Breaker("acme.ats", breakers, failures=2, cooldown=60) for _ in range(2))
    first.before_call()
    with pytest.raises(CircuitOpen):
        second.before_call()


@pytest.mark.parametrize("status", [400, 401, 403])
def test_auth_permission_and_invalid_request_errors_never_open_it(
        vendor: tuple[Vendor, str], clock: FakeClock, store: Store, status: int) -> None:
    state, url = vendor
    state.status = status
    breaker = Breaker("acme.ats", StoreBreakers(store, "acme"), failures=1, cooldown=60)
    with use_breaker(breaker):
        for _ in range(3):
            with pytest.raises(PermissionDenied if status == 403 else Exception) as failed:
                call(url)
            assert not isinstance(failed.value, CircuitOpen)
    assert open_breakers(store) == [] and breaker.consecutive == 0
