"""Feishu in the sandbox: live interviews booked and moved in Hire, interviewers reading Lifeline's messages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from lifeline_hub.connectors.feishu.emulator_state import FeishuWorld
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.sandbox import Booking, Kind, Role, Sandbox, SandboxActor, Tally

INTERVIEWERS = ("面试官 李强", "面试官 赵静", "面试官 陈涛")


class FeishuActor(SandboxActor[FeishuWorld]):
    """The recruiter books video interviews in Feishu Hire (HR moves some); interviewers read their reminders."""

    role = Role.staff_channel
    hosts = (Kind.live,)
    repeatable_settings: ClassVar[Mapping[str, Any]] = {"receipt_workers": 1}

    def __init__(self, sandbox: Sandbox, world: FeishuWorld) -> None:
        super().__init__(sandbox, world)
        self.interviewers: list[str] = []

    def setup(self) -> None:
        self.interviewers = [self.world.add_user(name)["open_id"] for name in INTERVIEWERS]

    def book(self, b: Booking) -> str:
        number = int(b.ref.rpartition("-")[2])  # Hire ids are numbers
        talent = self.candidate_ref(b)
        self.world.add_talent(talent, b.name, mobile=b.phone or None, email=b.email)
        return str(self.world.add_hire_interview(
            str(7_100_000_000_000_000_000 + number), talent, _ms(b.start), _ms(b.end),
            interviewers=[self.sandbox.rng.choice(self.interviewers)] if self.interviewers else []))

    def candidate_ref(self, b: Booking) -> str:
        return str(7_200_000_000_000_000_000 + int(b.ref.rpartition("-")[2]))

    def move(self, b: Booking, start: datetime, end: datetime) -> None:
        self.world.update_hire_interview(b.remote_id, begin_time=_ms(start), end_time=_ms(end))

    def observe(self) -> None:
        people = self.sandbox
        for message in list(self.world.messages.values()):
            if message.sender_type != "app":
                continue
            for reader in message.recipients:
                fresh = reader not in message.reads and people.first_look(f"feishu/{message.message_id}/{reader}")
                if fresh and people.rng.random() < 0.9:
                    people.at(utcnow() + people.reading_delay(), self._read, message.message_id, reader)

    def _read(self, message_id: str, reader: str) -> None:
        self.world.mark_read(message_id, reader)
        self.sandbox.did["interviewer_reads"] += 1

    def tally(self, into: Tally) -> None:
        into.staff_messages += sum(1 for m in self.world.messages.values() if m.sender_type == "app")


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
