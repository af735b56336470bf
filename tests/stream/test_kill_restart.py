"""Done-when of issue 19: the listener killed at random points while the emulator streams 1,000 events,
restarted each time: every event stored exactly once (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from tests.stream.kill_drill import kill_drill


def test_every_event_stored_exactly_once_through_kills(db_url: str, tmp_path: Path) -> None:
    result = kill_drill(db_url, tmp_path, events=1000, kills=4, seed=19)
    assert result.lost == 0
    assert result.stored_twice == 0
    assert result.records == 1000
    assert result.sends > 1000  # the kills cost redeliveries, which stored nothing twice
