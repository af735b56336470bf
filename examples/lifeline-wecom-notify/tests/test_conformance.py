"""Lifeline's conformance suite for the `wecom_notify` connector: settings, check, the action, errors, cassettes."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, ClassVar

from lifeline_hub.core.api import SendMessage
from lifeline_hub.core.conformance import ConnectorSuite, Rig, SuiteClock

from lifeline_wecom_notify.emulator import WeComWorld
from lifeline_wecom_notify.plugin import WeComNotifyConnector

_texts = itertools.count(1)


class TestWeComNotify(ConnectorSuite):
    connector = WeComNotifyConnector
    settings: ClassVar[Mapping[str, Any]] = {
        "corp_id": "wwemulatorcorp0001", "agent_id": 1000002, "http_timeout_seconds": 0.5}

    def make_world(self, clock: SuiteClock) -> WeComWorld:
        return WeComWorld(now=clock.time)

    def action_payload(self, kind: str, rig: Rig) -> Mapping[str, Any]:
        # each row a different text: WeCom's duplicate check compares content, so two rows saying the same thing
        # to the same people within the window would reach them once
        return SendMessage(recipients=("hr01", "iv01"), title="面试提醒", text=f"明天 10:00 面试 #{next(_texts)}",
                           purpose="reminder_t1d", audience="staff").model_dump(mode="json")

    def vendor_effects(self, kind: str, rig: Rig) -> int:
        assert isinstance(rig.world, WeComWorld)
        return len(rig.world.messages)

    def deny_permission(self, rig: Rig) -> None:
        assert isinstance(rig.world, WeComWorld)
        rig.world.forbid(self.settings["agent_id"])
