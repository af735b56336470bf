"""Why an interview was missed, decided from the evidence about its current version (issue 20's wrong decisions)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from lifeline_hub.core.models import (
    Channel,
    ConfirmationAction,
    DeliveryStatus,
    DeliveryType,
    InterviewKind,
    LinkEvent,
    LinkEventType,
    RequestStatus,
    Role,
    Slot,
)
from lifeline_hub.core.reconcile.trail import evidence_trail
from lifeline_hub.core.remediation.reschedule.decisions import record_decision
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import reschedule_requests
from tests.reconcile.scenario import MIN, T0, TENANT, World, config

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
NOW = T0 + 3 * HOUR


def _approved_move(w: World, iv: str, to: Slot, asked: timedelta, approved: timedelta) -> None:
    """The candidate asks to move the interview; HR approves; Lifeline moves it (same interview, SEQUENCE + 1)."""
    with w.store.begin() as conn:
        conn.execute(reschedule_requests.insert().values(
            id="rr-1", tenant=TENANT, interview_id=iv, sequence=0, requested_by=Role.candidate.value,
            slots=[to.model_dump(mode="json")], status=RequestStatus.submitted.value, created_at=T0 - asked))
    w.request(iv, T0 - asked)
    assert record_decision(w.store, "rr-1", RequestStatus.approved, "acme.approvals/ap-1", T0 - approved)


def test_a_no_show_after_lifelines_own_reschedule_is_decided_by_the_new_window(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    new = Slot(start_at=T0 + DAY, end_at=T0 + DAY + HOUR)
    _approved_move(w, iv, new, asked=2 * DAY, approved=DAY)
    invite = w.notify(iv, T0 - 20 * HOUR, Channel.feishu, sequence=1)  # the new invitation, read
    w.receipt(invite, T0 - 19 * HOUR, DeliveryType.read, Channel.feishu)
    later = new.end_at + 2 * HOUR
    w.watermark(later)
    w.run(later)
    assert w.current()["iv"] == ("missed_read_no_show", "read", "medium")


def test_an_approved_request_nobody_carried_out_is_still_rescheduled(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.request(iv, T0 - DAY, RequestStatus.approved, by=Role.hr)
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["iv"] == ("rescheduled", "request_approved", "high")


def test_a_confirmation_of_the_old_time_is_no_reach_for_the_new_one(store: Store, tmp_path: Path) -> None:
    """The candidate confirmed the old time; the ATS moved the interview; the SMS with the new time failed."""
    w = World(store, config(tmp_path))
    iv = w.interview("iv", start=T0 - DAY)
    old = w.notify(iv, T0 - 3 * DAY, Channel.sms, sequence=0)
    w.receipt(old, T0 - 3 * DAY + MIN, DeliveryType.delivered)
    w.answer(iv, T0 - 2 * DAY, ConfirmationAction.confirm, sequence=0)
    w.interview("iv", sequence=1, updated=T0 - 2 * DAY + HOUR)
    new = w.notify(iv, T0 - 2 * DAY + 2 * HOUR, Channel.sms, sequence=1)
    w.receipt(new, T0 - 2 * DAY + 2 * HOUR + MIN, DeliveryType.failed, code="MOBILE_NUMBER_ILLEGAL")
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["iv"] == ("missed_not_reached", "undelivered", "high")


def test_a_confirmation_of_the_current_version_still_counts(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv", sequence=1)
    w.answer(iv, T0 - DAY, ConfirmationAction.confirm, sequence=1)
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["iv"] == ("missed_read_no_show", "confirmed_no_show", "high")


def test_an_ai_interview_invitation_opened_twice_is_no_technical_failure(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv", kind=InterviewKind.ai_async, minutes=3 * 24 * 60)
    w.link(iv, T0 + HOUR, LinkEventType.open)
    w.link(iv, T0 + DAY, LinkEventType.open)
    end = T0 + 4 * DAY
    w.watermark(end)
    w.run(end)
    assert w.current()["iv"] == ("missed_read_no_show", "link_opened", "high")


def test_repeated_join_attempts_on_an_ai_interview_are_a_technical_failure(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv", kind=InterviewKind.ai_async, minutes=3 * 24 * 60)
    w.link(iv, T0 + DAY, LinkEventType.join_attempt)
    w.link(iv, T0 + DAY + MIN, LinkEventType.join_attempt)
    end = T0 + 4 * DAY
    w.watermark(end)
    w.run(end)
    assert w.current()["iv"] == ("missed_technical", "repeated_attempts", "medium")


def test_overlapping_segments_count_once(store: Store, tmp_path: Path) -> None:
    """Phone and laptop in the same meeting for four minutes in all: short of the five-minute minimum."""
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.join(iv, T0, T0 + 3 * MIN)
    w.join(iv, T0 + MIN, T0 + 4 * MIN)
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["iv"] == ("attended_partial", "short_attendance", "medium")


def test_lobby_time_before_the_start_does_not_count(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.join(iv, T0 - 10 * MIN, T0 + 3 * MIN)
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["iv"] == ("attended_partial", "short_attendance", "medium")


@pytest.mark.parametrize(("email", "expected"), [
    (DeliveryStatus.sent, ("missed_not_reached", "delivered_read_unknown", "medium")),
    (DeliveryStatus.failed, ("missed_not_reached", "undelivered", "high")),
])
def test_an_accepted_email_after_a_failed_sms_was_delivered(store: Store, tmp_path: Path, email: DeliveryStatus,
                                                           expected: tuple[str, str, str]) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    sms = w.notify(iv, T0 - DAY, Channel.sms)
    w.receipt(sms, T0 - DAY + MIN, DeliveryType.failed, code="MOBILE_NUMBER_ILLEGAL")
    w.notify(iv, T0 - DAY + 5 * MIN, Channel.email, status=email)
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["iv"] == expected


def test_a_delivered_message_on_a_channel_knowing_reads_is_delivered_unread(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    sms = w.notify(iv, T0 - DAY, Channel.sms)
    w.receipt(sms, T0 - DAY + MIN, DeliveryType.failed, code="MOBILE_NUMBER_ILLEGAL")
    dt = w.notify(iv, T0 - DAY + 5 * MIN, Channel.dingtalk)
    w.receipt(dt, T0 - DAY + 6 * MIN, DeliveryType.delivered, Channel.dingtalk)
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["iv"] == ("missed_not_reached", "delivered_unread", "medium")


@pytest.mark.parametrize(("family", "after", "reason"), [
    ("chrome", timedelta(seconds=5), "scanner_burst"),
    ("proofpoint", HOUR, "scanner_ua"),
])
def test_a_platforms_own_opened_event_from_a_machine_is_no_reach(store: Store, tmp_path: Path, family: str,
                                                                 after: timedelta, reason: str) -> None:
    """The AI platform reports its invitation "opened" seconds after the SMS was delivered, or by a scanner."""
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    sms = w.notify(iv, T0 - DAY, Channel.sms)
    w.receipt(sms, T0 - DAY + MIN, DeliveryType.delivered)
    store.write(TENANT, [LinkEvent(source="acme.ai", remote_id="evt-1", interview_id=iv,
                                   occurred_at=T0 - DAY + MIN + after, type=LinkEventType.open, ua_family=family)])
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["iv"] == ("missed_not_reached", "delivered_read_unknown", "medium")
    trail = evidence_trail(store, iv)
    assert trail is not None
    [opened] = [e for e in trail.entries if e.event == "link opened"]
    assert not opened.counted and reason in opened.detail


def test_a_platforms_opened_event_from_a_person_is_reach(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    sms = w.notify(iv, T0 - DAY, Channel.sms)
    w.receipt(sms, T0 - DAY + MIN, DeliveryType.delivered)
    store.write(TENANT, [LinkEvent(source="acme.ai", remote_id="evt-1", interview_id=iv,
                                   occurred_at=T0 - DAY + HOUR, type=LinkEventType.open, ua_family="chrome")])
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["iv"] == ("missed_read_no_show", "link_opened", "high")
