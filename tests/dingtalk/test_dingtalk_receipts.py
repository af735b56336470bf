"""The receipts stream against the emulator: work notices, robot 1:1 and DING; the 100-recipient and
24 h rules; settled sends are not polled again; bad entries are quarantined, never fatal."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest

from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector
from lifeline_hub.connectors.dingtalk.receipts import GETSENDRESULT
from lifeline_hub.connectors.dingtalk.testing import Emulated, emulated, handoff
from lifeline_hub.core.connector import ActionResult, Checkpoint, Malformed, StreamItem
from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.models import Action, DeliveryEvent, Notification, utcnow

POLL = f"POST {GETSENDRESULT}"


@pytest.fixture
def dt() -> Iterator[Emulated]:
    with emulated(users=6) as running:
        yield running


def _dumped(result: ActionResult) -> list[dict[str, Any]]:
    return [n.model_dump(mode="json") for n in result.records]


def message(recipients: list[str], key: str = "ll-msg-1", **extra: Any) -> Action:
    payload = {"recipients": recipients, "title": "Interview tomorrow 10:00", "text": "Please confirm.",
               "links": [{"label": "Confirm", "url": "https://lifeline.test/c/1"}], "purpose": "reminder_t1d",
               "interview_id": "acme.ats/iv-1", **extra}
    return Action(idempotency_key=key, tenant="acme", connector="acme.dt", kind="send_message", due_at=utcnow(),
                  payload=payload)


def read(connector: DingTalkConnector, cursor: Mapping[str, Any]) -> tuple[list[StreamItem], Checkpoint]:
    out = list(connector.read("receipts", cursor))
    last = out[-1]
    assert isinstance(last, Checkpoint)
    return out, last


def events(items: list[StreamItem]) -> set[tuple[str, str, str | None]]:
    return {(i.remote_id.split(":")[2], i.type.value, i.code) for i in items if isinstance(i, DeliveryEvent)}


def polls(dt: Emulated, api: str = POLL) -> int:
    return dt.world.call_counts().get((dt.world.settings.apps[0].appkey, api), 0)


def test_work_notice_lifecycle_until_settled(dt: Emulated) -> None:
    dt.world.set_delivery("u4", "failed")
    dt.world.set_delivery("u5", "forbidden")
    connector = dt.connector()
    sent = connector.perform(message(["u1", "u2", "ghost", "u4", "u5"]))
    notes = _dumped(sent)
    assert sent.remote_id.startswith("work:") and len(notes) == 5
    assert {n["recipient"] for n in notes} == {"u1", "u2", "ghost", "u4", "u5"}
    assert all(n["interview_id"] == "acme.ats/iv-1" and n["idempotency_key"] == "ll-msg-1" for n in notes)
    task_id = int(sent.remote_id.split(":")[1])
    dt.world.mark_read(task_id, "u1")

    started = utcnow()
    items, checkpoint = read(connector, handoff({}, "receipts", sent))
    assert events(items) == {("u1", "delivered", None), ("u1", "read", None), ("u2", "delivered", None),
                             ("ghost", "failed", "invalid"), ("u4", "failed", "failed"),
                             ("u5", "failed", "1430004")}
    latest = {i.recipient: i.status.value for i in items if isinstance(i, Notification)}
    assert latest == {"u1": "read", "u2": "delivered", "ghost": "failed", "u4": "failed", "u5": "failed"}
    delivered = next(i for i in items if isinstance(i, DeliveryEvent) and i.remote_id.endswith("u2:delivered"))
    assert delivered.notification_id == f"acme.dt/{sent.remote_id}:u2" and delivered.interview_id == "acme.ats/iv-1"
    assert checkpoint.watermark is not None and checkpoint.watermark >= started
    assert "sent" not in checkpoint.cursor and list(checkpoint.cursor["pending"]) == [sent.remote_id]

    again, checkpoint = read(connector, checkpoint.cursor)  # nothing changed: nothing new
    assert [type(i) for i in again] == [Checkpoint]
    dt.world.mark_read(task_id, "u2")
    items, checkpoint = read(connector, checkpoint.cursor)
    assert events(items) == {("u2", "read", None)}
    assert checkpoint.cursor["pending"] == {} and sent.remote_id in checkpoint.cursor["settled"]

    calls = polls(dt)
    items, _ = read(connector, handoff(checkpoint.cursor, "receipts", sent))  # handed in again: settled, not polled
    assert [type(i) for i in items] == [Checkpoint] and polls(dt) == calls == 3


def test_sends_are_batched_to_100_recipients_so_every_result_exists(dt: Emulated) -> None:
    users = [f"u{i}" for i in range(1, 251)]
    for user in users[6:]:
        dt.world.add_user(user)
    connector = dt.connector(poll_workers=4)
    sent = connector.perform(message(users))
    keys = sent.remote_id.split(",")
    assert len(keys) == 3 and [len(m["recipients"]) for m in dt.world.messages()] == [100, 100, 50]
    items, checkpoint = read(connector, handoff({}, "receipts", sent))
    assert len(events(items)) == 250 and not [i for i in items if isinstance(i, Malformed)]
    assert sorted(checkpoint.cursor["pending"]) == sorted(keys)


def test_results_are_polled_only_inside_the_window(dt: Emulated) -> None:
    connector = dt.connector(receipts_window_hours=24)
    sent = connector.perform(message(["u1", "u2"]))
    old = [{**n, "occurred_at": (utcnow() - timedelta(hours=25)).isoformat()} for n in _dumped(sent)]
    items, checkpoint = read(connector, {"sent": old})  # too old to have a result: not tracked
    assert [type(i) for i in items] == [Checkpoint] and polls(dt) == 0
    _, checkpoint = read(connector, handoff({}, "receipts", sent))
    assert polls(dt) == 1
    stale = {**checkpoint.cursor}
    stale["pending"] = {k: {**v, "at": v["at"] - 25 * 3_600_000} for k, v in stale["pending"].items()}
    items, checkpoint = read(connector, stale)  # the window closed while it was pending: dropped unpolled
    assert polls(dt) == 1 and checkpoint.cursor["pending"] == {}
    dt.world.advance(86_401)  # the vendor forgets the task after 24 h: an empty result settles it
    _, checkpoint = read(connector, handoff({}, "receipts", sent))
    assert polls(dt) == 2 and checkpoint.cursor["pending"] == {}


def test_robot_messages_and_failures_known_at_send_time(dt: Emulated) -> None:
    dt.world.set_delivery("u3", "forbidden")
    connector = dt.connector(message_channel="robot")
    sent = connector.perform(message(["u1", "u2", "u3", "ghost"]))
    key = sent.remote_id.removeprefix("robot:")
    assert sent.remote_id.startswith("robot:") and dt.world.push_messages("robot")[0]["recipients"] == ["u1", "u2"]
    failed = {n["recipient"]: n["status_raw"] for n in _dumped(sent) if n["status"] == "failed"}
    assert failed == {"u3": "flowControlledStaffIdList", "ghost": "invalidStaffIdList"}
    dt.world.mark_push_read(key, "u1", at=1_700_000_000.0)
    items, checkpoint = read(connector, handoff({}, "receipts", sent))
    assert events(items) == {("u1", "delivered", None), ("u1", "read", None), ("u2", "delivered", None),
                             ("u3", "failed", "flowControlledStaffIdList"), ("ghost", "failed", "invalidStaffIdList")}
    read_event = next(i for i in items if isinstance(i, DeliveryEvent) and i.type.value == "read")
    assert read_event.occurred_at.timestamp() == 1_700_000_000.0  # robot reads carry their time
    dt.world.mark_push_read(key, "u2")
    items, checkpoint = read(connector, checkpoint.cursor)
    assert events(items) == {("u2", "read", None)} and checkpoint.cursor["pending"] == {}


def test_urgent_messages_are_dings(dt: Emulated) -> None:
    connector = dt.connector()
    sent = connector.perform(message(["u1", "u2", "ghost"], urgent=True))
    assert sent.remote_id.startswith("ding:") and dt.world.messages() == []
    ding = dt.world.push_messages("ding")[0]
    assert ding["content"]["remindType"] == 1 and "https://lifeline.test/c/1" in ding["content"]["content"]
    dt.world.mark_push_read(ding["key"], "u2")
    items, _ = read(connector, handoff({}, "receipts", sent))
    assert events(items) == {("u1", "delivered", None), ("u2", "delivered", None), ("u2", "read", None),
                             ("ghost", "failed", "invalidStaffIdList")}


def test_bad_entries_are_quarantined_and_the_recipient_polled_again(dt: Emulated) -> None:
    connector = dt.connector()
    sent = connector.perform(message(["u1", "u2", "u3"]))
    other = {**_dumped(sent)[0], "source": "acme.other"}
    dt.world.configure_faults(Faults(malformed=1.0, seed=3))
    items, checkpoint = read(connector, {"sent": [*_dumped(sent), other, {"junk": 1}]})
    bad = [i for i in items if isinstance(i, Malformed)]
    assert len(bad) == 3 and {b.reason.split(":")[0] for b in bad} == {"sent", "send_result.unread_user_id_list"}
    assert all("u1" not in b.reason for b in bad)
    assert len(events(items)) == 2 and checkpoint.watermark is not None
    dt.world.configure_faults(Faults())
    items, checkpoint = read(connector, checkpoint.cursor)
    assert len(events(items)) == 1 and not [i for i in items if isinstance(i, Malformed)]
