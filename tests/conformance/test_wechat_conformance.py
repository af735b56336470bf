"""The wechat (Official Account) connector runs the conformance suite."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lifeline_hub.connectors.wecom.oa_plugin import WeChatConnector
from lifeline_hub.connectors.wecom.oa_state import EmulatorSettings, OaWorld
from lifeline_hub.core.conformance import ConnectorSuite, Rig, SuiteClock
from lifeline_hub.core.models import Candidate, Channel, ContactPoint

ATS = "acme.ats"
FOLLOWER = "oEmulatorFollower0001"
TEMPLATES = {"reminder_t1d": {"template_id": "TPL-interview-reminder",
                              "keywords": {"thing1": "title", "time2": "line1", "thing3": "line2"}}}


def world_of(rig: Rig) -> OaWorld:
    assert isinstance(rig.world, OaWorld)
    return rig.world


class TestWeChat(ConnectorSuite):
    connector = WeChatConnector
    settings: ClassVar[Mapping[str, Any]] = {"app_id": EmulatorSettings().app_id, "templates": TEMPLATES,
                                             "http_timeout_seconds": 0.5}
    candidates = (Candidate(source=ATS, remote_id="cand1", name="张三",
                            contacts=(ContactPoint.im(Channel.wechat, FOLLOWER),)),)

    def make_world(self, clock: SuiteClock) -> OaWorld:
        return OaWorld(EmulatorSettings(push_background=False), now=clock.time)

    def action_payload(self, kind: str, rig: Rig) -> Mapping[str, Any]:
        return {"recipients": [FOLLOWER], "title": "Java 工程师面试", "text": "2026年3月3日 10:00\n线上",
                "purpose": "reminder_t1d", "audience": "candidate",
                "links": [{"label": "进入面试", "url": "https://lifeline.test/j/abc"}]}

    def vendor_effects(self, kind: str, rig: Rig) -> int:
        world = world_of(rig)
        with world.lock:
            return len(world.messages)

    def deny_permission(self, rig: Rig) -> None:
        world_of(rig).deny_apis(["*"])
