"""The sandbox's HR works Lifeline's next steps as a person would: "confirm attended" only for a candidate who did
come (they ask the interviewer first), otherwise the other step the task offers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from lifeline_hub.core.config import load
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.models.time import freeze_clock, reset_clock
from lifeline_hub.core.plugins import get_host
from lifeline_hub.core.sandbox import Booking, Intent, Kind, Sandbox, Traits
from tests.conftest import ROOT

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TRAITS = Traits(phone_ok=True, email_ok=True, scanner=False, sms_read=1.0, email_read=1.0, intent=Intent.attend,
                late=False, device_trouble=False, wants_second_chance=False)
TASK = ("【待决定】{name} 的面试\n下一步：请点击“确认已参加”；如候选人没有来，可邀请候选人改约。\n"
        "确认已参加: https://jobs.example.com/hr/attended{n:02d}\n邀请候选人改约: https://jobs.example.com/hr/offer{n:02d}\n\n"
        "lifeline:interview=sandbox.feishu%2F{remote}")


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[str]]]:
    """Lifeline's HR pages as a stub that notes which step was taken."""
    taken: list[str] = []
    app = FastAPI()

    @app.post("/hr/{token}")
    def step(token: str) -> dict[str, str]:
        taken.append(token)
        return {}

    freeze_clock(START)
    try:
        with LoopbackServer(app) as server:
            yield server.url, taken
    finally:
        reset_clock()


def test_hr_confirms_attendance_only_for_a_candidate_who_came(receiver: tuple[str, list[str]]) -> None:
    url, taken = receiver
    bookings = [Booking(f"req-{i:04d}", f"候选人{i}", f"1380000000{i}", f"c{i}@example.com", Kind.live, START,
                        START + timedelta(hours=1), START + timedelta(hours=2), TRAITS, remote_id=f"71000{i}",
                        truth=truth) for i, truth in enumerate(["attended", "missed_read_no_show"] * 10)]
    sandbox = Sandbox(load(ROOT / "plugins.toml", get_host()), "sandbox", {}, url, bookings, 3)
    sandbox.by_remote.update({b.remote_id: b for b in bookings})
    for n, b in enumerate(bookings):
        sandbox.take_next_step(TASK.format(name=b.name, n=n, remote=b.remote_id))
    steps = {int(token[-2:]): token[:-2] for token in taken}
    assert 14 <= len(steps) < 20  # most tasks are worked, each once
    assert all(step == ("attended" if bookings[n].truth == "attended" else "offer") for n, step in steps.items())
