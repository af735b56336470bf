"""The DingTalk connector runs the conformance suite."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from lifeline_hub.connectors.dingtalk.emulator_state import DingTalkWorld, EmulatorSettings
from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector
from lifeline_hub.core.conformance import ConnectorSuite, Rig, Seed, SuiteClock

HOUR = 3600.0
MOVED = "Interview moved: Zhang San"
PROCESS = "PROC-RESCHEDULE"


def world_of(rig: Rig) -> DingTalkWorld:
    assert isinstance(rig.world, DingTalkWorld)
    return rig.world


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def delivered_copies(world: DingTalkWorld) -> int:
    """Work notice copies that reached a person (DingTalk filters the same content to the same person within a
    day: a refused copy is no effect)."""
    return sum(state in ("unread", "read") for notice in world.notices.values() for state in notice.status.values())


class TestDingTalk(ConnectorSuite):
    connector = DingTalkConnector
    settings: ClassVar[Mapping[str, Any]] = {
        "corp_id": "dingcorp0001", "agent_id": 3000000001, "operator_union_id": "union1", "ats_op_user_id": "u1",
        "calendar_owners": ["union1"], "approval_process_codes": [PROCESS], "attendance_user_ids": ["u2", "u3"],
        "read_timeout_seconds": 0.5, "poll_workers": 2,
    }

    def make_world(self, clock: SuiteClock) -> DingTalkWorld:
        world = DingTalkWorld(EmulatorSettings(), now=clock.time, qps_clock=clock.monotonic)
        for i in range(1, 5):
            world.add_user(f"u{i}", union_id=f"union{i}", name=f"User {i}")
        return world

    def seed_stream(self, stream: str, rig: Rig, round: int) -> Seed:
        world, now = world_of(rig), rig.clock.time()
        if stream in ("receipts", "tasks"):
            kind = "send_message" if stream == "receipts" else "create_task"
            result = rig.perform(rig.action(kind, self.action_payload(kind, rig)))
            return result.handoff.get(stream, {})
        if stream == "interviews":
            world.add_interview(f"cand-{round}", now + round * HOUR, now + round * HOUR + 1800, ["u2"])
        elif stream == "calendar":
            world.add_calendar_event("union1", f"面试 round {round}", now + round * HOUR, now + (round + 1) * HOUR,
                                     ["union2"])
        elif stream == "attendance":
            day = datetime.fromtimestamp(now, world.tz).replace(hour=0, minute=0, second=0, microsecond=0)
            world.add_leave(f"u{round + 1}", day.timestamp() + 8 * HOUR, day.timestamp() + 19 * HOUR)
        return {}

    def action_payload(self, kind: str, rig: Rig) -> Mapping[str, Any]:
        now = rig.clock.time()
        if kind == "send_message":
            return {"recipients": ["u2"], "title": "Interview today", "text": "10:00, room 3", "audience": "staff"}
        if kind == "create_task":
            return {"assignees": ["union2"], "title": "Call the candidate", "description": "Did not join.",
                    "links": [{"label": "Evidence", "url": "https://lifeline.test/e/7"}]}
        if kind == "close_task":
            with rig.world.faults.paused():
                task = rig.perform(rig.action("create_task", self.action_payload("create_task", rig)))
            return {"task_id": task.remote_id, "assignees": ["union2"], "title": "Call the candidate"}
        if kind == "create_approval":
            return {"originator": "u1", "approvers": ["u2"], "process_code": PROCESS, "title": "Reschedule",
                    "fields": {"Reason": "candidate ill"}}
        event = {"organizer": "union1", "attendees": ["union2"], "summary": "Interview: Zhang San",
                 "start_at": iso(now + 24 * HOUR), "end_at": iso(now + 25 * HOUR), "ical_uid": "iv-7@lifeline.test"}
        if kind == "create_calendar_event":
            return event
        made = world_of(rig).add_calendar_event("union1", "Interview: Zhang San", now + 24 * HOUR, now + 25 * HOUR)
        return {**event, "summary": MOVED, "sequence": 1, "remote_event_id": made,
                "start_at": iso(now + 48 * HOUR), "end_at": iso(now + 49 * HOUR)}

    def vendor_effects(self, kind: str, rig: Rig) -> int:
        world = world_of(rig)
        with world.lock:
            return {
                "send_message": delivered_copies(world) + len(world.pushes),
                "create_task": len(world.todos),
                "close_task": sum(1 for t in world.todos.values() if t["done"]),
                "create_approval": len(world.approvals),
                "create_calendar_event": sum(1 for e in world.calendar.values() if e.get("summary") != MOVED),
                "update_calendar_event": sum(1 for e in world.calendar.values() if e.get("summary") == MOVED),
            }[kind]

    def deny_permission(self, rig: Rig) -> None:
        world_of(rig).deny_apis(["*"])
