"""The Weaver e-cology connector runs the conformance suite (on a SQLite file and on PostgreSQL)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from typing import Any, ClassVar

from lifeline_hub.connectors.weaver.emulator_settings import EmulatorSettings
from lifeline_hub.connectors.weaver.emulator_state import WeaverWorld
from lifeline_hub.connectors.weaver.plugin import WeaverConnector
from lifeline_hub.connectors.weaver.testing import APPROVER, FORM
from lifeline_hub.core.conformance import ConnectorSuite, Rig, Seed, SuiteClock
from lifeline_hub.core.connections import Credentials

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
        """Each world registers afresh: its regist pair kept in a file of its own."""
        return {"registration_file": f"{tempfile.mkdtemp(prefix='weaver-conformance-')}/registration.json"}

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
