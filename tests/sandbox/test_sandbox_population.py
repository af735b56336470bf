"""The simulated population: repeatable, inside working hours, and behaving by the stated rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lifeline_hub.core.models import zone_info
from lifeline_hub.core.sandbox import Booking, Intent, Kind, Traits, draw, draw_live, truth_of
from lifeline_hub.core.sandbox.population import no_show_rate

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
SHANGHAI = timedelta(hours=8)


def test_a_seed_draws_the_same_world_and_another_seed_a_different_one() -> None:
    first, again, other = draw(5, 80, 5, NOW, SHANGHAI), draw(5, 80, 5, NOW, SHANGHAI), draw(6, 80, 5, NOW, SHANGHAI)
    assert [(b.name, b.start, b.traits) for b in first] == [(b.name, b.start, b.traits) for b in again]
    assert [b.start for b in first] != [b.start for b in other]


def test_interviews_fall_on_working_days_inside_the_run_and_are_booked_ahead() -> None:
    bookings = draw(1, 300, 5, NOW, SHANGHAI)
    zone = zone_info("Asia/Shanghai")
    assert {b.kind for b in bookings} == {Kind.ai, Kind.live}
    for b in bookings:
        local = b.start.astimezone(zone)
        assert NOW + timedelta(hours=1) < b.start < NOW + timedelta(days=5)
        assert 9 <= local.hour <= 17 and b.end > b.start
        assert NOW <= b.booked_at < b.start
        assert b.ref != b.email != b.phone
    phones = [b.phone for b in bookings if b.phone]
    assert len(set(phones)) == len(phones)  # one candidate per number: an SMS maps back to them
    assert 0.1 < 1 - len(phones) / len(bookings) < 0.3  # some candidates give only an e-mail address


def test_no_shows_grow_with_the_lead_time() -> None:
    assert no_show_rate(timedelta(days=1)) < no_show_rate(timedelta(days=4)) < no_show_rate(timedelta(days=30))
    assert no_show_rate(timedelta(days=30)) == 0.30
    bookings = draw(2, 2000, 5, NOW, SHANGHAI)
    no_shows = sum(b.traits.intent is Intent.no_show for b in bookings) / len(bookings)
    assert 0.08 < no_shows < 0.25


def booking(kind: Kind = Kind.ai, **facts: datetime) -> Booking:
    traits = Traits(phone_ok=True, email_ok=True, scanner=False, sms_read=1.0, email_read=1.0, intent=Intent.attend,
                    late=False, device_trouble=False, wants_second_chance=False)
    start = NOW + timedelta(days=1)
    return Booking("r", "n", "13800000000", "a@example.com", kind, NOW, start, start + timedelta(hours=1), traits,
                   facts=dict(facts))


def test_truth_is_what_happened_in_the_order_the_outcome_classes_use() -> None:
    t = NOW + timedelta(days=1, minutes=1)
    assert truth_of(booking(submitted=t, technical=t)) == "attended"
    assert truth_of(booking(joined=t)) == "attended_partial"
    assert truth_of(booking(Kind.live, joined=t, late=t + timedelta(minutes=15))) == "attended_late"
    assert truth_of(booking(technical=t, reached=t)) == "missed_technical"
    assert truth_of(booking(declined=t, reached=t)) == "missed_declined"
    assert truth_of(booking(reached=t)) == "missed_read_no_show"
    assert truth_of(booking()) == "missed_not_reached"
    assert truth_of(booking(moved=t, submitted=t)) == "attended"  # a move is history: judged in its new window


def test_the_live_draw_starts_within_the_hour_so_the_first_half_hour_shows_the_whole_loop() -> None:
    """`make airflow` at any hour: windows closing within minutes (decided after the grace), starts from 10
    minutes on, T-1h reminders due in the first half hour, live interviews HR moves; all booked at start-up."""
    night = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai: no waiting for tomorrow's office hours
    bookings = draw_live(1, 40, night)
    assert [(b.name, b.start, b.traits) for b in bookings] == [(b.name, b.start, b.traits) for b in draw_live(1, 40,
                                                                                                             night)]
    assert len(bookings) == 40 and all(b.booked_at == night and b.end > b.start for b in bookings)
    closing = [b for b in bookings if b.start < night]
    assert closing and all(b.kind is Kind.ai and night < b.end <= night + timedelta(minutes=5) for b in closing)
    upcoming = [b.start - night for b in bookings if b.start >= night]
    assert timedelta(minutes=10) <= min(upcoming) <= timedelta(minutes=20)
    first = next(b for b in bookings if b.start >= night)
    assert first.kind is Kind.live and first.hr_moves  # moved in the ATS halfway to its start: decided at once
    assert max(upcoming) <= timedelta(hours=4)
    reminded = [b for b in bookings if night <= b.start - timedelta(hours=1) <= night + timedelta(minutes=30)]
    assert len(reminded) >= 3 and any(b.traits.intent is Intent.reschedule for b in reminded)
    assert any(b.hr_moves for b in bookings) and {b.kind for b in bookings} == {Kind.ai, Kind.live}
