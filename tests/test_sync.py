"""The sync engine: batches with checkpoints, quarantine, partial progress on vendor failure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa

from lifeline_hub.core import Checkpoint, Connector, Instance, StreamInfo
from lifeline_hub.core.config import ConnectorSetup, InstanceConfig
from lifeline_hub.core.connector import NoSettings, StreamItem
from lifeline_hub.core.models import AppointmentThread, Interview, InterviewKind, InterviewStatus, LinkEvent
from lifeline_hub.core.store import Store, schema
from lifeline_hub.core.sync import sync_stream

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class Flaky(Connector):
    """Pages of link events from a list; fails once at `fail_at` if set."""

    name = "flaky"
    streams = (StreamInfo("link_events", (LinkEvent,)),)
    pages: ClassVar[list[list[dict[str, Any]]]] = []
    fail_at: int | None = None

    def read(self, stream: str, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
        for page_no in range(int(cursor.get("page", 0)), len(self.pages)):
            if page_no == self.fail_at:
                Flaky.fail_at = None
                raise ConnectionError("vendor went away")
            for raw in self.pages[page_no]:
                yield self.parse(LinkEvent, raw, remote_id=raw.get("id"), interview_id="acme.hire/iv1",
                                 occurred_at=raw.get("at"), type=raw.get("type", "open"))
            yield Checkpoint({"page": page_no + 1}, T0 + timedelta(hours=page_no + 1))


def _setup() -> ConnectorSetup:
    return ConnectorSetup("acme", "fl", InstanceConfig(plugin="flaky"), Flaky, NoSettings(),
                          Instance(tenant="acme", name="acme.fl"))


def _page(n: int) -> list[dict[str, Any]]:
    return [{"id": f"e{n}-{i}", "at": (T0 + timedelta(minutes=n * 10 + i)).isoformat()} for i in range(3)]


def test_sync_resumes_after_a_failure_without_losing_or_duplicating(store: Store) -> None:
    Flaky.pages = [_page(0), _page(1), [*_page(2), {"id": "bad", "at": "yesterday-ish"}], _page(3)]
    Flaky.fail_at = 2
    with pytest.raises(ConnectionError):
        sync_stream(store, _setup(), "link_events")
    state = store.stream_state("acme.fl", "link_events")
    assert state.cursor == {"page": 2} and state.last_error == "ConnectionError: vendor went away"
    assert store.count("evidence") == 6

    summary = sync_stream(store, _setup(), "link_events")
    assert (summary.written.inserted, summary.written.quarantined, summary.checkpoints) == (6, 1, 2)
    assert summary.watermark == T0 + timedelta(hours=4)
    assert store.count("evidence") == 12
    with store.engine.connect() as conn:
        reason = conn.execute(sa.select(schema.quarantine.c.reason)).scalar_one()
    assert reason.startswith("occurred_at: ")
    state = store.stream_state("acme.fl", "link_events")
    assert state.cursor == {"page": 4} and state.last_error is None

    again = sync_stream(store, _setup(), "link_events")  # nothing new after the last checkpoint
    assert (again.written.inserted, again.checkpoints) == (0, 0)


def test_records_from_another_source_are_quarantined(store: Store) -> None:
    class Liar(Flaky):
        def read(self, stream: str, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
            yield LinkEvent(source="someone.else", remote_id="x", occurred_at=T0, type="open")

    setup = ConnectorSetup("acme", "fl", InstanceConfig(plugin="flaky"), Liar, NoSettings(),
                           Instance(tenant="acme", name="acme.fl"))
    summary = sync_stream(store, setup, "link_events")
    assert summary.written.quarantined == 1 and store.count("evidence") == 0


class Receipts(Connector):
    """Moves handed-over sends from cursor key `sent` into `pending`; can hand over more mid-read."""

    name = "receipts"
    streams = (StreamInfo("receipts", (LinkEvent,)),)
    store: ClassVar[Store | None] = None

    def read(self, stream: str, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
        pending = sorted({*cursor.get("pending", []), *cursor.get("sent", [])})
        if self.store is not None:  # a send dispatched while this sync runs
            with self.store.begin() as conn:
                self.store.add_handoff(conn, "acme.rc", {"receipts": {"sent": ["late"]}})
            Receipts.store = None
        yield Checkpoint({"pending": pending}, T0)


def test_handoffs_reach_the_next_read_once_and_none_are_lost(store: Store) -> None:
    setup = ConnectorSetup("acme", "rc", InstanceConfig(plugin="receipts"), Receipts, NoSettings(),
                           Instance(tenant="acme", name="acme.rc"))
    with store.begin() as conn:
        store.add_handoff(conn, "acme.rc", {"receipts": {"sent": ["m1", "m2"]}, "tasks": {"new": []}})
        store.add_handoff(conn, "acme.rc", {"receipts": {"sent": ["m3"]}})
    Receipts.store = store
    sync_stream(store, setup, "receipts")
    assert store.stream_state("acme.rc", "receipts").cursor == {"pending": ["m1", "m2", "m3"]}
    assert store.pending_handoffs("acme.rc", "receipts")[1] == {"sent": ["late"]}
    sync_stream(store, setup, "receipts")
    assert store.stream_state("acme.rc", "receipts").cursor == {"pending": ["late", "m1", "m2", "m3"]}
    assert store.pending_handoffs("acme.rc", "receipts") == ([], {})
    assert store.count("handoffs", stream="tasks") == 0  # an empty handoff is never queued


class Ats(Connector):
    """Always reports the same interview: SEQUENCE 0 at its original time (it never heard of a reschedule)."""

    name = "ats"
    streams = (StreamInfo("interviews", (Interview,)),)

    def read(self, stream: str, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
        yield self.parse(Interview, {}, remote_id="iv1", kind=InterviewKind.video, start_at=T0,
                         end_at=T0 + timedelta(hours=1), status=InterviewStatus.scheduled,
                         thread=AppointmentThread(thread_id="th1", ical_uid="iv1@ats", sequence=0))
        yield Checkpoint({"polled": int(cursor.get("polled", 0)) + 1}, T0)


def test_a_resync_of_the_ats_keeps_a_rescheduled_interview_where_lifeline_moved_it(store: Store) -> None:
    setup = ConnectorSetup("acme", "ats", InstanceConfig(plugin="ats"), Ats, NoSettings(),
                           Instance(tenant="acme", name="acme.ats"))
    sync_stream(store, setup, "interviews")
    with store.engine.connect() as conn:
        original = Interview.model_validate(conn.execute(sa.select(schema.interviews.c.data)).scalar_one())
    moved = T0 + timedelta(days=1)  # what an approved reschedule writes: same thread, SEQUENCE + 1
    store.write("acme", [original.model_copy(update={
        "start_at": moved, "end_at": moved + timedelta(hours=1),
        "thread": original.thread.model_copy(update={"sequence": 1})})])
    summary = sync_stream(store, setup, "interviews")
    assert summary.written.updated == 1
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(schema.interviews)).one()
    assert (row.sequence, row.start_at, row.data["thread"]["sequence"]) == (1, moved, 1)
    assert store.stream_state("acme.ats", "interviews").cursor == {"polled": 2}
