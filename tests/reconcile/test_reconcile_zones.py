"""Time zones: decisions run on UTC instants; the evidence export speaks the tenant's zone (Shanghai, DST zones)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from lifeline_hub.core.models import Channel, DeliveryType, LinkEventType
from lifeline_hub.core.reconcile import evidence_trail
from lifeline_hub.core.store import Store
from tests.reconcile.scenario import MIN, T0, World, config

SEC = timedelta(seconds=1)


def test_the_trail_is_time_ordered_in_shanghai_time(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.join(iv, T0 + 7 * MIN, T0 + 50 * MIN)  # written first, happened last
    w.link(iv, T0 + 6 * MIN, LinkEventType.join_attempt)
    w.link(iv, T0 - 23 * 60 * MIN, LinkEventType.open, machine=True)
    sent = w.notify(iv, T0 - 24 * 60 * MIN, Channel.sms)
    w.receipt(sent, T0 - 24 * 60 * MIN + MIN, DeliveryType.delivered)  # knows only its notification
    w.watermark(T0 + 2 * 60 * MIN)
    w.run(T0 + 2 * 60 * MIN)

    trail = evidence_trail(store, iv, "Asia/Shanghai")
    assert trail is not None
    data = trail.as_dict()
    assert data["interview"]["start_at"] == "2026-03-02T10:00:00+08:00"
    assert [(e["at"], e["event"], e["counted"]) for e in data["trail"]] == [
        ("2026-03-01T10:00:00+08:00", "sent invite", True),
        ("2026-03-01T10:01:00+08:00", "delivered", True),
        ("2026-03-01T11:00:00+08:00", "link opened", False),
        ("2026-03-02T10:06:00+08:00", "join attempt", True),
        ("2026-03-02T10:07:00+08:00", "joined", True),
        ("2026-03-02T10:50:00+08:00", "left", True),
        ("2026-03-02T12:00:00+08:00", "outcome v1: attended_late", True),
    ]
    scanner = data["trail"][2]
    assert scanner["detail"] == "machine-made (scanner_burst), not counted"
    assert data["outcomes"][0]["outcome"] == "attended_late" and data["outcomes"][0]["superseded_at"] is None


def test_receipts_show_in_the_trail_before_any_reconcile(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    sent = w.notify(iv, T0 - 60 * MIN, Channel.feishu)
    w.receipt(sent, T0 - 50 * MIN, DeliveryType.read, Channel.feishu)
    trail = evidence_trail(store, iv)
    assert trail is not None and [e.event for e in trail.entries] == ["sent invite", "read"]
    assert trail.timezone == "Asia/Shanghai"  # the interview's own zone when none is given
    assert evidence_trail(store, "acme.ats/nope") is None


def test_a_window_across_the_spring_forward_is_decided_in_utc(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path, timezone="America/New_York"))
    start = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # 01:30 EST; the window ends 03:30 EDT, one hour later
    iv = w.interview("iv", start=start)
    w.join(iv, start + 6 * MIN, start + 50 * MIN)
    w.watermark(start + 3 * 60 * MIN)
    assert w.run(start + 90 * MIN - SEC).pending == {"window_open": 1}
    w.run(start + 90 * MIN)
    assert w.current()["iv"][:2] == ("attended_late", "late_join")
    trail = evidence_trail(store, iv, "America/New_York")
    assert trail is not None
    data = trail.as_dict()
    assert (data["interview"]["start_at"], data["interview"]["end_at"]) == (
        "2026-03-08T01:30:00-05:00", "2026-03-08T03:30:00-04:00")
    assert data["trail"][0]["at"] == "2026-03-08T01:36:00-05:00"


def test_the_repeated_hour_of_the_fall_back_keeps_its_order(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path, timezone="Europe/Berlin"))
    start = datetime(2026, 10, 25, 0, 15, tzinfo=UTC)  # 02:15 CEST; at 01:00 UTC it is 02:00 again (CET)
    iv = w.interview("iv", start=start, minutes=90)
    w.link(iv, datetime(2026, 10, 25, 0, 30, tzinfo=UTC), LinkEventType.join_error)
    w.link(iv, datetime(2026, 10, 25, 1, 30, tzinfo=UTC), LinkEventType.join_error)
    trail = evidence_trail(store, iv, "Europe/Berlin")
    assert trail is not None
    assert [e["at"] for e in trail.as_dict()["trail"]] == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"]
