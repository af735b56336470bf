"""The Feishu connector runs the conformance suite."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from lifeline_hub.connectors.feishu.emulator_state import EmulatorSettings, FeishuWorld
from lifeline_hub.connectors.feishu.plugin import FeishuConnector
from lifeline_hub.core.conformance import ConnectorSuite, Rig, Seed, SuiteClock
from lifeline_hub.core.emulator import EmulatorWorld

HOUR = 3600
APPROVAL = "RESCHEDULE"
MOVED = "Interview moved"


def world_of(rig: Rig) -> FeishuWorld:
    assert isinstance(rig.world, FeishuWorld)
    return rig.world


def user(world: FeishuWorld, name: str) -> str:
    """The open_id of the tenant member `name` (added on first use)."""
    found = next((u.open_id for u in world.users.values() if u.name == name), None)
    return found or world.add_user(name)["open_id"]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class TestFeishu(ConnectorSuite):
    connector = FeishuConnector
    settings: ClassVar[Mapping[str, Any]] = {
        "tasklist_guid": "tl-0001-lifeline", "approval_codes": [APPROVAL], "meeting_attendance": True,
        "http_timeout_seconds": 0.5, "receipt_workers": 2,
    }

    def make_world(self, clock: SuiteClock) -> FeishuWorld:
        world = FeishuWorld(EmulatorSettings(), now=clock.time)
        world.add_calendar("Interviews")
        world.add_approval_definition(APPROVAL, "Reschedule")
        return world

    def world_settings(self, world: EmulatorWorld[Any]) -> Mapping[str, Any]:
        assert isinstance(world, FeishuWorld)
        return {"calendar_id": next(iter(world.calendars))}

    def event(self, rig: Rig, start: float, summary: str = "Interview") -> str:
        """A calendar event Lifeline made (through the connector), `start` to an hour later."""
        payload = {"organizer": user(world_of(rig), "HR"), "summary": summary, "start_at": iso(start),
                   "end_at": iso(start + HOUR), "ical_uid": f"iv-{start}@lifeline"}
        row = rig.action("create_calendar_event", payload).model_copy(update={"interview_id": "acme.hire/42"})
        return rig.perform(row).remote_id

    def seed_stream(self, stream: str, rig: Rig, round: int) -> Seed:
        world, now = world_of(rig), int(rig.clock.time())
        calendar = str(rig.settings["calendar_id"])
        if stream == "interviews":
            world.add_hire_interview(f"700{round}", f"900{round}", (now + round * HOUR) * 1000,
                                     (now + (round + 1) * HOUR) * 1000, [user(world, "Alice")])
        elif stream == "rsvps":
            event = self.event(rig, now + 24 * HOUR + round * HOUR)
            world.add_attendee(calendar, event, email=f"candidate{round}@example.com", rsvp="accept")
        elif stream == "receipts":
            alice = user(world, "Alice")
            result = rig.perform(rig.action("send_message", {"recipients": [alice], "title": "t", "text": "x",
                                                              "audience": "staff"}))
            world.mark_read(result.remote_id, alice)
            return result.handoff.get(stream, {})
        elif stream == "attendance":
            start = now - 3 * HOUR + round * 60
            self.event(rig, start)
            meeting = world.hold_meeting(f"12345678{round}", start, start + HOUR, "Interview")
            world.join_meeting(meeting, start + 60, start + HOUR, user=user(world, "Alice"))
        elif stream == "tasks":
            hr = user(world, "HR")
            result = rig.perform(rig.action("create_task", {"assignees": [hr], "title": f"Call back {round}",
                                                             "description": "d"}))
            world.complete_task(result.remote_id.removeprefix("task/"), hr)
            return result.handoff.get(stream, {})
        elif stream == "approvals":
            result = rig.perform(rig.action("create_approval", self.action_payload("create_approval", rig)))
            return result.handoff.get(stream, {})
        return {}

    def action_payload(self, kind: str, rig: Rig) -> Mapping[str, Any]:
        world, now = world_of(rig), rig.clock.time()
        hr = user(world, "HR")
        if kind == "send_message":
            return {"recipients": [user(world, "Alice")], "title": "Interview today", "text": "10:00",
                    "audience": "staff"}
        if kind == "create_task":
            return {"assignees": [hr], "title": "Call the candidate", "description": "Did not join."}
        if kind == "create_approval":
            return {"originator": hr, "process_code": APPROVAL, "title": "Reschedule", "fields": {}}
        event = {"organizer": hr, "summary": "Interview", "start_at": iso(now + 24 * HOUR),
                 "end_at": iso(now + 25 * HOUR), "ical_uid": "iv-7@lifeline.test"}
        if kind == "create_calendar_event":
            return event
        made = self.event(rig, now + 24 * HOUR)
        return {**event, "summary": MOVED, "sequence": 1, "remote_event_id": made,
                "start_at": iso(now + 48 * HOUR), "end_at": iso(now + 49 * HOUR)}

    def vendor_effects(self, kind: str, rig: Rig) -> int:
        world = world_of(rig)
        with world.lock:
            events = [e for e in world.calendar_events.values() if e.status != "cancelled"]
            return {
                "send_message": len(world.messages),
                "create_task": len(world.tasks),
                "create_approval": len(world.approvals),
                "create_calendar_event": sum(1 for e in events if e.fields.get("summary") != MOVED),
                "update_calendar_event": sum(1 for e in events if e.fields.get("summary") == MOVED),
            }[kind]

    def deny_permission(self, rig: Rig) -> None:
        world_of(rig).grant_scopes([])
