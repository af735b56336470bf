"""The completeness gate: a stale stream keeps interviews pending and raises one alert, resolved on catch-up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from lifeline_hub.core.config import load
from lifeline_hub.core.models import Channel, DeliveryType, InterviewKind, LinkEventType
from lifeline_hub.core.plugins import get_host
from lifeline_hub.core.reconcile import needs_of
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import health
from tests.reconcile.scenario import MIN, T0, World, config

HOUR = timedelta(hours=1)
NOW = T0 + 5 * HOUR


def _alerts(store: Store) -> list[tuple[str, str, bool]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(health.c.subject, health.c.message, health.c.resolved_at)
                            .where(health.c.kind == "stale_stream").order_by(health.c.id))
        return [(subject, message, resolved is not None) for subject, message, resolved in rows]


def test_needs_follow_the_configured_streams(tmp_path: Path) -> None:
    needs = needs_of(config(tmp_path).instances("acme"))
    everything = (("acme.ats", "interviews"), ("acme.meet", "attendance"), ("acme.msg", "notifications"),
                  ("acme.msg", "receipts"))
    assert needs.streams[InterviewKind.video] == everything
    assert needs.streams[InterviewKind.phone] == everything
    assert needs.streams[InterviewKind.onsite] == tuple(k for k in everything if k[0] != "acme.meet")
    assert needs.attendance == {InterviewKind.video, InterviewKind.ai_async, InterviewKind.phone}
    without_meet = needs_of(config(tmp_path, meet=False).instances("acme"))
    assert without_meet.attendance == frozenset()


def test_a_stale_stream_keeps_interviews_pending_and_raises_one_alert(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    sent = w.notify(iv, T0 - HOUR, Channel.feishu)
    w.receipt(sent, T0 - HOUR + MIN, DeliveryType.delivered, Channel.feishu, iv=iv)
    w.link(iv, T0 + MIN, LinkEventType.join_attempt)
    for stream in ("acme.ats:interviews", "acme.meet:attendance", "acme.msg:notifications"):
        w.watermark(NOW, only=stream)
    w.watermark(T0, only="acme.msg:receipts")  # stuck five hours ago, before the window ended

    first = w.run(NOW)
    assert w.current() == {}
    assert first.pending == {"stream_behind": 1}
    assert [(s.source, s.stream) for s in first.stale] == [("acme.msg", "receipts")]
    assert any("stale stream: acme.msg:receipts is complete only up to" in line for line in first.lines())
    [(subject, message, resolved)] = _alerts(store)
    assert (subject, resolved) == ("acme.msg:receipts", False)
    assert "300 min behind" in message

    w.run(NOW + HOUR)  # still stuck: the same alert, kept up to date, no second one
    [(subject, message, resolved)] = _alerts(store)
    assert "360 min behind" in message and not resolved
    assert w.current() == {}

    w.watermark(NOW + HOUR)
    caught_up = w.run(NOW + HOUR)
    assert caught_up.stale == ()
    assert _alerts(store) == [("acme.msg:receipts", message, True)]
    assert w.current() == {"iv": ("missed_read_no_show", "link_opened", "high")}


def test_a_stream_behind_only_a_little_is_not_stale(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path, policy="stale_stream_minutes = 60"))
    w.interview("iv", start=NOW - 30 * MIN)
    w.watermark(NOW - 60 * MIN)
    summary = w.run(NOW)
    assert summary.stale == () and _alerts(store) == []
    assert summary.pending == {"window_open": 1}
    assert w.run(NOW + MIN).stale != ()


def test_a_stream_that_never_ran_closes_the_gate_for_the_kinds_that_need_it(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    w.interview("video")
    w.interview("onsite", kind=InterviewKind.onsite)
    for stream in ("acme.ats:interviews", "acme.msg:notifications", "acme.msg:receipts"):
        w.watermark(NOW, only=stream)
    summary = w.run(NOW)
    assert summary.pending == {"stream_behind": 1}
    assert w.current() == {"onsite": ("unknown", "no_attendance_source", "low")}  # onsite needs no attendance
    assert [a[:1] + a[2:] for a in _alerts(store)] == [("acme.meet:attendance", False)]
    assert "no watermark yet" in _alerts(store)[0][1]


def test_lifeline_own_sources_never_gate(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.link(iv, T0 + MIN, LinkEventType.join_error, code="E_DEVICE")  # acme.links: pushed, no sync state
    w.watermark(NOW)
    assert w.run(NOW).stale == ()
    assert w.current()["iv"][:2] == ("missed_technical", "join_error")


def test_a_new_stream_behind_does_not_undo_decisions(store: Store, tmp_path: Path) -> None:
    """Adding an attendance connector re-runs everything; until it catches up, earlier decisions stand."""
    before = World(store, config(tmp_path / "a", meet=False))
    iv = before.interview("iv")
    before.watermark(NOW)
    before.run(NOW)
    assert before.current()["iv"][:2] == ("unknown", "no_attendance_source")

    after = World(store, config(tmp_path / "b"))
    with store.begin() as conn:
        conn.exec_driver_sql("DELETE FROM sync_state WHERE source = 'acme.meet'")
    summary = after.run(NOW + MIN)
    assert summary.full and summary.pending == {"stream_behind": 1}
    assert after.current()["iv"][:2] == ("unknown", "no_attendance_source")
    after.join(iv, T0 + MIN, T0 + 50 * MIN)
    after.watermark(NOW + HOUR)
    after.run(NOW + HOUR)
    assert after.current()["iv"][:2] == ("attended", "on_time")
    assert after.history(iv) == [(1, "unknown", True), (2, "attended", False)]


def test_a_calendar_of_interviewer_check_ins_is_no_attendance_source_for_the_candidate(tmp_path: Path) -> None:
    """DingTalk calendar check-ins are the interviewers' (org members): with only them, a candidate who joined is not
    seen, so the interview must stay `unknown` (and the interviewers be asked), never be decided missed."""
    path = tmp_path / "plugins.toml"
    path.write_text('[lifeline]\nstore = "sqlite:///var/unused.db"\n\n[tenants.acme]\ntimezone = "Asia/Shanghai"\n\n'
                    '[tenants.acme.connectors.dt]\nplugin = "dingtalk"\nconnection_id = "dt"\ncorp_id = "ding1"\n'
                    'agent_id = 1\nstreams = ["receipts", "calendar"]\n', encoding="utf-8")
    needs = needs_of(load(path, get_host()).instances("acme"))
    assert ("acme.dt", "calendar") in needs.streams[InterviewKind.video]  # it still gates: it yields interviews
    assert needs.attendance == frozenset()
