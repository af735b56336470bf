"""Exact boundaries: grace, watermark, lateness, minimum attendance, technical clicks, the pre-join window."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lifeline_hub.core.models import Channel, DeliveryType, LinkEventType
from lifeline_hub.core.store import Store
from tests.reconcile.scenario import MIN, T0, World, config

SEC = timedelta(seconds=1)
DECIDE_AT = T0 + 90 * MIN  # a 60-minute window + the default 30-minute grace


def _reached(w: World, iv: str) -> None:
    sent = w.notify(iv, T0 - 60 * MIN)
    w.receipt(sent, T0 - 59 * MIN, DeliveryType.delivered, iv=iv)


def test_nothing_is_decided_before_window_end_plus_grace(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    w.interview("iv")
    w.watermark(DECIDE_AT + 60 * MIN)
    early = w.run(DECIDE_AT - SEC)
    assert w.current() == {} and early.pending == {"window_open": 1}
    on_time = w.run(DECIDE_AT)
    assert w.current() == {"iv": ("missed_not_reached", "nothing_sent", "high")}
    assert not on_time.pending


def test_a_watermark_must_reach_window_end_plus_grace(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    w.interview("iv")
    for stream in ("acme.ats:interviews", "acme.msg:notifications", "acme.msg:receipts"):
        w.watermark(DECIDE_AT + 60 * MIN, only=stream)
    w.watermark(DECIDE_AT - SEC, only="acme.meet:attendance")
    behind = w.run(DECIDE_AT + 60 * MIN)
    assert w.current() == {} and behind.pending == {"stream_behind": 1}
    w.watermark(DECIDE_AT, only="acme.meet:attendance")
    w.run(DECIDE_AT + 61 * MIN)
    assert w.current()["iv"][0] == "missed_not_reached"


@pytest.mark.parametrize(("joined", "expected"), [
    (T0 + 5 * MIN, "attended"),
    (T0 + 5 * MIN + SEC, "attended_late"),
    (T0 - 15 * MIN, "attended"),
])
def test_late_after_is_inclusive(store: Store, tmp_path: Path, joined: datetime, expected: str) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.join(iv, joined, T0 + 50 * MIN)
    w.watermark(DECIDE_AT)
    w.run(DECIDE_AT)
    assert w.current()["iv"][0] == expected


@pytest.mark.parametrize(("seconds", "expected"), [(300, "attended"), (299, "attended_partial")])
def test_minimum_attendance_is_inclusive(store: Store, tmp_path: Path, seconds: int, expected: str) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.join(iv, T0 + MIN, T0 + MIN + timedelta(seconds=seconds))
    w.watermark(DECIDE_AT)
    w.run(DECIDE_AT)
    assert w.current()["iv"][0] == expected


def test_a_segment_before_the_pre_join_window_is_not_attendance(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.join(iv, T0 - 40 * MIN, T0 - 15 * MIN - SEC)  # a sound check that ended before the window
    w.join(iv, T0 + 20 * MIN, None, remote_id="no-leave-recorded")  # counted until the window end
    w.watermark(DECIDE_AT)
    w.run(DECIDE_AT)
    assert w.current()["iv"][:2] == ("attended_late", "late_join")


@pytest.mark.parametrize(("policy", "clicks", "expected"), [
    ("", 1, ("missed_read_no_show", "link_opened")),
    ("", 2, ("missed_technical", "repeated_attempts")),
    ("technical_clicks = 3", 2, ("missed_read_no_show", "link_opened")),
    ("technical_clicks = 3", 3, ("missed_technical", "repeated_attempts")),
])
def test_technical_clicks_threshold_comes_from_the_tenant_policy(
        store: Store, tmp_path: Path, policy: str, clicks: int, expected: tuple[str, str]) -> None:
    w = World(store, config(tmp_path, policy=policy))
    iv = w.interview("iv")
    _reached(w, iv)
    for n in range(clicks):
        w.link(iv, T0 + n * MIN, LinkEventType.join_attempt)
    w.watermark(DECIDE_AT)
    w.run(DECIDE_AT)
    assert w.current()["iv"][:2] == expected


@pytest.mark.parametrize(("first", "expected"), [
    (T0 - 15 * MIN, "missed_technical"),
    (T0 - 15 * MIN - SEC, "missed_read_no_show"),
])
def test_pre_join_window_starts_15_minutes_before(store: Store, tmp_path: Path, first: datetime,
                                                  expected: str) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.link(iv, first, LinkEventType.open)
    w.link(iv, T0 + 60 * MIN, LinkEventType.join_attempt)  # the last second of the window still counts
    w.watermark(DECIDE_AT)
    w.run(DECIDE_AT)
    assert w.current()["iv"][0] == expected


def test_thresholds_come_from_plugins_toml(store: Store, tmp_path: Path) -> None:
    policy = "grace_minutes = 45, late_after_minutes = 10, min_attendance_minutes = 20"
    w = World(store, config(tmp_path, policy=policy))
    for name, joined, minutes in (("late-ok", 10, 30), ("late", 11, 30), ("short", 0, 19)):
        iv = w.interview(name)
        w.join(iv, T0 + joined * MIN, T0 + (joined + minutes) * MIN)
    w.watermark(T0 + 105 * MIN)
    assert w.run(T0 + 105 * MIN - SEC).pending == {"window_open": 3}
    w.run(T0 + 105 * MIN)
    assert {k: v[0] for k, v in w.current().items()} == {
        "late-ok": "attended", "late": "attended_late", "short": "attended_partial"}


def test_reach_counts_only_up_to_the_window_end(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    sent = w.notify(iv, T0 - 60 * MIN, Channel.dingtalk)
    w.receipt(sent, T0 + 60 * MIN + SEC, DeliveryType.read, Channel.dingtalk, iv=iv)
    w.watermark(DECIDE_AT)
    w.run(DECIDE_AT)
    assert w.current()["iv"][:2] == ("missed_not_reached", "delivered_unread")
