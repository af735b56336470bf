"""Actions: cards with uuid, urgent buzz within the tenant's allowance, tasks with client_token,
approvals with uuid, calendar events with idempotency_key and the reschedule patch."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from feishu_kit import T0, Rig, action, rig

from lifeline_hub.core import ActionResult
from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.http import TransientError
from lifeline_hub.core.models import Action, Notification

LINKS = [
    {"label": "Confirm", "url": "https://ll.example/c/tok1"},
    {"label": "Reschedule", "url": "https://ll.example/r/tok1"},
]


def message(recipients: list[str], **extra: Any) -> dict[str, Any]:
    return {"recipients": recipients, "title": "Interview tomorrow 10:00", "text": "**Please confirm**", **extra}


def test_card_with_link_buttons_and_uuid_dedupe() -> None:
    with rig() as r:
        alice = r.world.add_user("Alice")
        send = action("send_message", message([alice["open_id"]], links=LINKS, purpose="reminder_t1d"), key="ll-k1")
        first, second = r.connector.perform(send), r.connector.perform(send)
        assert first.remote_id == second.remote_id and len(r.world.messages) == 1
        sent = r.world.messages[first.remote_id]
        assert (sent.msg_type, sent.uuid) == ("interactive", "ll-k1")
        card = json.loads(sent.content)
        assert card["header"]["title"]["content"] == "Interview tomorrow 10:00"
        buttons = card["elements"][1]["actions"]
        assert [(b["text"]["content"], b["url"], b["type"]) for b in buttons] == [
            ("Confirm", "https://ll.example/c/tok1", "primary"),
            ("Reschedule", "https://ll.example/r/tok1", "default"),
        ]
        (note,) = [n for n in first.records if isinstance(n, Notification)]
        assert note.recipient == f"open_id:{alice['open_id']}" and note.purpose.value == "reminder_t1d"
        assert note.idempotency_key == "ll-k1" and note.remote_id == first.remote_id


def test_several_recipients_get_one_message_each_with_a_compliant_uuid() -> None:
    with rig(id_type="union_id") as r:
        alice, bob = r.world.add_user("Alice"), r.world.add_user("Bob")
        send = action("send_message", message([alice["union_id"], f"open_id:{bob['open_id']}"]), key="ll-" + "a" * 40)
        result = r.connector.perform(send)
        assert r.connector.perform(send).remote_id == result.remote_id
        ids = result.remote_id.split(",")
        uuids = {r.world.messages[i].uuid for i in ids}
        assert len(ids) == 2 and len(uuids) == 2 and all(u and len(u) <= 50 for u in uuids)
        assert [e["recipient"] for e in result.handoff["receipts"]["inbox"]] == [
            f"union_id:{alice['union_id']}",
            f"open_id:{bob['open_id']}",
        ]


@pytest.mark.parametrize(
    ("settings", "quota", "used"),
    [
        ({}, 5, "app"),
        ({"urgent_sms_allowed": True}, 5, "sms"),
        ({"urgent_sms_allowed": True, "urgent_phone_allowed": True}, 5, "phone"),
        ({"urgent_sms_allowed": True}, 0, "app"),  # the paid quota is used up: in-app instead
    ],
)
def test_urgent_uses_the_paid_quota_only_when_allowed(settings: dict[str, Any], quota: int, used: str) -> None:
    with rig(emulator={"urgent_paid_quota": quota}, **settings) as r:
        alice = r.world.add_user("Alice")
        result = r.connector.perform(action("send_message", message([alice["open_id"]], urgent=True)))
        assert result.detail["urgent"] == [used]
        (call,) = r.world.urgent_calls()
        assert call["kind"] == used and call["user_ids"] == [alice["open_id"]]


def test_task_with_client_token_and_lookup_after_the_window() -> None:
    with rig(tasklist_guid="tl-0001-lifeline") as r:
        hr = r.world.add_user("HR")
        payload = {
            "assignees": [hr["open_id"]],
            "title": "Decide: candidate did not join",
            "description": "Invitation read 2025-06-14, no join attempt.",
            "due_at": datetime.fromtimestamp(T0 + 86400, UTC).isoformat(),
            "links": LINKS[:1],
            "interview_id": "acme.hire/42",
        }
        task = action("create_task", payload, key="ll-task-0001")
        first = r.connector.perform(task)
        assert r.connector.perform(task).remote_id == first.remote_id and len(r.world.tasks) == 1
        made = r.world.tasks[first.remote_id]
        assert made.client_token == "ll-task-0001" and made.members == [(hr["open_id"], "assignee")]
        assert made.fields["due"] == {"timestamp": str(int((T0 + 86400) * 1000)), "is_all_day": False}
        assert made.fields["tasklists"] == [{"tasklist_guid": "tl-0001-lifeline"}]
        assert "Confirm: https://ll.example/c/tok1" in made.fields["description"]
        r.clock.advance(600)  # past the 5-minute client_token window: a retry finds the task instead
        retried = task.model_copy(update={"attempts": 2, "maybe_sent": True})
        assert r.connector.perform(retried).remote_id == first.remote_id and len(r.world.tasks) == 1


def test_short_keys_are_derived_to_the_documented_length() -> None:
    with rig() as r:
        hr = r.world.add_user("HR")
        result = r.connector.perform(action("create_task", {"assignees": [hr["open_id"]], "title": "t",
                                                             "description": "d"}, key="k1"))  # fmt: skip
        token = r.world.tasks[result.remote_id].client_token
        assert token is not None and 10 <= len(token) <= 100 and token.startswith("ll-")


def test_approval_uuid_conflict_returns_the_same_instance() -> None:
    with rig(approval_approver_node="manager") as r:
        r.world.add_approval_definition("RESCHEDULE", "Reschedule")
        hr, boss = r.world.add_user("HR"), r.world.add_user("Boss", user_id="boss01")
        payload = {
            "originator": hr["open_id"],
            "approvers": ["user_id:boss01"],
            "process_code": "RESCHEDULE",
            "title": "Reschedule interview",
            "fields": {"reason": "candidate network failure"},
        }
        request = action("create_approval", payload, key="ll-appr-1")
        first, second = r.connector.perform(request), r.connector.perform(request)
        assert first.remote_id == second.remote_id and len(r.world.approvals) == 1
        made = r.world.approvals[first.remote_id]
        assert made.uuid == "ll-appr-1" and made.initiator == hr["open_id"]
        assert [(a["open_id"], a["node_id"]) for a in made.approvers] == [(boss["open_id"], "manager")]
        assert json.loads(made.form) == [{"id": "reason", "type": "input", "value": "candidate network failure"}]
        bad = action("create_approval", {**payload, "originator": f"union_id:{hr['union_id']}"})
        with pytest.raises(ValueError, match="not union_id"):
            r.connector.perform(bad)


def event_payload(r: Rig, start: float, **extra: Any) -> dict[str, Any]:
    hr = r.world.add_user("HR")
    return {
        "organizer": hr["open_id"],
        "summary": "Interview: backend engineer",
        "description": "Round 1",
        "start_at": datetime.fromtimestamp(start, UTC).isoformat(),
        "end_at": datetime.fromtimestamp(start + 3600, UTC).isoformat(),
        "ical_uid": "iv-42@lifeline",
        **extra,
    }


def test_calendar_create_is_idempotent_and_a_reschedule_patches_the_same_event() -> None:
    with rig() as r:
        interviewer = r.world.add_user("Interviewer")
        payload = event_payload(r, T0 + 86400, attendees=[interviewer["open_id"]])
        create = action("create_calendar_event", payload, key="ll-cal-1", interview_id="acme.hire/42")
        first, second = r.connector.perform(create), r.connector.perform(create)
        assert first.remote_id == second.remote_id and len(r.world.calendar_events) == 1
        event = r.world.calendar_events[first.remote_id]
        assert len(event.attendees) == 2  # organizer and interviewer, not added twice
        assert first.detail["app_link"].endswith(f"&key={first.remote_id}")
        assert event.fields["vchat"] == {"vc_type": "vc"}  # a Feishu meeting, which the API names no link for
        assert event.fields["description"].endswith("[lifeline interview=acme.hire/42 seq=0]")
        moved = {**payload, "start_at": datetime.fromtimestamp(T0 + 2 * 86400, UTC).isoformat(),
                 "end_at": datetime.fromtimestamp(T0 + 2 * 86400 + 3600, UTC).isoformat(),
                 "sequence": 1, "remote_event_id": first.remote_id}  # fmt: skip
        update = action("update_calendar_event", moved, key="ll-cal-2", interview_id="acme.hire/42")
        assert r.connector.perform(update).remote_id == first.remote_id
        assert len(r.world.calendar_events) == 1 and len(event.attendees) == 2
        assert event.fields["start_time"]["timestamp"] == str(int(T0 + 2 * 86400))
        assert event.fields["description"] == "Round 1\n\n[lifeline interview=acme.hire/42 seq=1]"
        assert event.fields["vchat"] == {"vc_type": "vc"}  # same meeting
        for bad, reason in (({"remote_event_id": None}, "needs remote_event_id"), ({"status": "cancelled"}, "DELETE")):
            with pytest.raises(ValueError, match=reason):
                r.connector.perform(action("update_calendar_event", {**moved, **bad}))


def dispatch(r: Rig, planned: Action) -> ActionResult:
    """What the outbox does: perform, and on a transient failure perform again (attempts + 1, handed over
    before)."""
    for attempt in range(1, 6):
        try:
            return r.connector.perform(planned.model_copy(update={"attempts": attempt, "maybe_sent": attempt > 1}))
        except TransientError:
            continue
    raise AssertionError(f"{planned.kind} never succeeded")


def test_timeouts_after_the_vendor_acted_never_duplicate() -> None:
    """Stalled answers: the vendor acted, the client timed out and retried with the same key."""
    faults = Faults(timeout=0.4, timeout_seconds=0.5, seed=11)
    with rig(emulator={"faults": faults}, http_timeout_seconds=0.25, tasklist_guid="tl-0001-lifeline") as r:
        w = r.world
        with w.faults.paused():
            w.add_approval_definition("RESCHEDULE", "Reschedule")
            people = [w.add_user(f"u{i}") for i in range(3)]
        r.connector.client.backoff = 0.02
        for i, person in enumerate(people):
            who = person["open_id"]
            dispatch(r, action("send_message", message([who]), key=f"ll-m{i}"))
            dispatch(r, action("create_task", {"assignees": [who], "title": "t", "description": "d"},
                               key=f"ll-task-{i:04d}"))  # fmt: skip
            dispatch(r, action("create_approval", {"originator": who, "process_code": "RESCHEDULE", "title": "t"},
                               key=f"ll-a{i}"))  # fmt: skip
            event = dispatch(r, action("create_calendar_event", event_payload(r, T0 + 3600 * i), key=f"ll-e{i}"))
            assert len(w.calendar_events[event.remote_id].attendees) == 1
        assert w.faults.injected["timeout"] >= 3
        assert (len(w.messages), len(w.tasks), len(w.approvals), len(w.calendar_events)) == (3, 3, 3, 3)
