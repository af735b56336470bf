"""A repeated vendor delivery is recognised as a replay on both databases: the receiver decides "did I store
it" from the database's answer (INSERT ... ON CONFLICT DO NOTHING RETURNING), never from a rowcount."""

from __future__ import annotations

from datetime import UTC, datetime

from lifeline_hub.core.connector import CallbackResult
from lifeline_hub.core.models import LinkEvent, LinkEventType
from lifeline_hub.core.receiver.callbacks import store_callback
from lifeline_hub.core.store import Store, insert_new
from lifeline_hub.core.store.schema import inbound_events

AT = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def test_a_replayed_callback_is_stored_once_and_known_as_a_replay(store: Store) -> None:
    event = LinkEvent(source="acme.ai", remote_id="ev-1", interview_id="acme.ai/inv-1", occurred_at=AT,
                      type=LinkEventType.open)
    result = CallbackResult(reply={"received": True}, event_id="ev-1", records=(event,))
    assert store_callback(store, "acme", "acme.ai", result, AT) is True
    assert store_callback(store, "acme", "acme.ai", result, AT) is False  # psycopg said -1 here: "fresh" again
    assert store.count("inbound_events") == 1 and store.count("evidence") == 1
    assert store_callback(store, "acme", "acme.other", result, AT) is True  # another source's event id is its own


def test_insert_new_reports_exactly_the_rows_it_inserted(store: Store) -> None:
    rows = [{"source": "s", "event_id": f"e{i}", "received_at": AT} for i in range(5)]
    with store.begin() as conn:
        assert insert_new(conn, inbound_events, rows[:3], ("source", "event_id")) == {("s", "e0"), ("s", "e1"),
                                                                                      ("s", "e2")}
    with store.begin() as conn:
        assert insert_new(conn, inbound_events, rows, ("source", "event_id")) == {("s", "e3"), ("s", "e4")}
    with store.begin() as conn:
        assert insert_new(conn, inbound_events, rows, ("source", "event_id")) == set()
