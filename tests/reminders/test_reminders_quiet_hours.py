"""Quiet hours in the candidate's own zone (not the tenant's), across a DST change, never past the start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from lifeline_hub.core.reminders import plan_reminders
from lifeline_hub.core.reminders.schedule import send_time
from lifeline_hub.core.store import Store
from tests.reminders.reminder_helpers import TENANT, candidate, interview, make_config, outbox

QUIET = [21, 8]


def test_sends_in_the_night_move_to_the_morning_in_shanghai(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, store.url, quiet_hours=QUIET)
    candidate(store)
    start = datetime(2026, 3, 10, 0, 30, tzinfo=UTC)  # 08:30 in Beijing
    iv = interview(store, "iv1", start)
    plan_reminders(store, TENANT, datetime(2026, 3, 1, 2, 0, tzinfo=UTC), config)
    assert [a.due_at for a in outbox(store, iv.id)] == [
        datetime(2026, 3, 7, 0, 30, tzinfo=UTC), datetime(2026, 3, 9, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 10, 0, 0, tzinfo=UTC),  # 07:30 -> 08:00 Beijing, still before the start
    ]


def test_the_candidates_zone_counts_across_a_dst_change(tmp_path: Path, store: Store) -> None:
    """New York springs forward on 2026-03-08: 08:00 local is 13:00 UTC before, 12:00 UTC after."""
    config = make_config(tmp_path, store.url, quiet_hours=QUIET)
    candidate(store, zone="America/New_York")
    start = datetime(2026, 3, 9, 11, 30, tzinfo=UTC)  # 07:30 EDT, 19:30 in the tenant's Beijing
    iv = interview(store, "iv1", start)
    plan_reminders(store, TENANT, datetime(2026, 3, 1, 2, 0, tzinfo=UTC), config)
    assert [a.due_at for a in outbox(store, iv.id)] == [
        datetime(2026, 3, 6, 13, 0, tzinfo=UTC),  # 06:30 EST -> 08:00 EST
        datetime(2026, 3, 8, 12, 0, tzinfo=UTC),  # 07:30 EDT -> 08:00 EDT
        start - timedelta(hours=1),  # 06:30 EDT: 08:00 would be after the 07:30 start, so it stays
    ]


def test_a_move_never_reaches_the_start() -> None:
    start = datetime(2026, 3, 9, 23, 45, tzinfo=UTC)  # 07:45 in Beijing
    assert send_time(start - timedelta(hours=1), start, "Asia/Shanghai", QUIET) == start - timedelta(hours=1)
    assert send_time(start - timedelta(hours=3), start, "Asia/Shanghai", [0, 0]) == start - timedelta(hours=3)
    night = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)  # 23:00 in Beijing
    assert send_time(night, start + timedelta(days=1), "Asia/Shanghai", QUIET) == datetime(2026, 3, 10, 0, 0,
                                                                                        tzinfo=UTC)
