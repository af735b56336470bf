"""The AI-interview platform in the sandbox: the recruiter invites, candidates start, fail and submit there."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from lifeline_hub.connectors.aiplatform.emulator_state import AIPlatformWorld
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.sandbox import Booking, Kind, Role, Sandbox, SandboxActor


class PlatformActor(SandboxActor[AIPlatformWorld]):
    """AI interviews are invitations with a window; a re-issued one (reset or extended) brings a candidate back."""

    role = Role.interview_platform
    hosts = (Kind.ai,)

    def __init__(self, sandbox: Sandbox, world: AIPlatformWorld) -> None:
        super().__init__(sandbox, world)
        self.windows: dict[str, tuple[int, str]] = {}
        """Booking -> the invitation's (resets, deadline) when it was missed: a change is a second chance."""

    def book(self, b: Booking) -> str:
        invitation = self.world.invite(
            b.name, email=b.email, phone=b.phone or None, external_ref=b.ref, deadline_basis="absolute",
            deadline_at=b.end.isoformat(), window_hours=None, opens_at=b.start.isoformat())
        return str(invitation["id"])

    def candidate_ref(self, b: Booking) -> str:
        return str(self.world.get(b.remote_id)["candidate"]["id"])

    def move(self, b: Booking, start: datetime, end: datetime) -> None:
        """HR carries a new window to the platform: the invitation opened at the old start already, so only its
        deadline moves out (the platform extends in whole hours) when it would close before `end`."""
        deadline = datetime.fromisoformat(str(self.world.get(b.remote_id)["deadline_at"]).replace("Z", "+00:00"))
        hours = math.ceil((end - deadline).total_seconds() / 3600)
        if hours >= 1:
            self.world.extend(b.remote_id, hours)

    def start(self, b: Booking) -> None:
        self.world.start(b.remote_id)

    def fail(self, b: Booking, code: str) -> None:
        self.world.technical(b.remote_id, "join_error", code)

    def submit(self, b: Booking) -> None:
        self.world.submit(b.remote_id)

    def missed(self, b: Booking) -> None:
        invitation = self.world.get(b.remote_id)
        self.windows[b.ref] = (invitation["resets"], invitation["deadline_at"])

    def tick(self) -> None:
        self.world.tick()

    def observe(self) -> None:
        """A re-issued invitation (the platform tells the candidate itself) brings back those who want a second
        chance."""
        people = self.sandbox
        for b in people.bookings:
            if b.kind in self.hosts and "retry" in b.facts and "joined_second_chance" not in b.facts:
                invitation = self.world.get(b.remote_id)
                window = (invitation["resets"], invitation["deadline_at"])
                if window != self.windows.get(b.ref, (0, invitation["deadline_at"])) \
                        and people.first_look(f"reissued/{b.remote_id}"):
                    people.at(people.office_hours(_later(people.rng.uniform(0.5, 6))), people.retry, b)


def _later(hours: float) -> datetime:
    return utcnow() + timedelta(hours=hours)
