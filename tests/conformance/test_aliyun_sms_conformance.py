"""The aliyun_sms connector runs the conformance suite."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lifeline_hub.connectors.aliyun_sms.emulator_state import EmulatorSettings, SmsWorld
from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector
from lifeline_hub.core.conformance import FAULT_ERRORS, ConnectorSuite, Rig, Seed, SuiteClock
from lifeline_hub.core.emulator import FaultKind
from lifeline_hub.core.http import VendorError
from lifeline_hub.core.models import Candidate, ContactPoint

ATS = "acme.ats"
TEMPLATE = "SMS_900000001"


def world_of(rig: Rig) -> SmsWorld:
    assert isinstance(rig.world, SmsWorld)
    return rig.world


def send(recipient: str = "cand1") -> dict[str, Any]:
    return {"recipient": f"{ATS}/{recipient}", "purpose": "reminder_t1d",
            "params": {"name": "张三", "time": "2026-03-02 10:00"}, "interview_id": f"{ATS}/iv1"}


class TestAliyunSms(ConnectorSuite):
    connector = AliyunSmsConnector
    settings: ClassVar[Mapping[str, Any]] = {
        "sign_name": "面试助手", "templates": {"reminder_t1d": TEMPLATE}, "http_timeout_seconds": 0.5}
    candidates = (
        Candidate(source=ATS, remote_id="cand1", name="张三", contacts=(ContactPoint.phone("+86 138-1234-5678"),)),
        Candidate(source=ATS, remote_id="cand2", name="李四", contacts=(ContactPoint.phone("+86 139-8765-4321"),)),
    )
    fault_errors: ClassVar[Mapping[FaultKind, type[VendorError]]] = {  # AccessKey signing: no token to expire
        k: v for k, v in FAULT_ERRORS.items() if k != "expire_token"}

    def make_world(self, clock: SuiteClock) -> SmsWorld:
        return SmsWorld(EmulatorSettings(push_background=False, delivery_delay_seconds=0, retry_after_ms=10),
                        now=clock.time, qps_clock=clock.monotonic)

    def seed_stream(self, stream: str, rig: Rig, round: int) -> Seed:
        result = rig.perform(rig.action("send_sms", send(f"cand{round}")))
        return result.handoff.get(stream, {})

    def action_payload(self, kind: str, rig: Rig) -> Mapping[str, Any]:
        return send()

    def vendor_effects(self, kind: str, rig: Rig) -> int:
        return len(world_of(rig).messages)

    def deny_permission(self, rig: Rig) -> None:
        world_of(rig).deny_actions(["*"])
