"""An interview Lifeline moves (the candidate asked, HR agreed) is judged by what happens in its new window: the
sandbox's truth follows it there, it is no `rescheduled`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from lifeline_hub.connectors.aiplatform.emulator_state import AIPlatformWorld
from lifeline_hub.core.config import load
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.models.time import freeze_clock, reset_clock
from lifeline_hub.core.plugins import get_host
from lifeline_hub.core.sandbox import Booking, Intent, Kind, Sandbox, Traits
from tests.conftest import ROOT

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TRAITS = Traits(phone_ok=True, email_ok=True, scanner=False, sms_read=1.0, email_read=1.0, intent=Intent.reschedule,
                late=False, device_trouble=False, wants_second_chance=False)


@pytest.fixture
def frozen() -> Iterator[datetime]:
    try:
        yield freeze_clock(START)
    finally:
        reset_clock()


def _asked_to_move(seed: int) -> tuple[Sandbox, Booking]:
    """A video interview tomorrow whose candidate asked (through Lifeline's page) for the day after."""
    start = START + timedelta(days=1)
    b = Booking("req-0001", "王伟", "13800000001", "c1@example.com", Kind.live, START, start,
                start + timedelta(minutes=45), TRAITS, remote_id="7100000000000000001")
    b.facts.update(answered=START, asked_to_move=START, picked_slot=START)
    b.asked_for = start + timedelta(days=1)
    return Sandbox(load(ROOT / "plugins.toml", get_host()), "sandbox", {}, "http://127.0.0.1:9", [b], seed), b


@pytest.mark.parametrize("seed", range(1, 9))
def test_an_interview_lifeline_moves_is_judged_in_its_new_window(frozen: datetime, seed: int) -> None:
    sandbox, b = _asked_to_move(seed)
    old_end, new_start = b.end, b.asked_for
    assert new_start is not None
    sandbox.agreed_to_move(b)
    assert (b.start, b.end) == (new_start, new_start + timedelta(minutes=45))
    sandbox.advance_to(old_end + timedelta(hours=1))
    sandbox.settle(utcnow())
    assert b.truth == ""  # the old window is over, the interview is not
    sandbox.advance_to(b.end + timedelta(minutes=1))
    sandbox.settle(utcnow())
    came = b.traits.intent is Intent.attend
    assert b.truth == ("attended" if came else "missed_not_reached"), b.facts
    assert came == ("joined" in b.facts)


def test_most_candidates_whose_wish_was_met_come_and_some_do_not(frozen: datetime) -> None:
    truths = []
    for seed in range(1, 41):
        sandbox, b = _asked_to_move(seed)
        sandbox.agreed_to_move(b)
        sandbox.advance_to(b.end + timedelta(minutes=1))
        sandbox.settle(utcnow())
        truths.append(b.truth)
        reset_clock()
        freeze_clock(START)
    assert 0.7 < truths.count("attended") / len(truths) < 1 and "missed_not_reached" in truths


def test_hr_agreeing_after_the_start_still_moves_it_unless_the_candidate_came(frozen: datetime) -> None:
    sandbox, b = _asked_to_move(1)
    new_start = b.asked_for
    sandbox.advance_to(b.end + timedelta(minutes=1))
    sandbox.settle(utcnow())
    assert b.truth == "missed_declined"  # asked to move, nobody agreed yet
    sandbox.agreed_to_move(b)  # HR agrees late: the request stands, Lifeline moves it
    assert (b.truth, b.start) == ("", new_start)
    came, b = _asked_to_move(2)
    b.facts["joined"] = START  # came after all
    before = dataclasses.replace(b, facts=dict(b.facts))
    came.agreed_to_move(b)
    assert (b.start, b.end, b.facts) == (before.start, before.end, before.facts)


@pytest.mark.parametrize("seed", range(1, 6))
def test_an_ai_interview_moved_earlier_than_its_platform_session_is_taken_when_the_session_opens(
        frozen: datetime, seed: int) -> None:
    world = AIPlatformWorld()
    world.clock.freeze(START.timestamp())
    start = START + timedelta(days=2)
    b = Booking("req-0002", "李娜", "13800000002", "c2@example.com", Kind.ai, START, start, start + timedelta(hours=24),
                TRAITS)
    b.asked_for = start - timedelta(hours=12)  # the candidate picked a time before the invitation opens
    sandbox = Sandbox(load(ROOT / "plugins.toml", get_host()), "sandbox", {"aiplatform": world}, "http://127.0.0.1:9",
                      [b], seed)
    sandbox.outage = None  # the platform has no bad afternoon here
    sandbox.setup()
    sandbox.advance_to(START + timedelta(hours=1))
    sandbox.agreed_to_move(b)
    sandbox.advance_to(b.end + timedelta(minutes=1))  # no refusal: the candidate went once the session opened
    sandbox.settle(utcnow())
    came = b.traits.intent is Intent.attend
    assert b.truth == ("attended" if came else "missed_not_reached") and came == ("joined" in b.facts)
    assert not came or start <= b.facts["joined"] < b.end
    assert (world.get(b.remote_id)["status"] == "submitted") == came
