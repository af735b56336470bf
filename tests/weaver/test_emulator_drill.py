"""The bench's Weaver drill, small: 20 reschedule approvals through the outbox and the real connector against the
faulty emulator (answers lost after the workflow was made, expired tokens, 500 pages) make 20 workflows and no
duplicate, counted at the emulator, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from tests.bench.bench_weaver import LOST_CREATE, drill


def test_twenty_reschedule_requests_make_twenty_workflows_and_no_duplicate(db_url: str, tmp_path: Path) -> None:
    figures = drill(db_url, 20, tmp_path)
    assert figures["weaver_lost_answers"] >= 20 // LOST_CREATE  # the faults the figures must survive did happen
    assert (figures["weaver_workflows_created"], figures["weaver_duplicate_workflows"],
            figures["weaver_requests_not_done"]) == (20, 0, 0)
