"""Re-decisions: late evidence, reschedules and cancellations supersede outcomes; incremental runs; hooks."""

from __future__ import annotations

import types
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from lifeline_hub.core import hookimpl
from lifeline_hub.core.models import (
    ActionStatus,
    Confidence,
    Evidence,
    Interview,
    InterviewStatus,
    LinkEventType,
    Outcome,
    OutcomeClass,
    idempotency_key,
)
from lifeline_hub.core.reconcile import RULE_VERSION
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import actions, outcomes, reconcile_state
from tests.reconcile.scenario import MIN, T0, World, config

HOUR = timedelta(hours=1)
NOW = T0 + 2 * HOUR
NO_OVERLAP = timedelta(0)


def _plan(store: Store, iv: str, version: int, kind: str, status: ActionStatus) -> None:
    with store.begin() as conn:
        conn.execute(sa.insert(actions).values(
            idempotency_key=idempotency_key(iv, version, kind, 0), tenant="acme", connector="acme.msg", kind=kind,
            interview_id=iv, outcome_version=version, payload={}, status=status.value, due_at=NOW,
            created_at=NOW, updated_at=NOW))


def _statuses(store: Store) -> dict[str, str]:
    with store.engine.connect() as conn:
        return {kind: status for kind, status in conn.execute(sa.select(actions.c.kind, actions.c.status))}


def test_a_late_join_supersedes_a_miss_and_cancels_its_planned_remediation(store: Store, tmp_path: Path) -> None:
    seen: list[Outcome] = []

    def observe(outcome: Outcome) -> None:
        seen.append(outcome)

    w = World(store, config(tmp_path))
    w.host.register(types.SimpleNamespace(lifeline_on_outcome=hookimpl(observe)), "observer")
    iv = w.interview("iv")
    w.watermark(NOW)
    w.run(NOW)
    assert w.history(iv) == [(1, "missed_not_reached", False)]
    assert [(o.version, o.outcome) for o in seen] == [(1, OutcomeClass.missed_not_reached)]
    _plan(store, iv, 1, "send_message", ActionStatus.planned)
    _plan(store, iv, 1, "create_task", ActionStatus.planned)
    _plan(store, iv, 1, "reissue_link", ActionStatus.claimed)  # being dispatched: not ours to stop
    _plan(store, iv, 1, "create_calendar_event", ActionStatus.done)

    w.join(iv, T0 + 20 * MIN, T0 + 55 * MIN)  # the meeting platform's log arrives late
    w.watermark(NOW + HOUR)
    summary = w.run(NOW + HOUR, overlap=NO_OVERLAP)
    assert (summary.superseded, summary.cancelled_actions) == (1, 2)
    assert summary.decided == {"attended_late": 1}
    assert w.history(iv) == [(1, "missed_not_reached", True), (2, "attended_late", False)]
    assert _statuses(store) == {"send_message": "cancelled", "create_task": "cancelled",
                                "reissue_link": "claimed", "create_calendar_event": "done"}
    assert [(o.version, o.outcome, o.rule_version) for o in seen][1:] == [
        (2, OutcomeClass.attended_late, RULE_VERSION)]
    with store.engine.connect() as conn:
        old = conn.execute(sa.select(outcomes.c.superseded_at).where(outcomes.c.version == 1)).scalar_one()
    assert old == NOW + HOUR


def test_a_reschedule_before_the_start_replaces_the_old_window(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.link(iv, T0 + MIN, LinkEventType.join_error)  # trouble in the old window...
    w.interview("iv", start=T0 + 24 * HOUR, sequence=1, updated=T0 - HOUR)  # ...which was moved before it began
    w.watermark(NOW)
    summary = w.run(NOW)
    assert w.current() == {} and summary.pending == {"window_open": 1}
    w.join(iv, T0 + 24 * HOUR + MIN, T0 + 24 * HOUR + 50 * MIN)
    w.watermark(NOW + 24 * HOUR)
    w.run(NOW + 24 * HOUR)
    assert w.current() == {"iv": ("attended", "on_time", "high")}  # the old window's error no longer counts


def test_a_new_version_in_the_thread_reschedules_the_old_interview(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    old = w.interview("v0", thread="t")
    w.interview("v1", thread="t", sequence=1, start=T0 + 24 * HOUR, updated=T0 - HOUR)
    w.interview("after-miss", thread="u")
    w.interview("remedy", thread="u", sequence=1, start=T0 + 24 * HOUR, updated=T0 + 3 * HOUR)
    w.link(old, T0 + MIN, LinkEventType.join_error)
    w.watermark(NOW)
    w.run(NOW)
    assert w.current() == {"v0": ("rescheduled", "new_version", "high"),
                           "after-miss": ("missed_not_reached", "nothing_sent", "high")}
    w.watermark(NOW + 2 * HOUR)
    w.run(NOW + 2 * HOUR)  # the remedy's row comes later: the miss it remedies stays a miss
    assert w.current()["after-miss"][0] == "missed_not_reached"


def test_moving_a_decided_interview_reverts_it_to_pending(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.watermark(NOW)
    w.run(NOW)
    _plan(store, iv, 1, "create_task", ActionStatus.planned)
    w.interview("iv", start=NOW + 24 * HOUR, sequence=1)  # HR moves it to tomorrow
    summary = w.run(NOW + MIN, overlap=NO_OVERLAP)
    assert w.history(iv) == [(1, "missed_not_reached", True), (2, "pending", False)]
    assert w.current()["iv"] == ("pending", "window_open", "high")
    assert summary.cancelled_actions == 1 and _statuses(store) == {"create_task": "cancelled"}


def test_a_cancellation_after_a_no_show_keeps_the_no_show(store: Store, tmp_path: Path) -> None:
    """The ATS closing a missed interview as cancelled afterwards does not undo the miss."""
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.watermark(NOW)
    w.run(NOW)
    w.interview("iv", status=InterviewStatus.cancelled, updated=NOW)
    w.run(NOW + MIN, overlap=NO_OVERLAP)
    assert w.history(iv) == [(1, "missed_not_reached", False)]


def test_a_cancellation_before_the_start_is_cancelled(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.watermark(NOW)
    w.run(NOW)
    w.interview("iv", status=InterviewStatus.cancelled, updated=T0 - MIN)
    w.run(NOW + MIN, overlap=NO_OVERLAP)
    assert w.history(iv) == [(1, "missed_not_reached", True), (2, "cancelled", False)]


def test_an_interview_cancelled_before_it_was_decided_stays_cancelled_whenever_the_ats_last_touched_it(
        store: Store, tmp_path: Path) -> None:
    """The ATS's update time is not the cancellation time (a note added to a cancelled interview next day moves it):
    only a cancellation seen after Lifeline had decided the interview keeps that decision. Nothing was ever decided
    here, so an ATS record updated after the window is still `cancelled`, never a miss blamed on the candidate."""
    w = World(store, config(tmp_path))
    iv = w.interview("iv", status=InterviewStatus.cancelled, updated=NOW)
    w.watermark(NOW)
    w.run(NOW)
    assert w.history(iv) == [(1, "cancelled", False)]


def test_incremental_runs_revisit_only_what_changed_or_came_due(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    ids = [w.interview(f"iv{n}", start=T0 + n * HOUR) for n in range(4)]
    w.watermark(NOW + 10 * HOUR)
    first = w.run(NOW)  # iv0 is due; iv1..iv3 are still in their windows
    assert first.full and first.examined == 4 and len(w.current()) == 1

    quiet = w.run(NOW + MIN, overlap=NO_OVERLAP)
    assert not quiet.full and quiet.examined == 0 and not quiet.decided

    w.link(ids[0], T0 + MIN, LinkEventType.open)
    touched = w.run(NOW + 2 * MIN, overlap=NO_OVERLAP)
    assert touched.examined == 1 and touched.decided == {"missed_read_no_show": 1}

    due = w.run(NOW + 2 * HOUR, overlap=NO_OVERLAP)  # iv1 and iv2 came due
    assert due.examined == 2 and sorted(w.current()) == ["iv0", "iv1", "iv2"]
    with store.engine.connect() as conn:
        state = conn.execute(sa.select(reconcile_state)).one()
    assert state.rule_version == RULE_VERSION and state.cutoffs["video"] == (NOW + 90 * MIN).isoformat()


def test_changing_a_threshold_re_decides_everything(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.join(iv, T0 + 8 * MIN, T0 + 50 * MIN)
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["iv"][0] == "attended_late"
    relaxed = World(store, config(tmp_path / "relaxed", policy="late_after_minutes = 10"))
    summary = relaxed.run(NOW + MIN, overlap=NO_OVERLAP)
    assert summary.full and summary.examined == 1
    assert relaxed.history(iv) == [(1, "attended_late", True), (2, "attended", False)]
    assert World(store, config(tmp_path / "alerts", policy="late_after_minutes = 10, stale_stream_minutes = 5")
                 ).run(NOW + 2 * MIN).full is False  # alert settings do not change decisions


def test_a_plugin_can_override_the_decision(store: Store, tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []

    def classify(interview: Interview, evidence: Sequence[Evidence]) -> Outcome | None:
        calls.append((interview.remote_id, len(evidence)))
        if interview.remote_id != "special":
            return None
        return Outcome(interview_id=interview.id, outcome=OutcomeClass.attended, sub_reason="interviewer_attested",
                       confidence=Confidence.medium, rule_version="acme-rules-1", decided_at=NOW)

    w = World(store, config(tmp_path))
    w.host.register(types.SimpleNamespace(lifeline_classify=hookimpl(classify)), "acme_rules")
    special, plain = w.interview("special"), w.interview("plain")
    w.interview("future", start=NOW + HOUR)
    w.link(special, T0 + MIN, LinkEventType.join_error)
    w.link(plain, T0 + MIN, LinkEventType.join_error)
    w.watermark(NOW)
    summary = w.run(NOW)
    assert summary.overridden == 1
    assert sorted(calls) == [("plain", 1), ("special", 1)]  # never asked about pending interviews
    assert w.current() == {"special": ("attended", "interviewer_attested", "medium"),
                           "plain": ("missed_technical", "join_error", "high")}
    with store.engine.connect() as conn:
        rules = dict(conn.execute(sa.select(outcomes.c.interview_id, outcomes.c.rule_version)).all())
    assert rules == {special: "acme-rules-1", plain: RULE_VERSION}
