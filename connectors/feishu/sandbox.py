"""Feishu in the sandbox: live interviews booked and moved in Hire, interviewers reading Lifeline's messages,
answering its attendance question on the card and submitting their Hire feedback (or not), true to what happened."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from lifeline_hub.connectors.feishu.emulator_state import FeishuWorld, Message
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.remediation.texts import T
from lifeline_hub.core.sandbox import Booking, Kind, Role, Sandbox, SandboxActor, Tally

INTERVIEWERS = ("面试官 李强", "面试官 赵静", "面试官 陈涛")
VERDICTS = {"attended": "attended", "attended_late": "attended_late", "missed_technical": "technical"}
"""What the interviewer saw, by the sandbox's truth (any other miss: the candidate did not come)."""
ANSWERS = 0.85
"""Share of interviewers who answer the attendance card once they read it (a quarter of them only the next day)."""
FEEDBACK = {True: 0.6, False: 0.35}
"""Share of interviewers who submit Hire feedback, when the candidate came and when not (pass/fail/undecided or
no-show)."""


class FeishuActor(SandboxActor[FeishuWorld]):
    """The recruiter books video interviews in Feishu Hire (HR moves some); interviewers read their reminders."""

    role = Role.staff_channel
    hosts = (Kind.live,)
    delivers_events = True
    repeatable_settings: ClassVar[Mapping[str, Any]] = {"receipt_workers": 1}

    def __init__(self, sandbox: Sandbox, world: FeishuWorld) -> None:
        super().__init__(sandbox, world)
        self.interviewers: list[str] = []
        self.panel: dict[str, str] = {}
        """Booking -> the open_id of its interviewer."""

    def setup(self) -> None:
        people = self.sandbox
        self.interviewers = [self.world.add_user(name)["open_id"] for name in INTERVIEWERS]
        self.world.settings.deliver_in_background = False  # events go out on the sandbox's thread, in order
        self.world.settings.callback_url = f"{people.receiver}/callbacks/{people.setup_of(self.plugin).instance.name}"

    def book(self, b: Booking) -> str:
        number = int(b.ref.rpartition("-")[2])  # Hire ids are numbers
        talent = self.candidate_ref(b)
        self.world.add_talent(talent, b.name, mobile=b.phone or None, email=b.email)
        panel = [self.sandbox.rng.choice(self.interviewers)] if self.interviewers else []
        if panel:
            self.panel[b.ref] = panel[0]
        return str(self.world.add_hire_interview(
            str(7_100_000_000_000_000_000 + number), talent, _ms(b.start), _ms(b.end), interviewers=panel))

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
        for b in people.bookings:
            interviewer = self.panel.get(b.ref)
            if b.truth and interviewer and b.kind in self.hosts and people.first_look(f"hire-feedback/{b.ref}"):
                came = b.truth.startswith("attended")
                if people.rng.random() < FEEDBACK[came]:
                    conclusion = people.rng.choice((1, 2, 6)) if came else 5
                    later = utcnow() + timedelta(hours=people.rng.uniform(0.5, 20))
                    people.at(people.office_hours(later), self._feedback, b, interviewer, conclusion)

    def _read(self, message_id: str, reader: str) -> None:
        """The interviewer reads a message; the attendance question they mostly answer, some only the next day."""
        people = self.sandbox
        self.world.mark_read(message_id, reader)
        people.did["interviewer_reads"] += 1
        b = self._asked_about(self.world.messages[message_id], reader)
        if b is not None and people.rng.random() < ANSWERS:
            late = people.rng.random() < 0.25
            when = people.office_hours(utcnow() + timedelta(hours=16)) if late else utcnow()
            people.at(when, self._answer, message_id, reader, b)

    def _asked_about(self, message: Message, reader: str) -> Booking | None:
        """The interview a card asks `reader` about ("Did <candidate> attend?", with one button per answer): the
        latest one they interviewed that candidate in, over by now; None for any other message."""
        labels = {T[self.sandbox.config.tenant(self.sandbox.tenant).locale][f"answer.{v}"] for v in VERDICTS.values()}
        if message.msg_type != "interactive" or not labels <= set(_buttons(message)):
            return None
        text = json.dumps(json.loads(message.content), ensure_ascii=False)
        now = utcnow()
        asked = [b for b in self.sandbox.bookings if self.panel.get(b.ref) == reader and b.end <= now and b.truth
                 and re.search(rf"(?<![\w]){re.escape(b.name)}(?![\w])", text)]  # 王伟 is not 王伟明
        return max(asked, key=lambda b: b.end, default=None)

    def _answer(self, message_id: str, reader: str, b: Booking) -> None:
        """Press the button that says what the interviewer saw (Feishu calls Lifeline back)."""
        verdict = VERDICTS.get(b.truth, "no_show")
        self.world.click_card(message_id, reader, T[self.sandbox.config.tenant(self.sandbox.tenant).locale][
            f"answer.{verdict}"])
        self.world.deliver_pending_events()
        self.sandbox.did[f"interviewer_answers_{verdict}"] += 1

    def _feedback(self, b: Booking, interviewer: str, conclusion: int) -> None:
        self.world.record_feedback(b.remote_id, interviewer, conclusion)
        self.sandbox.did["interviewer_feedback"] += 1

    def tick(self) -> None:
        self.world.deliver_pending_events()

    def tally(self, into: Tally) -> None:
        into.staff_messages += sum(1 for m in self.world.messages.values() if m.sender_type == "app")


def _buttons(message: Message) -> list[str]:
    """The labels of a card's buttons."""
    card = json.loads(message.content)
    return [str(b["text"]["content"]) for e in card.get("elements", []) if e.get("tag") == "action"
            for b in e.get("actions", []) if b.get("tag") == "button"]


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
