"""Rate limits shared across processes (PostgreSQL): several worker processes, one vendor app, one quota."""

import multiprocessing
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from requests.adapters import HTTPAdapter

from lifeline_hub.connectors.aiplatform.client import AIPlatformClient, ClientCredentials
from lifeline_hub.connectors.aiplatform.emulator import AIPlatformWorld, EmulatorSettings, create_app
from lifeline_hub.core import plugins
from lifeline_hub.core.config import ConfigError, load
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.http import Quota, RateLimiter
from lifeline_hub.core.http.shared_limits import (
    TRANSIT_MARGIN,
    PostgresLimits,
    share_limits,
    share_limits_at,
    shared_limits,
)
from lifeline_hub.core.http.testing import FakeClock
from lifeline_hub.core.sync import build_connector

QPS = 8
PROCESSES = 4
CALLS = 10  # per process: 40 calls at 8/s, while each process alone would send 8/s


def hammer(base_url: str, limits_url: str | None, calls: int) -> None:
    """One worker process: its own client and limiter, the quota of the one vendor app."""
    share_limits_at(limits_url)
    settings = EmulatorSettings()
    client = AIPlatformClient(base_url, app=settings.client_id, limiter=RateLimiter())
    client.tokens = ClientCredentials(client, settings.client_id, settings.client_secret)
    for _ in range(calls):
        client.request("GET", "/invitations", api="invitations.list", quota=Quota(QPS, 1.0), params={"limit": 1})


@pytest.fixture
def platform() -> Iterator[tuple[AIPlatformWorld, str]]:
    app = create_app(EmulatorSettings(deliver_in_background=False, requests_per_second=QPS))
    world: AIPlatformWorld = app.state.world
    with LoopbackServer(app) as server:
        yield world, f"{server.url}/v1"
    world.close()


def run_workers(base_url: str, limits_url: str | None) -> None:
    spawn = multiprocessing.get_context("spawn")  # no forked copy of the emulator's server thread
    workers = [spawn.Process(target=hammer, args=(base_url, limits_url, CALLS)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * PROCESSES


@pytest.mark.postgres
def test_processes_sharing_the_limits_never_breach_the_vendor_quota(
        platform: tuple[AIPlatformWorld, str], pg_url: str) -> None:
    world, url = platform
    run_workers(url, pg_url)
    assert world.calls["invitations.list"] == PROCESSES * CALLS  # every call made, none refused
    assert world.quota_breaches() == 0


@pytest.mark.postgres
def test_shared_windows_book_calls_in_order_and_pauses_hold_every_process(pg_url: str) -> None:
    limits = PostgresLimits(pg_url)
    other = PostgresLimits(pg_url)  # another process's view: its own engine
    try:
        assert limits.reserve("send", "app1", [(2, 1.0)]).wait == 0
        assert limits.reserve("send", "app1", [(2, 1.0)]).wait == 0
        booked = other.reserve("send", "app1", [(2, 1.0)]).wait  # the window is full for everyone: the next one
        assert 0 < booked <= 1.0 + TRANSIT_MARGIN
        assert booked <= other.reserve("send", "app1", [(2, 1.0)]).wait < booked + 0.5  # the window's second call
        assert limits.reserve("send", "app1", [(2, 1.0)]).wait > booked + 0.5  # the window after
        assert other.reserve("send", "app2", [(2, 1.0)]).wait == 0  # another app has its own quota
        limits.pause("read", "app1", 30.0)
        assert 29.0 < other.reserve("read", "app1", []).wait <= 30.0
    finally:
        limits.engine.dispose()
        other.engine.dispose()


@pytest.mark.postgres
def test_a_call_whose_answer_is_out_holds_its_place_in_the_window_until_the_answer(pg_url: str) -> None:
    answers: list[int] = []
    limits = PostgresLimits(pg_url, sleep=lambda _: limits.answered(answers.pop()))  # the answer comes back
    try:
        first = limits.reserve("send", "app1", [(1, 1.0)], answered_later=True)
        assert first.wait == 0 and first.ticket is not None
        answers.append(first.ticket)
        second = limits.reserve("send", "app1", [(1, 1.0)], answered_later=True)  # waits for the answer ...
        assert answers == []
        assert 0.9 < second.wait <= 1.0  # ... then counts a whole window from it, with no margin
    finally:
        limits.engine.dispose()


class SlowNetwork(HTTPAdapter):
    """The first request leaves `delay` seconds after the client let it go (a starved process, a slow route)."""

    def __init__(self, delay: float) -> None:
        super().__init__(max_retries=0)
        self.delay = delay

    def send(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self.delay)
        self.delay = 0.0
        return super().send(*args, **kwargs)


@pytest.mark.postgres
def test_a_call_that_reaches_the_vendor_late_does_not_let_the_next_one_in_too_early(pg_url: str) -> None:
    """Counting a call from the instant it was booked (plus a margin) lets the next one reach the vendor less than
    a window after a late one; counting it from its answer does not."""
    app = create_app(EmulatorSettings(deliver_in_background=False, requests_per_second=1))
    world: AIPlatformWorld = app.state.world
    share_limits(PostgresLimits(pg_url))
    try:
        with LoopbackServer(app) as server:
            clients = []
            for delay in (0.6, 0.0):
                client = AIPlatformClient(f"{server.url}/v1", app=world.settings.client_id, limiter=RateLimiter())
                client.tokens = ClientCredentials(client, world.settings.client_id, world.settings.client_secret)
                client.tokens.get()
                client.session.mount("http://", SlowNetwork(delay))
                clients.append(client)

            def list_invitations(client: AIPlatformClient) -> None:
                client.request("GET", "/invitations", api="invitations.list", quota=Quota(1, 1.0),
                               params={"limit": 1})

            late = threading.Thread(target=list_invitations, args=(clients[0],))
            late.start()
            time.sleep(0.2)  # booked, still on its way
            list_invitations(clients[1])
            late.join()
        assert world.calls["invitations.list"] == 2
        assert world.quota_breaches() == 0
    finally:
        share_limits(None)
        world.close()


@pytest.mark.postgres
def test_a_limiter_on_a_fake_clock_stays_in_memory(pg_url: str) -> None:
    """A test's fake clock cannot pace calls against the database's clock: such limiters keep their windows."""
    limits = PostgresLimits(pg_url)
    share_limits(limits)
    try:
        clock = FakeClock()
        limiter = RateLimiter(clock=clock.time, sleep=clock.sleep)
        start = clock.time()
        for _ in range(3):
            limiter.acquire("send", "app1", Quota(1, 1.0))
        assert clock.time() - start >= 2.0  # paced on the fake clock
        assert limits.reserve("send", "app1", [(1, 1.0)]).wait == 0  # nothing was recorded there
    finally:
        share_limits(None)
        limits.engine.dispose()


def write_config(tmp_path: Path, lifeline: str) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(f"[lifeline]\n{lifeline}\n\n[tenants.acme.connectors.aip]\nplugin = \"aiplatform\"\n")
    return path


@pytest.mark.parametrize(("lifeline", "problem"), [
    ('rate_limiter = "redis"', "plugins.toml: lifeline.rate_limiter: expected 'memory' (one machine)"),
    ('rate_limiter = "postgresql"', "plugins.toml: lifeline.rate_limiter: 'postgresql' shares the store's database, "
                                    "but the store is SQLite"),
])
def test_a_bad_rate_limiter_setting_names_the_key(tmp_path: Path, lifeline: str, problem: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIFELINE_STORE_URL", raising=False)
    with pytest.raises(ConfigError) as caught:
        load(write_config(tmp_path, f'store = "sqlite:///x.db"\n{lifeline}'), plugins.get_host())
    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems


@pytest.mark.postgres
def test_connectors_share_the_limits_the_config_names(tmp_path: Path, pg_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIFELINE_STORE_URL", raising=False)
    try:
        shared = load(write_config(tmp_path, f'store = "{pg_url}"\nrate_limiter = "postgresql"'), plugins.get_host())
        build_connector(shared.setups["acme.aip"])
        assert isinstance(shared_limits(), PostgresLimits)
        alone = load(write_config(tmp_path, f'store = "{pg_url}"'), plugins.get_host())
        build_connector(alone.setups["acme.aip"])
        assert shared_limits() is None  # the default: each process its own windows
    finally:
        share_limits(None)
