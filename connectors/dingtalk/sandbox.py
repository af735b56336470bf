"""DingTalk in the sandbox: HR works Lifeline's todos, reads its work notices and decides reschedule approvals."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

from lifeline_hub.connectors.dingtalk.emulator_state import DingTalkWorld
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.sandbox import Role, SandboxActor, Tally, repeats

HR_NAME = "HR 王敏"


class DingTalkActor(SandboxActor[DingTalkWorld]):
    """The tenant's HR people (the policy's recipients and assignees) in the emulated org."""

    role = Role.staff_channel
    repeatable_settings: ClassVar[Mapping[str, Any]] = {"poll_workers": 1}

    def setup(self) -> None:
        hr = self.sandbox.hr
        for userid, union in zip(hr.hr_recipients, hr.hr_assignees, strict=False):
            self.world.add_user(userid, union_id=union, name=HR_NAME)

    def observe(self) -> None:
        people, rng = self.sandbox, self.sandbox.rng
        for todo in self.world.todo_list():
            if not todo.get("done") and people.first_look(f"todo/{todo['id']}"):
                people.did["hr_todos"] += 1
                people.at(people.office_hours(utcnow() + timedelta(hours=rng.uniform(0.5, 4))), self._work_todo, todo)
        for approval in self.world.approval_list():
            if approval["status"] == "RUNNING" and people.first_look(f"approval/{approval['instanceId']}"):
                people.at(people.office_hours(utcnow() + timedelta(hours=rng.uniform(0.5, 3))), self._decide, approval)
        for notice in self.world.messages():
            for userid, status in notice["recipients"].items():
                if status == "unread" and people.first_look(f"notice/{notice['task_id']}/{userid}"):
                    people.at(utcnow() + people.reading_delay(2), self._read_notice, notice["task_id"], userid)

    def _read_notice(self, task_id: int, userid: str) -> None:
        self.world.mark_read(task_id, userid)
        self.sandbox.did["hr_notices_read"] += 1

    def _work_todo(self, todo: dict[str, Any]) -> None:
        """HR follows the todo's first link (the suggested next step) most of the time, then ticks it off."""
        people = self.sandbox
        people.take_next_step(str(todo.get("description") or ""))
        self.world.set_todo_done(todo["id"], by=people.hr.hr_recipients[0] if people.hr.hr_recipients else "")
        people.did["hr_todos_done"] += 1

    def _decide(self, approval: dict[str, Any]) -> None:
        """HR agrees to most requests to move an interview; the form names the interview (`…|…/<remote id>`)."""
        people = self.sandbox
        agree = people.rng.random() < 0.8
        approvers = approval.get("approvers") or [approval["originatorUserId"]]
        self.world.decide_approval(approval["instanceId"], "agree" if agree else "refuse", approvers[0])
        people.did["approvals_agreed" if agree else "approvals_refused"] += 1
        marked = [str(f.get("value", "")) for f in approval.get("form") or [] if "|" in str(f.get("value", ""))]
        if agree and marked:
            people.agreed_to_move(people.by_remote.get(marked[0].rpartition("/")[2]))

    def tally(self, into: Tally) -> None:
        todos = self.world.todo_list()
        into.hr_tasks += len(todos)
        into.approvals += len(self.world.approval_list())
        into.task_samples += [{"subject": str(t.get("subject", "")), "description": str(t.get("description", ""))}
                              for t in todos if "/hr/" in str(t.get("description"))][:2]
        into.duplicates += repeats(t.get("sourceId") for t in todos)
        into.staff_messages += len(self.world.messages())
