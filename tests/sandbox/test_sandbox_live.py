"""The sandbox in real time (`make airflow`): it acts on the wall clock and leaves every clock following it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from lifeline_hub.core.airflow.standalone import serve_emulators
from lifeline_hub.core.config import load
from lifeline_hub.core.demo import on_free_ports
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.plugins import get_host
from lifeline_hub.core.sandbox import Sandbox, worlds_of
from tests.conftest import ROOT


def test_the_live_sandbox_books_on_the_wall_clock_and_moves_no_clock() -> None:
    config = on_free_ports(load(ROOT / "plugins.toml", get_host()))
    emulators = serve_emulators(config)
    stop = threading.Event()
    try:
        tenant = next(iter(config.data.tenants))
        worlds = worlds_of(config, tenant, emulators.worlds)
        people = Sandbox.populate(config, tenant, worlds, "http://127.0.0.1:9", 12, 3, seed=1)
        due = [b for b in people.bookings if b.booked_at <= utcnow()]  # booked "now": the recruiter is at it
        assert due
        live = threading.Thread(target=people.run_live, args=(stop, 0.1), daemon=True)
        live.start()
        deadline = time.monotonic() + 60
        while not all(b.remote_id for b in due) and live.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(b.remote_id for b in due) and live.is_alive()
        assert set(worlds["aiplatform"].invitations) >= {b.remote_id for b in due if b.kind == "ai"}
        assert abs(utcnow() - datetime.now(UTC)) < timedelta(minutes=1)
        assert all(abs(world.now() - time.time()) < 60 for world in worlds.values())
    finally:
        stop.set()
        emulators.stop()


def test_an_action_a_vendor_refuses_does_not_stop_the_live_sandbox() -> None:
    """A refused action (the AI platform's 409 for a submission after the window closed) killed the thread: the
    people of `make airflow` stood still for the rest of the session."""
    config = on_free_ports(load(ROOT / "plugins.toml", get_host()))
    emulators = serve_emulators(config)
    stop = threading.Event()
    try:
        tenant = next(iter(config.data.tenants))
        worlds = worlds_of(config, tenant, emulators.worlds)
        people = Sandbox(config, tenant, worlds, "http://127.0.0.1:9", [], seed=1)
        acted = threading.Event()

        def refused() -> None:
            raise RuntimeError("invitation_closed: the invitation is expired")

        people.at(utcnow(), refused)
        people.at(utcnow(), acted.set)  # due in the same step, after it
        live = threading.Thread(target=people.run_live, args=(stop, 0.05), daemon=True)
        live.start()
        assert acted.wait(30) and live.is_alive() and people.did["failed_actions"] == 1
    finally:
        stop.set()
        emulators.stop()
