"""The WeCom connector runs the conformance suite."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lifeline_hub.connectors.wecom.emulator_state import EmulatorSettings, WeComWorld
from lifeline_hub.connectors.wecom.plugin import WeComConnector
from lifeline_hub.core.conformance import ConnectorSuite, Rig, Seed, SuiteClock

SENDER = "hr01"


def world_of(rig: Rig) -> WeComWorld:
    assert isinstance(rig.world, WeComWorld)
    return rig.world


class TestWeCom(ConnectorSuite):
    connector = WeComConnector
    settings: ClassVar[Mapping[str, Any]] = {
        "corp_id": "wwemulatorcorp0001", "agent_id": 1000002, "contact_sender": SENDER, "http_timeout_seconds": 0.5,
    }

    def make_world(self, clock: SuiteClock) -> WeComWorld:
        return WeComWorld(EmulatorSettings(), now=clock.time)

    def seed_stream(self, stream: str, rig: Rig, round: int) -> Seed:
        """A candidate who added the recruiter gets a customer-contact message, which the recruiter confirms."""
        world = world_of(rig)
        candidate = world.contact.add_contact(SENDER, f"wmconformance{round:04d}")["external_userid"]
        payload = {"recipients": [candidate], "title": "Interview tomorrow", "text": "10:00, room 3",
                   "audience": "candidate", "purpose": "reminder_t1d"}
        result = rig.perform(rig.action("send_message", payload))
        staged = result.detail.get("msgid") or result.remote_id
        world.contact.confirm(str(staged), SENDER)
        return result.handoff.get(stream, {})

    def action_payload(self, kind: str, rig: Rig) -> Mapping[str, Any]:
        if kind == "send_message":
            return {"recipients": ["iv01"], "title": "Interview today", "text": "10:00, room 3", "audience": "staff",
                    "purpose": "reminder_t1h", "links": [{"label": "Join", "url": "https://lifeline.test/j/1"}]}
        return {"assignees": ["hr01"], "title": "Call the candidate", "description": "Did not join.",
                "links": [{"label": "Evidence", "url": "https://lifeline.test/e/7"}]}

    def vendor_effects(self, kind: str, rig: Rig) -> int:
        world = world_of(rig)
        with world.lock:
            cards = [m for m in world.messages if m.task_id is not None]
            return len(cards) if kind == "create_task" else len(world.messages) - len(cards)

    def deny_permission(self, rig: Rig) -> None:
        world_of(rig).deny_actions(["message.send", "externalcontact.add_msg_template"], 48002)
