"""The planner on SQLite and PostgreSQL: lead times, re-runs, reschedules, cancellations, confirmations."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from lifeline_hub.core.config import Config
from lifeline_hub.core.models import ActionStatus, Channel, Confirmation, ConfirmationAction, InterviewStatus, utcnow
from lifeline_hub.core.reminders import plan_reminders
from lifeline_hub.core.store import Store
from tests.conftest import run_cli
from tests.reminders.reminder_helpers import (
    NOW,
    TENANT,
    candidate,
    interview,
    make_config,
    outbox,
    purposes,
)


@pytest.fixture
def config(tmp_path: Path, store: Store) -> Config:
    return make_config(tmp_path, store.url)


def test_a_long_lead_time_gets_every_reminder_once(store: Store, config: Config) -> None:
    candidate(store)
    iv = interview(store, "iv1", NOW + timedelta(days=5, hours=4), interviewers=("u1", "u2"))
    summary = plan_reminders(store, TENANT, NOW, config)
    planned = outbox(store, iv.id)
    assert purposes(planned) == [("reminder_t3d", "send_sms"), ("reminder_t1d", "send_message"),
                                 ("confirm_request", "send_sms"), ("reminder_t1h", "send_message"),
                                 ("urgent", "send_sms")]
    assert [iv.start_at - a.due_at for a in planned] == [timedelta(days=3), timedelta(days=1), timedelta(days=1),
                                                         timedelta(hours=1), timedelta(hours=1)]
    sms = planned[0].payload
    assert sms["recipient"] == iv.candidate_id and sms["params"]["time"] == "2026-03-07 14:00"
    assert len(sms["params"]["code"]) == len(sms["params"]["confirm"]) == 32
    staff = planned[1]
    assert staff.connector == f"{TENANT}.dt" and staff.payload["recipients"] == ["u1", "u2"]
    assert staff.payload["audience"] == "staff"  # so the interviewers' reads are never the candidate's
    assert summary.as_dict()["planned"] == 5 and summary.skipped == 0

    again = plan_reminders(store, TENANT, NOW + timedelta(minutes=10), config)
    assert again.planned == 0 and again.cancelled == 0
    assert len(outbox(store, iv.id)) == 5


def test_a_short_notice_interview_gets_only_what_still_makes_sense(store: Store, config: Config) -> None:
    candidate(store)
    iv = interview(store, "iv1", NOW + timedelta(hours=5))
    summary = plan_reminders(store, TENANT, NOW, config)
    assert purposes(outbox(store, iv.id)) == [("urgent", "send_sms")]
    assert summary.skipped == 2


def test_offsets_are_per_tenant(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, store.url, reminder_offsets_minutes={"reminder_t1d": 1440, "reminder_t1h": 120})
    candidate(store)
    iv = interview(store, "iv1", NOW + timedelta(days=5))
    plan_reminders(store, TENANT, NOW, config)
    assert [iv.start_at - a.due_at for a in outbox(store, iv.id)] == [timedelta(days=1), timedelta(hours=2)]


def test_email_reminders_carry_links_and_the_calendar_invite(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, store.url, reminder_channels=["email", "sms"])
    candidate(store, locale="en")
    iv = interview(store, "iv1", NOW + timedelta(days=2), sequence=3)
    plan_reminders(store, TENANT, NOW, config)
    (first, *_) = outbox(store, iv.id)
    assert first.kind == "send_email" and first.connector == f"{TENANT}.mail"
    payload = first.payload
    assert payload["calendar"]["ical_uid"] == "iv1@lifeline.test" and payload["calendar"]["sequence"] == 3
    labels = [link["label"] for link in payload["links"]]
    assert labels == ["Join the interview", "Confirm / reschedule"]
    assert "/j/" in payload["links"][0]["url"] and "/c/" in payload["links"][1]["url"]
    assert payload["subject"].startswith("Please confirm your interview")


def test_the_candidates_own_preference_comes_first(store: Store, config: Config) -> None:
    candidate(store, preferred=(Channel.email,))
    email_only = candidate(store, "c2", phone=None)
    iv = interview(store, "iv1", NOW + timedelta(days=2))
    iv2 = interview(store, "iv2", NOW + timedelta(days=2), cand="c2")
    plan_reminders(store, TENANT, NOW, config)
    assert {a.kind for a in outbox(store, iv.id)} == {"send_email"}
    assert {a.payload["recipient"] for a in outbox(store, iv2.id)} == {email_only}


def test_a_reschedule_cancels_what_is_pending_and_plans_the_new_version(store: Store, config: Config) -> None:
    candidate(store)
    old = interview(store, "iv1", NOW + timedelta(days=5))
    plan_reminders(store, TENANT, NOW, config)
    before = {a.idempotency_key for a in outbox(store, old.id)}
    new = interview(store, "iv1", NOW + timedelta(days=6), sequence=1)
    summary = plan_reminders(store, TENANT, NOW + timedelta(hours=1), config)
    assert summary.cancelled == 3 and summary.planned == 3
    cancelled = outbox(store, old.id, "cancelled")
    assert {a.idempotency_key for a in cancelled} == before
    assert all("SEQUENCE 1" in (a.last_error or "") for a in cancelled)
    fresh = outbox(store, new.id, "planned")
    assert [new.start_at - a.due_at for a in fresh] == [timedelta(days=3), timedelta(days=1), timedelta(hours=1)]
    assert not before & {a.idempotency_key for a in fresh}


def test_a_cancelled_interview_withdraws_its_reminders_for_good(store: Store, config: Config) -> None:
    candidate(store)
    iv = interview(store, "iv1", NOW + timedelta(days=5))
    plan_reminders(store, TENANT, NOW, config)
    interview(store, "iv1", NOW + timedelta(days=5), status=InterviewStatus.cancelled)
    assert plan_reminders(store, TENANT, NOW, config).cancelled == 3
    assert plan_reminders(store, TENANT, NOW, config).planned == 0
    assert {a.status for a in outbox(store, iv.id)} == {ActionStatus.cancelled}


def test_a_confirmation_turns_the_confirm_request_into_a_plain_reminder(store: Store, config: Config) -> None:
    candidate(store)
    iv = interview(store, "iv1", NOW + timedelta(days=5))
    plan_reminders(store, TENANT, NOW, config)
    store.write(TENANT, [Confirmation(source=f"{TENANT}.links", remote_id="x/confirm", interview_id=iv.id,
                                      occurred_at=NOW, action=ConfirmationAction.confirm, sequence_seen=0)])
    summary = plan_reminders(store, TENANT, NOW + timedelta(minutes=10), config)
    assert summary.cancelled == 1 and summary.planned == 1
    assert purposes(outbox(store, iv.id, "planned")) == [("reminder_t3d", "send_sms"), ("reminder_t1d", "send_sms"),
                                                         ("urgent", "send_sms")]


def test_a_decline_stops_the_candidates_reminders(store: Store, config: Config) -> None:
    candidate(store)
    iv = interview(store, "iv1", NOW + timedelta(days=5))
    plan_reminders(store, TENANT, NOW, config)
    store.write(TENANT, [Confirmation(source=f"{TENANT}.links", remote_id="x/decline", interview_id=iv.id,
                                      occurred_at=NOW, action=ConfirmationAction.decline, sequence_seen=0)])
    assert plan_reminders(store, TENANT, NOW, config).cancelled == 3
    assert outbox(store, iv.id, "planned") == []


def test_the_cli_plans_and_dispatches(store: Store, config: Config) -> None:
    candidate(store)
    interview(store, "iv1", utcnow() + timedelta(days=5))
    planned = run_cli("--config", str(config.path), "reminders", "plan", "--tenant", TENANT, "--json")
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["planned"] == 3
    sent = run_cli("--config", str(config.path), "reminders", "dispatch", "--tenant", TENANT,
                   env={"LIFELINE_HASH_KEY": "reminders-test-key-0123456789abcdef"})  # acme is no sandbox
    assert sent.returncode == 0 and "0 claimed" in sent.stdout  # nothing is due yet
