"""An interviewer's answer to "Did <candidate> attend?" decides an interview no machine saw (issue 20)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from lifeline_hub.core.models import AttendanceVerdict, Channel, DeliveryType, Role
from lifeline_hub.core.reconcile.trail import evidence_trail
from lifeline_hub.core.store import Store
from tests.reconcile.scenario import MIN, T0, World, config

NOW = T0 + timedelta(hours=3)
AFTER = T0 + 70 * MIN
"""The interviewers answer ten minutes after the window."""
V = AttendanceVerdict
PANEL = ("ou_lead", "ou_second")


def _world(store: Store, tmp_path: Path) -> World:
    """A video interview of two interviewers and no attendance source (as Feishu Hire video interviews)."""
    w = World(store, config(tmp_path, meet=False))
    w.interview("iv", interviewers=PANEL)
    w.watermark(NOW)
    return w


def _delivered_sms(w: World) -> None:
    sms = w.notify("acme.ats/iv", T0 - 60 * MIN, Channel.sms)
    w.receipt(sms, T0 - 59 * MIN, DeliveryType.delivered)


@pytest.mark.parametrize(("verdict", "expected"), [
    (V.attended, ("attended", "interviewer_reported", "high")),
    (V.attended_late, ("attended_late", "interviewer_reported", "high")),
    (V.technical, ("missed_technical", "interviewer_reported", "high")),
    (V.no_show, ("missed_not_reached", "delivered_read_unknown", "medium")),
])
def test_an_interviewers_answer_decides_an_interview_no_machine_saw(
        store: Store, tmp_path: Path, verdict: AttendanceVerdict, expected: tuple[str, str, str]) -> None:
    w = _world(store, tmp_path)
    _delivered_sms(w)
    w.reported("acme.ats/iv", AFTER, "ou_lead", verdict)
    w.run(NOW)
    assert w.current()["iv"] == expected


def test_without_an_answer_it_stays_unknown(store: Store, tmp_path: Path) -> None:
    w = _world(store, tmp_path)
    _delivered_sms(w)
    w.run(NOW)
    assert w.current()["iv"] == ("unknown", "no_attendance_source", "low")


def test_an_answer_from_someone_not_on_the_panel_is_kept_but_does_not_count(store: Store, tmp_path: Path) -> None:
    w = _world(store, tmp_path)
    _delivered_sms(w)
    w.reported("acme.ats/iv", AFTER, "ou_hr_anna", V.attended, role=Role.hr)
    w.run(NOW)
    assert w.current()["iv"][0] == "unknown"
    trail = evidence_trail(store, "acme.ats/iv")
    assert trail is not None
    [answer] = [e for e in trail.entries if e.event.startswith("attendance reported")]
    assert not answer.counted and "not one of the interview's interviewers" in answer.detail


def test_an_answer_about_an_earlier_version_does_not_count(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path, meet=False))
    w.interview("iv", interviewers=PANEL, sequence=1)
    w.watermark(NOW)
    w.reported("acme.ats/iv", AFTER, "ou_lead", V.attended, sequence=0)
    w.run(NOW)
    assert w.current()["iv"][0] == "unknown"


@pytest.mark.parametrize(("first", "second", "expected"), [
    (V.no_show, V.attended, ("attended", "interviewer_reported", "medium")),
    (V.attended, V.attended_late, ("attended_late", "interviewer_reported", "medium")),
    (V.no_show, V.technical, ("missed_technical", "interviewer_reported", "medium")),
])
def test_conflicting_answers_someone_who_saw_the_candidate_outweighs_someone_who_did_not(
        store: Store, tmp_path: Path, first: AttendanceVerdict, second: AttendanceVerdict,
        expected: tuple[str, str, str]) -> None:
    w = _world(store, tmp_path)
    w.reported("acme.ats/iv", AFTER, "ou_lead", first)
    w.reported("acme.ats/iv", AFTER + MIN, "ou_second", second)
    w.run(NOW)
    assert w.current()["iv"] == expected


def test_machine_attendance_beats_an_answer(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    w.interview("iv", interviewers=PANEL)
    w.watermark(NOW)
    w.join("acme.ats/iv", T0 + MIN, T0 + 50 * MIN)
    w.reported("acme.ats/iv", AFTER, "ou_lead", V.no_show)
    w.run(NOW)
    assert w.current()["iv"] == ("attended", "on_time", "high")


def test_an_answer_decides_even_where_a_source_saw_no_join(store: Store, tmp_path: Path) -> None:
    """The meeting platform saw nobody (the candidate dialled in by phone); the interviewer saw them."""
    w = World(store, config(tmp_path))
    w.interview("iv", interviewers=PANEL)
    w.watermark(NOW)
    w.reported("acme.ats/iv", AFTER, "ou_second", V.attended)
    w.run(NOW)
    assert w.current()["iv"] == ("attended", "interviewer_reported", "high")
