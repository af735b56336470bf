"""Read receipts: the pending set in the cursor, settling, polling in time, the 7-day window."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from feishu_kit import T0, Rig, action, rig

from lifeline_hub.connectors.feishu.receipts import FINAL_MS, WINDOW_MS, next_due
from lifeline_hub.core import Checkpoint, Malformed
from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.http import TransientError
from lifeline_hub.core.models import DeliveryEvent

READ_USERS = "im.message.read_users"


def inbox(r: Rig, user: dict[str, str], at_ms: int | None = None) -> dict[str, Any]:
    message_id = r.world.add_bot_message(user["chat_id"], "reminder", at_ms=at_ms)
    sent = r.world.messages[message_id].created_ms
    return {"message_id": message_id, "recipient": f"open_id:{user['open_id']}", "sent_ms": sent}


def run(r: Rig, cursor: dict[str, Any]) -> tuple[list[DeliveryEvent], Checkpoint, int]:
    before = r.calls(READ_USERS)
    items = r.read("receipts", cursor)
    last = items[-1]
    assert isinstance(last, Checkpoint)
    return [i for i in items if isinstance(i, DeliveryEvent)], last, r.calls(READ_USERS) - before


def test_a_read_message_is_settled_and_never_polled_again() -> None:
    with rig() as r:
        alice = r.world.add_user("Alice")
        payload = {"recipients": [alice["open_id"]], "title": "t", "text": "x"}
        sent = r.connector.perform(action("send_message", payload))
        cursor: dict[str, Any] = {"inbox": sent.handoff["receipts"]["inbox"]}
        events, mark, calls = run(r, cursor)
        assert (events, calls) == ([], 1)
        (message_id,) = sent.detail["message_ids"]
        assert list(mark.cursor["pending"]) == [message_id]
        r.world.mark_read(message_id, alice["open_id"], at_ms=int(T0 * 1000) + 5000)
        events, mark, calls = run(r, dict(mark.cursor))
        (read,) = events
        assert calls == 1 and mark.cursor == {"pending": {}}
        assert read.remote_id == f"{message_id}/read/open_id:{alice['open_id']}"
        assert read.notification_id == f"acme.feishu/{message_id}" and read.type.value == "read"
        assert read.occurred_at == datetime.fromtimestamp(T0 + 5, UTC)
        assert run(r, dict(mark.cursor))[2] == 0


def test_unread_messages_are_polled_less_often_as_they_age() -> None:
    with rig() as r:
        alice = r.world.add_user("Alice")
        cursor: dict[str, Any] = {"inbox": [inbox(r, alice)]}
        _, mark, calls = run(r, cursor)
        _, mark, again = run(r, dict(mark.cursor))
        assert (calls, again) == (1, 1)  # every run during the first hour
        r.clock.advance(3 * 3600)
        _, mark, calls = run(r, dict(mark.cursor))
        _, mark2, again = run(r, dict(mark.cursor))
        assert (calls, again) == (1, 0)  # then every age/12 = 15 minutes
        (entry,) = mark2.cursor["pending"].values()
        assert entry[2] - entry[3] == pytest.approx(15 * 60_000, abs=5_000)
        assert mark2.watermark == datetime.fromtimestamp(entry[3] / 1000, UTC)  # reads known up to the last poll


def test_the_7_day_window_final_poll_and_expiry_without_a_call() -> None:
    with rig() as r:
        alice = r.world.add_user("Alice")
        now_ms = int(r.clock() * 1000)
        closing = inbox(r, alice, at_ms=now_ms - WINDOW_MS + FINAL_MS // 2)
        expired = inbox(r, alice, at_ms=now_ms - WINDOW_MS - 1000)
        _, mark, calls = run(r, {"inbox": [closing, expired]})
        assert calls == 1 and mark.cursor == {"pending": {}}  # the last look, then settled unread


def test_someone_elses_message_is_dropped_and_failures_keep_the_message() -> None:
    with rig() as r:
        alice, bob = r.world.add_user("Alice"), r.world.add_user("Bob")
        chat = r.world.add_chat("pair", [alice["open_id"], bob["open_id"]])
        foreign = r.world.add_user_message(alice["open_id"], chat, "hi")
        mine = inbox(r, bob)
        entry = {"message_id": foreign, "recipient": f"open_id:{bob['open_id']}", "sent_ms": mine["sent_ms"]}
        _, mark, calls = run(r, {"inbox": [entry, mine]})
        assert calls == 2 and list(mark.cursor["pending"]) == [mine["message_id"]]
        r.world.faults.configure(Faults(server_error=1.0))
        r.connector.client.max_attempts, r.connector.client.backoff = 2, 0.01
        items: list[Any] = []
        with pytest.raises(TransientError):
            items.extend(r.connector.read("receipts", dict(mark.cursor)))
        (last,) = items
        assert isinstance(last, Checkpoint) and last.watermark is None
        assert list(last.cursor["pending"]) == [mine["message_id"]]


def test_a_garbled_reader_is_malformed_and_the_message_stays_pending() -> None:
    with rig() as r:
        alice = r.world.add_user("Alice")
        entry = inbox(r, alice)
        r.world.mark_read(entry["message_id"], alice["open_id"])
        r.world.faults.configure(Faults(malformed=1.0, seed=2))
        items = r.read("receipts", {"inbox": [entry]})
        bad = [i for i in items if isinstance(i, Malformed)]
        assert len(bad) == 1 and bad[0].remote_id == entry["message_id"]
        assert list(items[-1].cursor["pending"]) == [entry["message_id"]] and items[-1].watermark is None
        assert items[-1].cursor["pending"][entry["message_id"]][2:] == [0, entry["sent_ms"]]  # asked again next run


def test_next_due() -> None:
    sent = 1_000_000_000_000
    assert next_due(sent, sent + 60_000) == sent + 60_000
    assert next_due(sent, sent + 6 * 3_600_000) == sent + 6 * 3_600_000 + 30 * 60_000
    late = sent + WINDOW_MS - FINAL_MS - 60_000
    assert next_due(sent, late) == sent + WINDOW_MS - FINAL_MS
