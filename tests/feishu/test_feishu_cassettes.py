"""The connector's real HTTP exchanges, recorded against the emulator and replayed without it.

Replay is the default. Re-record (needs nothing but this repository; secrets, phones and e-mails
are scrubbed and a leak check runs) with:

    LIFELINE_RECORD=1 .venv/bin/pytest tests/feishu/test_feishu_cassettes.py

Worlds are seeded deterministically (fixed RNG seed, clock frozen at T0), so the URLs the
connector builds are the same when recording and when replaying.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feishu_kit import T0, Clock, action, make_connector

from lifeline_hub.connectors.feishu.emulator import EmulatorSettings, FeishuWorld, create_app
from lifeline_hub.connectors.feishu.plugin import FeishuConnector
from lifeline_hub.core import Checkpoint
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.models import Candidate, Confirmation, DeliveryEvent, Interview, InterviewKind
from lifeline_hub.core.testkit import cassette, find_leaks, recording

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes" / "feishu"
NOW_MS = int(T0 * 1000)


@contextmanager
def tenant(name: str, **settings: Any) -> Iterator[tuple[FeishuWorld, FeishuConnector]]:
    """A seeded world and a connector inside cassette `name`; the emulator runs only when recording."""
    clock = Clock(frozen=True)
    world = FeishuWorld(EmulatorSettings(), now=clock)
    settings.setdefault("calendar_id", world.add_calendar("Interviews"))
    try:
        if recording():
            with LoopbackServer(create_app(world=world)) as server, cassette(CASSETTES, name):
                yield world, make_connector(server.url, world, clock, **settings)[0]
        else:
            with cassette(CASSETTES, name):
                yield world, make_connector("http://127.0.0.1:9", world, clock, **settings)[0]
    finally:
        world.close()


def test_card_message_and_its_read_receipt() -> None:
    with tenant("message_and_receipt") as (world, connector):
        alice = world.add_user("Alice", mobile="13812345678", email="alice@example.com")
        payload = {"recipients": [alice["open_id"]], "title": "Interview tomorrow", "text": "Please confirm",
                   "links": [{"label": "Confirm", "url": "https://ll.example/c/t1"}], "urgent": True}  # fmt: skip
        sent = connector.perform(action("send_message", payload, key="ll-cassette-message-1"))
        if recording():
            world.mark_read(sent.remote_id, alice["open_id"], at_ms=NOW_MS + 1000)
        items = list(connector.read("receipts", {"inbox": sent.handoff["receipts"]["inbox"]}))
    (read,) = [i for i in items if isinstance(i, DeliveryEvent)]
    assert sent.remote_id.startswith("om_") and sent.detail["urgent"] == ["app"]
    assert read.notification_id == f"acme.feishu/{sent.remote_id}"
    assert read.remote_id == f"{sent.remote_id}/read/open_id:{alice['open_id']}"
    assert read.occurred_at == datetime.fromtimestamp(T0 + 1, UTC)
    assert items[-1] == Checkpoint({"pending": {}}, datetime.fromtimestamp(T0, UTC))


def test_hire_interviews_window() -> None:
    with tenant("hire_interviews") as (world, connector):
        alice = world.add_user("Alice")
        for i, kind in enumerate((1, 2, 3)):
            begin = NOW_MS + (i + 1) * 3_600_000
            world.add_hire_interview(str(7001 + i), str(9001 + i), begin, begin + 1_800_000, [alice["open_id"]],
                                     interview_type=kind)  # fmt: skip
        world.add_talent("9001", "Candidate One")  # no contacts: the scrubber would mask them on tape
        items = list(connector.read("interviews", {}))
    interviews = [i for i in items if isinstance(i, Interview)]
    (candidate,) = [i for i in items if isinstance(i, Candidate)]  # 9002 and 9003 are unknown talents
    assert candidate.remote_id == "9001" and candidate.name == "Candidate One" and candidate.contacts == ()
    assert [i.candidate_id for i in interviews] == ["acme.feishu/9001", "acme.feishu/9002", "acme.feishu/9003"]
    assert [(i.application_id, i.kind) for i in interviews] == [
        ("7001", InterviewKind.onsite),
        ("7002", InterviewKind.phone),
        ("7003", InterviewKind.video),
    ]
    assert all(i.interviewer_ids == (f"open_id:{alice['open_id']}",) for i in interviews)
    assert items[-1].watermark == datetime.fromtimestamp(T0, UTC)


def test_calendar_event_and_rsvp() -> None:
    """(VC meeting reports are not taped: the scrubber masks their `2025.06.15 18:06:40` times as phone
    numbers, so the attendance stream is covered against the live emulator only.)"""
    with tenant("calendar_rsvp") as (world, connector):
        hr = world.add_user("HR")
        start = T0 + 86400
        payload = {"organizer": hr["open_id"], "summary": "Interview", "ical_uid": "iv-1@ll",
                   "start_at": datetime.fromtimestamp(start, UTC).isoformat(),
                   "end_at": datetime.fromtimestamp(start + 1800, UTC).isoformat()}  # fmt: skip
        created = connector.perform(action("create_calendar_event", payload, key="ll-cassette-event-1",
                                           interview_id="acme.hire/1"))  # fmt: skip
        if recording():
            cal = connector.config.calendar_id
            assert cal is not None
            guest = world.add_attendee(cal, created.remote_id, email="candidate@example.com")
            world.set_rsvp(cal, created.remote_id, guest, "accept")
        rsvps = list(connector.read("rsvps", {}))
    assert created.detail["app_link"].startswith("https://applink.feishu.cn/client/calendar/event/detail?")
    (yes,) = [i for i in rsvps if isinstance(i, Confirmation)]
    assert yes.interview_id == "acme.hire/1" and yes.action.value == "confirm" and yes.sequence_seen == 0
    assert yes.remote_id.startswith(f"{created.remote_id}/third_party_")


def test_cassettes_are_committed_and_clean() -> None:
    names = sorted(p.name for p in CASSETTES.glob("*.yaml"))
    assert names == ["calendar_rsvp.yaml", "hire_interviews.yaml", "message_and_receipt.yaml"]
    for path in CASSETTES.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert not find_leaks(text) and "emulator-app-secret" not in text and "alice@example.com" not in text
