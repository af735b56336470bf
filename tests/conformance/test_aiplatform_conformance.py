"""The aiplatform connector runs the conformance suite."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lifeline_hub.connectors.aiplatform.connector import AIPlatformConnector
from lifeline_hub.connectors.aiplatform.emulator_state import AIPlatformWorld, EmulatorSettings
from lifeline_hub.core.conformance import ConnectorSuite, Rig, Seed, SuiteClock
from lifeline_hub.core.emulator import EmulatorWorld


def world_of(rig: Rig) -> AIPlatformWorld:
    assert isinstance(rig.world, AIPlatformWorld)
    return rig.world


class TestAIPlatform(ConnectorSuite):
    connector = AIPlatformConnector
    settings: ClassVar[Mapping[str, Any]] = {
        "read_timeout_seconds": 0.5, "backoff_seconds": 0.05, "max_attempts": 2, "page_size": 50}

    def make_world(self, clock: SuiteClock) -> AIPlatformWorld:
        return AIPlatformWorld(EmulatorSettings(deliver_in_background=False), now=clock.time)

    def base_urls(self, world: EmulatorWorld[Any], url: str) -> Mapping[str, str]:
        return {"api": f"{url}/v1"}

    def seed_stream(self, stream: str, rig: Rig, round: int) -> Seed:
        world = world_of(rig)
        invitation = world.invite(f"Candidate {round}", email=f"cand{round}@example.com")["id"]
        world.open_link(invitation)
        return {}

    def action_payload(self, kind: str, rig: Rig) -> Mapping[str, Any]:
        if kind == "create_invitation":
            return {"candidate": {"name": "张三", "email": "zhang@example.com", "external_ref": "cand-9"},
                    "external_ref": "app-9", "deadline_basis": "from_invite", "window_hours": 48}
        world = world_of(rig)
        invitation = world.invite("Li", email="li@example.com")["id"]
        world.open_link(invitation)
        world.start(invitation)
        world.technical(invitation, "upload_error", "UPLOAD_TIMEOUT")
        return {"mode": "reset", "invitation_id": invitation}

    def vendor_effects(self, kind: str, rig: Rig) -> int:
        invitations = world_of(rig).invitations.values()
        if kind == "create_invitation":
            return sum(1 for i in invitations if i.external_ref == "app-9")
        return sum(i.resets for i in invitations)

    def deny_permission(self, rig: Rig) -> None:
        world_of(rig).deny_apis(["*"])
