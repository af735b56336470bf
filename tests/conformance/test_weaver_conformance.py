"""The Weaver e-cology connector runs the conformance suite (on a SQLite file and on PostgreSQL)."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lifeline_hub.connectors.weaver import client as weaver_client
from lifeline_hub.connectors.weaver.emulator_settings import EmulatorSettings
from lifeline_hub.connectors.weaver.emulator_state import WeaverWorld
from lifeline_hub.connectors.weaver.plugin import WeaverConnector
from lifeline_hub.connectors.weaver.testing import APPROVER, FORM, Emulated, emulated
from lifeline_hub.core.config import ConnectorSetup, InstanceConfig
from lifeline_hub.core.conformance import ConnectorSuite, Rig, Seed, SuiteClock
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.connector import ActionResult
from lifeline_hub.core.http import InvalidRequest, VendorError
from lifeline_hub.core.models import Action, utcnow
from lifeline_hub.core.store import Store
from lifeline_hub.core.sync import SyncSummary, sync_stream

LINKS = [{"label": "案例", "url": "https://lifeline.test/c/7"}]


def world_of(rig: Rig) -> WeaverWorld:
    assert isinstance(rig.world, WeaverWorld)
    return rig.world


class TestWeaver(ConnectorSuite):
    connector = WeaverConnector
    settings: ClassVar[Mapping[str, Any]] = {
        "actor_userid": "101", "workflow": FORM, "ofs_syscode": "lifeline", "message_source_code": "559",
        "recipient_id_type": "loginIdList", "http_timeout_seconds": 0.5,
    }

    def make_world(self, clock: SuiteClock) -> WeaverWorld:
        return WeaverWorld(EmulatorSettings(), now=clock.time)

    def world_settings(self, world: Any) -> Mapping[str, Any]:
        """Each world registers afresh: its regist pair kept in a file of its own, removed with the world."""
        folder = tempfile.mkdtemp(prefix="weaver-conformance-")
        weakref.finalize(world, shutil.rmtree, folder, ignore_errors=True)
        return {"registration_file": f"{folder}/registration.json"}

    def bad_credentials(self, good: Credentials | None) -> Credentials:
        return Credentials(conn_id="conformance_weaver", conn_type="weaver", login="00000000-not-registered")

    def seed_stream(self, stream: str, rig: Rig, round: int) -> Seed:
        """A reschedule approval Lifeline starts, which HR approves in round 2."""
        result = rig.perform(rig.action("create_approval", self.action_payload("create_approval", rig)))
        if round == 2:
            world_of(rig).approve(int(result.remote_id), APPROVER)
        return result.handoff.get(stream, {})

    def action_payload(self, kind: str, rig: Rig) -> Mapping[str, Any]:
        if kind == "send_message":
            return {"recipients": ["liqiang"], "title": "今天面试", "text": "10:00 三号会议室", "audience": "staff",
                    "purpose": "reminder_t1h", "links": LINKS}
        if kind == "create_task":
            return {"assignees": ["wangfang"], "title": "请联系候选人", "description": "候选人未参加面试。",
                    "links": LINKS}
        if kind == "close_task":
            with rig.world.faults.paused():
                made = rig.perform(rig.action("create_task", self.action_payload("create_task", rig)))
            return {"task_id": made.remote_id, "assignees": ["wangfang"], "title": "请联系候选人", "links": LINKS}
        return {"originator": "101", "process_code": "1001", "title": "面试改期申请：张三",
                "fields": {"candidate": "张三", "reason": "出差", "slots": "1. 06-02 10:00"}}

    def vendor_effects(self, kind: str, rig: Rig) -> int:
        world = world_of(rig)
        if kind == "create_approval":
            return world.workflows_created()
        if kind == "send_message":
            return sum(1 for n in world.messages.inspect() if not n["deleted"] and n["title"] == "今天面试")
        todos = world.ofs.inspect()
        if kind == "create_task":
            return len(todos)
        return sum(1 for t in todos if str(t["isremark"]) == "2")


# ---------------------------------------------------------------- bad input through the real sync, into the store


@pytest.fixture
def synced(tmp_path: Path, db_url: str) -> Iterator[tuple[Emulated, Store, ConnectorSetup]]:
    """An emulator on the suite's clock, a migrated store (SQLite file and PostgreSQL), the instance's setup."""
    store = Store(db_url)
    store.upgrade()
    with SuiteClock(ConnectorSuite.start).running() as clock, emulated(tmp_path, now=clock.time) as wv:
        weaver_client._SITES.clear()
        setup = ConnectorSetup("acme", "weaver", InstanceConfig(plugin="weaver"), WeaverConnector, wv.settings(),
                               wv.instance)
        yield wv, store, setup


def _approval(wv: Emulated, key: str, **fields: str) -> ActionResult:
    now = utcnow()
    return wv.connector().perform(Action(
        idempotency_key=key, tenant="acme", connector="acme.weaver", kind="create_approval", due_at=now, attempts=1,
        handed_at=now, payload={"originator": "101", "process_code": "1001", "title": "面试改期申请：张三",
                                "fields": {"candidate": "张三", "reason": "出差", **fields}}))


def _sync(wv: Emulated, store: Store, setup: ConnectorSetup) -> SyncSummary:
    return sync_stream(store, setup, "workflows", wv.connector())


@pytest.mark.parametrize(("fault", "api", "says"), [
    ("token_expired", "getRequestStatus", "token不存在或者超时"),
    ("html_500", "getRequestLog", "HTTP 500"),
    ("list_error", "getMyWorkflowRequestList", "SYSTEM_INNER_ERROR"),
])
def test_a_failed_poll_is_a_typed_error_and_keeps_the_cursor(
        synced: tuple[Emulated, Store, ConnectorSetup], fault: str, api: str, says: str) -> None:
    """Expired token mid-poll (after its one re-apply), a 500 page, an error object where an array belongs: the
    sync records the vendor's words, stores nothing of the pass and keeps the cursor; the next pass catches up."""
    wv, store, setup = synced
    first = _approval(wv, "ll-weaver-1")
    assert _sync(wv, store, setup).error is None
    before = store.stream_state("acme.weaver", "workflows")
    wv.world.approve(int(first.remote_id), APPROVER)
    wv.world.fail_next(fault, times=8, api=api)  # type: ignore[arg-type]
    with pytest.raises(VendorError, match=says):
        _sync(wv, store, setup)
    after = store.stream_state("acme.weaver", "workflows")
    assert after.last_error is not None and says in after.last_error
    assert after.cursor == before.cursor and after.watermark == before.watermark
    assert store.count("evidence", kind="reschedule_request", type="approved") == 0
    wv.world.forced.clear()
    assert _sync(wv, store, setup).error is None
    assert store.count("evidence", kind="reschedule_request", type="approved") == 1


def test_an_unreadable_result_stays_open_and_is_quarantined(synced: tuple[Emulated, Store, ConnectorSetup]) -> None:
    wv, store, setup = synced
    created = _approval(wv, "ll-weaver-2")
    assert _sync(wv, store, setup).error is None
    wv.world.delete_request(int(created.remote_id))
    summary = _sync(wv, store, setup)
    assert summary.error is None and summary.written.quarantined == 1
    [bad] = store.quarantined(source="acme.weaver")
    assert "status unreadable, left open" in bad["reason"] and "NO_PERMISSION" in bad["reason"]
    assert store.count("evidence", kind="reschedule_request", type="submitted") == 1
    assert store.count("evidence", kind="reschedule_request", type="approved") == 0
    assert store.count("evidence", kind="reschedule_request", type="refused") == 0


def test_bad_form_input_is_refused_with_the_vendors_words(synced: tuple[Emulated, Store, ConnectorSetup]) -> None:
    wv, _store, _setup = synced
    with pytest.raises(InvalidRequest, match="unknown workflow field 'salary'"):
        _approval(wv, "ll-weaver-3", salary="1")
    with pytest.raises(InvalidRequest, match="SAVE_MAIN_TABLE_FAIL"):
        _approval(wv, "ll-weaver-4", candidate="张" * 300)
    assert wv.world.workflows_created() == 0
