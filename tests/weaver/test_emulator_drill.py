"""The bench's Weaver drill, small: 20 reschedule approvals through the outbox and the real connector against the
faulty emulator (answers lost after the workflow was made, expired tokens, 500 pages) make 20 workflows and no
duplicate, counted at the emulator, on a SQLite file and on PostgreSQL; every answer the connector's own traffic
drew keeps the vendor contract."""

from __future__ import annotations

from pathlib import Path

from lifeline_hub.connectors.weaver.emulator_state import WeaverWorld
from tests.bench.bench_weaver import LOST_CREATE, drill
from tests.contracts.test_weaver_contract import answer_problems


def test_twenty_reschedule_requests_make_twenty_workflows_and_no_duplicate(db_url: str, tmp_path: Path) -> None:
    world = WeaverWorld()
    figures = drill(db_url, 20, tmp_path, world)
    assert figures["weaver_lost_answers"] >= 20 // LOST_CREATE  # the faults the figures must survive did happen
    assert (figures["weaver_workflows_created"], figures["weaver_duplicate_workflows"],
            figures["weaver_requests_not_done"]) == (20, 0, 0)
    broken = {f"{s.method} {s.route}": answer_problems(s) for s in world.served if answer_problems(s)}
    assert broken == {}
    assert {s.route.rsplit("/", 1)[-1] for s in world.served} >= {
        "regist", "applytoken", "doCreateRequest", "submitRequest", "getMyWorkflowRequestList"}
