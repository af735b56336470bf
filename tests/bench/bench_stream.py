"""Stream mode (issue 19): the DingTalk emulator streams 1,000 events (200 with --quick) while
`lifeline listen` is SIGKILLed at random points 5 times and restarted (a SQLite store).

- `stream_events_lost`: emitted events not stored (must be 0).
- `stream_duplicates_stored`: events stored more than once (must be 0).
- `stream_redeliveries`: frames sent beyond one per event (what the kills cost).
- `stream_drill_seconds`: wall time of the drill, process starts included.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.stream.kill_drill import kill_drill


def run(quick: bool) -> dict[str, float | int]:
    events = 200 if quick else 1000
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        result = kill_drill(f"sqlite:///{tmp}/store.db", Path(tmp), events=events, kills=5, seed=7)
    return {"stream_events_lost": result.lost, "stream_duplicates_stored": result.stored_twice,
            "stream_redeliveries": result.sends - result.events, "stream_drill_seconds": result.seconds}
