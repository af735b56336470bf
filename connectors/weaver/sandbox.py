"""Weaver e-cology in the sandbox: HR decides the reschedule approval workflows and works the unified todos.

HR (the workflow's approver) opens a new request in the OA within hours in office hours (`viewType -2`: the read
state the `workflows` stream reports), then approves most and sends the rest back. A todo's notice carries the HR
text with Lifeline's next-step links: HR opens the todo and follows the first link most of the time. Other notices
are read (the OA tells nobody). e-cology pushes nothing, so every effect reaches Lifeline by its polling.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lifeline_hub.connectors.weaver.emulator_state import WeaverWorld
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.sandbox import Role, SandboxActor, Tally, repeats

AGREES = 0.8
"""The share of reschedule requests HR approves (the rest are sent back)."""


class WeaverActor(SandboxActor[WeaverWorld]):
    """The OA's users: the reschedule workflow's approvers and the tenant's HR people."""

    role = Role.staff_channel

    def observe(self) -> None:
        people, rng = self.sandbox, self.sandbox.rng
        for request in self.world.engine.inspect():
            rid = int(request["requestid"])
            if request["currentNodeType"] == "1" and people.first_look(f"workflow/{rid}"):
                opens = people.office_hours(utcnow() + timedelta(hours=rng.uniform(0.3, 2)))
                people.at(opens, self._view, rid)
                people.at(opens + timedelta(minutes=rng.uniform(5, 60)), self._decide, rid)
        notices = {n["targetId"]: n for n in self.world.messages.inspect() if not n["deleted"]}
        for todo in self.world.ofs.inspect():
            if str(todo["isremark"]) == "0" and people.first_look(f"todo/{todo['flowid']}/{todo['receiver']}"):
                people.at(people.office_hours(utcnow() + timedelta(hours=rng.uniform(0.5, 4))), self._work_todo,
                          todo, notices)
        tasks = {str(t["flowid"]) for t in self.world.ofs.inspect()}
        for target in notices:
            if target.partition("|")[2] not in tasks and people.first_look(f"notice/{target}"):
                people.at(utcnow() + people.reading_delay(2), self._read_notice)

    def _view(self, rid: int) -> None:
        request = self._request(rid)
        for operator in request["operators"] if request else ():
            if operator["isremark"] == 0 and operator["viewType"] == 0:
                self.world.view(rid, int(operator["userid"]))

    def _decide(self, rid: int) -> None:
        """The approver approves most requests; the form's reference names the interview (`<key>|<source>/<id>`)."""
        request, people = self._request(rid), self.sandbox
        if request is None or request["currentNodeType"] != "1":
            return
        agree = people.rng.random() < AGREES
        if agree:
            self.world.approve(rid)
        else:
            self.world.send_back(rid)
        people.did["approvals_agreed" if agree else "approvals_refused"] += 1
        reference = str(request["main"].get(self.world.settings.reference_field, ""))
        if agree and "|" in reference:
            people.agreed_to_move(people.by_remote.get(reference.rpartition("/")[2]))

    def _work_todo(self, todo: dict[str, Any], notices: dict[str, dict[str, Any]]) -> None:
        """HR opens the todo in the OA and follows the HR text's first next-step link most of the time."""
        people = self.sandbox
        self.world.view_todo(str(todo["syscode"]), str(todo["flowid"]), str(todo["receiver"]))
        notice = next((n for t, n in notices.items() if t.partition("|")[2] == todo["flowid"]), None)
        people.take_next_step(str(notice["context"]) if notice else "")
        people.did["hr_todos_done"] += 1

    def _read_notice(self) -> None:
        self.sandbox.did["hr_notices_read"] += 1

    def _request(self, rid: int) -> dict[str, Any] | None:
        return next((r for r in self.world.engine.inspect() if int(r["requestid"]) == rid and not r["deleted"]), None)

    def tally(self, into: Tally) -> None:
        todos, requests = self.world.ofs.inspect(), self.world.engine.inspect()
        live = [n for n in self.world.messages.inspect() if not n["deleted"]]
        flows = {str(t["flowid"]) for t in todos}
        by_flow = {n["targetId"].partition("|")[2]: n for n in live}
        into.hr_tasks += len(todos)
        into.approvals += len(requests)
        into.task_samples += [{"subject": str(t["fields"].get("requestname", "")),
                               "description": str(by_flow.get(str(t["flowid"]), {}).get("context", ""))}
                              for t in todos if "/hr/" in str(by_flow.get(str(t["flowid"]), {}).get("context"))][:2]
        into.duplicates += (repeats(f"{t['flowid']}/{t['receiver']}" for t in todos)
                            + repeats(n["targetId"] for n in live) + self.world.duplicate_workflows())
        into.staff_messages += sum(1 for n in live if n["targetId"].partition("|")[2] not in flows)
