"""Pull: the connector syncs the emulator's invitations and events, incrementally, with faults on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lifeline_hub.connectors.aiplatform.emulator import AIPlatformWorld
from lifeline_hub.connectors.aiplatform.emulator_state import PlatformError
from lifeline_hub.core.connector import Checkpoint
from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.models import (
    Attendance,
    DeadlineBasis,
    InterviewKind,
    InterviewStatus,
    LinkEvent,
    Notification,
    NotificationPurpose,
    canonical_id,
    parse_instant,
)
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import evidence, sync_state
from lifeline_hub.core.sync import build_connector, sync_stream
from tests.aiplatform.aiplatform_helpers import (
    FAST,
    SOURCE,
    configure,
    evidence_ids,
    expected_evidence,
    platform,
    setup_of,
    stored_interviews,
    sync_until_done,
)


def lifecycle(world: AIPlatformWorld, n: int = 1) -> dict[str, str]:
    """A submitted, an opened-only, an expired, a withdrawn and a technically failing invitation (n of each)."""
    ids: dict[str, str] = {}
    for i in range(n):
        done = world.invite(f"Done {i}", email=f"done{i}@example.com", external_ref=f"app-{i}")["id"]
        world.open_link(done)
        world.start(done)
        world.technical(done, "upload_error", "UPLOAD_TIMEOUT")
        world.advance(1800)
        world.submit(done)
        opened = world.invite(f"Opened {i}", phone="13812341234", deadline_basis="from_first_open",
                              window_hours=48, locale="en")["id"]
        world.open_link(opened, ua_family="wechat")
        late = world.invite(f"Late {i}", email=f"late{i}@example.com", window_hours=1)["id"]
        gone = world.invite(f"Gone {i}", email=f"gone{i}@example.com")["id"]
        world.withdraw(gone)
        broken = world.invite(f"Broken {i}", email=f"broken{i}@example.com")["id"]
        world.technical(broken, "device_check_failed", "CAMERA_NOT_FOUND")
        world.start(broken)
        world.technical(broken, "join_error", "ICE_FAILED")
        ids |= {f"done{i}": done, f"opened{i}": opened, f"late{i}": late, f"gone{i}": gone, f"broken{i}": broken}
    world.advance(2 * 3600)  # the one-hour window of `late` is over
    return ids


def evidence_of(store: Store) -> dict[str, Notification | LinkEvent | Attendance]:
    kinds = {"notification": Notification, "link_event": LinkEvent, "attendance": Attendance}
    with store.begin() as conn:
        rows = conn.execute(sa.select(evidence.c.kind, evidence.c.data).where(evidence.c.source == SOURCE))
        return {data["remote_id"]: kinds[kind].model_validate(data) for kind, data in rows}


def test_the_lifecycle_becomes_interviews_and_evidence(store: Store, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with platform() as (world, url):
        ids = lifecycle(world)
        setup = setup_of(configure(tmp_path, url, monkeypatch))
        interviews_run = sync_stream(store, setup, "interviews")
        events_run = sync_stream(store, setup, "events")
        assert interviews_run.error is None and interviews_run.written.inserted == 10  # 5 candidates, 5 interviews
        assert events_run.written.quarantined == 0
        snapshot = {inv["id"]: inv for inv in world.snapshot()["invitations"]}

    stored = stored_interviews(store)
    done = stored[ids["done0"]]
    assert (done["status"], done["status_raw"], done["kind"]) == (InterviewStatus.completed, "submitted",
                                                                  InterviewKind.ai_async)
    assert parse_instant(done["end_at"]) - parse_instant(done["start_at"]) == timedelta(hours=72)
    assert done["deadline_basis"] == DeadlineBasis.from_invite
    assert done["join_url"] == snapshot[ids["done0"]]["link"]["url"]
    assert done["application_id"] == "app-0" and done["thread"]["sequence"] == 1 and done["platform"] == "aiplatform"
    opened = stored[ids["opened0"]]
    assert opened["deadline_basis"] == DeadlineBasis.from_first_open
    first_open = parse_instant(snapshot[ids["opened0"]]["first_opened_at"])
    assert parse_instant(opened["end_at"]) == first_open + timedelta(hours=48)
    assert (stored[ids["late0"]]["status"], stored[ids["late0"]]["status_raw"]) == ("scheduled", "expired")
    assert stored[ids["gone0"]]["status"] == InterviewStatus.cancelled
    assert store.count("candidates", source=SOURCE) == 5

    found = evidence_of(store)
    assert sorted(found) == expected_evidence(world)
    invites = [e for e in found.values() if isinstance(e, Notification)]
    assert len(invites) == 5 and all(n.purpose is NotificationPurpose.invite for n in invites)
    assert {n.recipient for n in invites} >= {"d***@example.com", "138****1234"}
    errors = sorted(e.code or "" for e in found.values() if isinstance(e, LinkEvent) and e.type.value == "join_error")
    assert errors == ["device_check_failed:CAMERA_NOT_FOUND", "join_error:ICE_FAILED", "upload_error:UPLOAD_TIMEOUT"]
    submitted = [a for a in found.values() if isinstance(a, Attendance) and a.completed]
    assert len(submitted) == 1 and submitted[0].interview_id == canonical_id(SOURCE, ids["done0"])
    assert submitted[0].left_at is not None  # 30 virtual minutes, plus the real milliseconds that passed meanwhile
    assert abs(submitted[0].left_at - submitted[0].occurred_at - timedelta(minutes=30)) < timedelta(seconds=1)
    assert store.stream_state(SOURCE, "events").watermark is not None


def test_incremental_runs_read_only_what_changed(store: Store, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with platform() as (world, url):
        ids = lifecycle(world)
        world.advance(600)  # every change is now older than the overlap
        setup = setup_of(configure(tmp_path, url, monkeypatch, overlap_seconds=60))
        sync_stream(store, setup, "interviews")
        first_mark = store.stream_state(SOURCE, "interviews").watermark
        world.advance(600)
        world.submit(ids["broken0"])
        again = sync_stream(store, setup, "interviews")
        assert (again.written.inserted, again.written.updated) == (0, 2)  # the changed invitation and its candidate
        later_mark = store.stream_state(SOURCE, "interviews").watermark
        assert first_mark is not None and later_mark is not None and later_mark > first_mark


def test_late_client_reports_land_behind_the_events_watermark(store: Store, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with platform() as (world, url):
        invitation = world.invite("Late", email="late@example.com")["id"]
        world.start(invitation)
        setup = setup_of(configure(tmp_path, url, monkeypatch))
        sync_stream(store, setup, "events")
        mark = store.stream_state(SOURCE, "events").watermark
        reported, too_late = (datetime.fromtimestamp(world.now() - ago, UTC).isoformat() for ago in (240, 600))
        world.technical(invitation, "upload_error", "UPLOAD_TIMEOUT", occurred_at=reported)
        with pytest.raises(PlatformError, match="dropped"):
            world.technical(invitation, "join_error", occurred_at=too_late)
        assert sync_stream(store, setup, "events").written.inserted == 1
    assert mark is not None and parse_instant(reported) > mark  # the watermark never promised it was complete


def test_a_run_resumes_from_its_last_page_even_when_the_cursor_expired(store: Store, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with platform() as (world, url):
        lifecycle(world, n=2)
        connector = build_connector(setup_of(configure(tmp_path, url, monkeypatch, page_size=3)))
        items = connector.read("interviews", {})
        first_page = [next(items) for _ in range(6)]
        checkpoint = next(items)
        assert isinstance(checkpoint, Checkpoint) and checkpoint.watermark is None and "page" in checkpoint.cursor
        rest = [i for i in connector.read("interviews", checkpoint.cursor) if not isinstance(i, Checkpoint)]
        assert len(first_page) + len(rest) == 20  # 10 invitations, each a candidate and an interview
        world.advance(2 * 86400)  # the saved page cursor is now too old: the run restarts from `since`
        again = [i for i in connector.read("interviews", checkpoint.cursor) if not isinstance(i, Checkpoint)]
        assert len(again) == 20


def test_nothing_is_lost_with_faults_on(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    faults = Faults(rate_limit=0.15, server_error=0.15, timeout=0.05, timeout_seconds=1.5, expire_token=0.1,
                    duplicate=0.3, seed=7)
    with platform(retry_after_seconds=0) as (world, url):
        ids = lifecycle(world, n=3)
        setup = setup_of(configure(tmp_path, url, monkeypatch, page_size=4, **FAST))
        world.faults.configure(faults)
        sync_until_done(store, setup, "interviews")
        sync_until_done(store, setup, "events")
        injected = dict(world.faults.injected)
        with world.faults.paused():
            truth = {inv["id"]: inv["status"] for inv in world.snapshot()["invitations"]}
    assert {"rate_limit", "server_error", "expire_token", "duplicate"} <= injected.keys()
    assert {k: v["status_raw"] for k, v in stored_interviews(store).items()} == truth and len(truth) == len(ids)
    assert evidence_ids(store) == expected_evidence(world)
    assert store.count("quarantine") == 0


def test_malformed_records_are_quarantined_and_recovered_by_a_backfill(store: Store, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with platform() as (world, url):
        lifecycle(world, n=2)
        setup = setup_of(configure(tmp_path, url, monkeypatch, page_size=3))
        world.faults.configure(Faults(malformed=0.5, seed=3))
        for stream in ("interviews", "events"):
            sync_stream(store, setup, stream)
        corrupted = world.faults.injected["malformed"]
        assert corrupted > 0 and store.count("quarantine", source=SOURCE) == corrupted
        kept = len(stored_interviews(store)) + len(evidence_ids(store))
        assert kept + corrupted == 10 + len(expected_evidence(world))
        world.faults.configure(Faults())
        with store.begin() as conn:
            conn.execute(sa.delete(sync_state).where(sync_state.c.source == SOURCE))
        for stream in ("interviews", "events"):
            sync_stream(store, setup, stream)
    assert len(stored_interviews(store)) == 10 and evidence_ids(store) == expected_evidence(world)


def test_the_client_keeps_to_the_rate_limit(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(sqlite_url)
    store.upgrade()
    with platform(requests_per_second=4) as (world, url):
        lifecycle(world, n=2)
        setup = setup_of(configure(tmp_path, url, monkeypatch, page_size=2, requests_per_second=4))
        sync_stream(store, setup, "events")
        assert world.calls["events.list"] > 8 and world.meter.total_breaches == 0


def test_a_scheduled_session_is_the_window_and_the_contacts_reach_the_store(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with platform() as (world, url):
        now = datetime.fromtimestamp(world.now(), UTC)
        opens, deadline = now + timedelta(days=2), now + timedelta(days=3)
        made = world.invite("Cohort", email="cohort@example.com", phone="13812345678", deadline_basis="absolute",
                            deadline_at=deadline.isoformat(), window_hours=None, opens_at=opens.isoformat())
        with pytest.raises(PlatformError, match="not_open"):
            world.start(made["id"])  # the link works from opens_at
        assert "cohort@example.com" not in str(world.snapshot())  # the emulator's own view masks addresses
        setup = setup_of(configure(tmp_path, url, monkeypatch))
        assert sync_stream(store, setup, "interviews").error is None
        world.advance(4 * 86400)
        world.tick()  # the deadline passed: a reset with a new window counts it from the reset
        reset = world.reset(made["id"], window_hours=24)
        assert reset["status"] == "invited" and reset["deadline_basis"] == "from_invite"
        assert parse_instant(reset["deadline_at"]) - parse_instant(reset["invited_at"]) == timedelta(hours=24)
        world.start(made["id"])

    interview = stored_interviews(store)[made["id"]]
    assert parse_instant(interview["start_at"]) == parse_instant(made["opens_at"])
    assert parse_instant(interview["end_at"]) == parse_instant(made["deadline_at"])
    with store.engine.connect() as conn:
        contacts = conn.execute(sa.text("SELECT channel, masked FROM contact_points ORDER BY channel")).all()
    assert [tuple(c) for c in contacts] == [("email", "c***@example.com"), ("sms", "138****5678")]
