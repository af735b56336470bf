"""Feishu Hire feedback as the interviewers' answer: a Hire video interview has no attendance source, so the
interviewers' submitted feedback (read with the interview, over loopback from the emulator, into SQLite and
PostgreSQL) decides it: "no-show" is their "Did not come", a pass or fail that the interview took place."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from lifeline_hub.core.connector import Checkpoint
from lifeline_hub.core.models import AttendanceVerdict, to_epoch_millis, utcnow
from lifeline_hub.core.reconcile.run import reconcile
from lifeline_hub.core.remediation.testing import TENANT, EmulatedTenant, emulated_tenant
from lifeline_hub.core.sync import sync_stream
from tests.remediation.test_remediation_interviewer_answers import current, reports

NOW = utcnow().replace(microsecond=0)


@pytest.fixture
def t(tmp_path: Path, db_url: str) -> Iterator[EmulatedTenant]:
    """Feishu as the ATS, without the VC report (no `attendance` stream) and DingTalk for HR only: Hire video
    interviews have no attendance source."""
    settings = {"fs": {"streams": ["interviews", "receipts", "tasks"]}, "dt": {"streams": ["receipts", "tasks"]}}
    with emulated_tenant(tmp_path, db_url, settings=settings) as tenant:
        yield tenant


@pytest.mark.parametrize(("conclusions", "decided"), [
    ((5,), ("missed_not_reached", "nothing_sent")),
    ((1,), ("attended", "interviewer_reported")),
    ((5, 2), ("attended", "interviewer_reported")),  # one of the panel saw the candidate
    ((), ("unknown", "no_attendance_source")),  # feedback not submitted: nobody said anything
])
def test_submitted_feedback_decides_a_hire_video_interview(t: EmulatedTenant, conclusions: tuple[int, ...],
                                                          decided: tuple[str, str]) -> None:
    panel = [str(t.feishu.add_user(f"面试官 {i}")["open_id"]) for i in range(2)]
    start = NOW - timedelta(hours=3)
    t.feishu.add_talent("9001", "张三", mobile="13812345678")
    interview = t.feishu.add_hire_interview("7001", "9001", to_epoch_millis(start),
                                            to_epoch_millis(start + timedelta(minutes=45)), panel)
    for who, conclusion in zip(panel, conclusions, strict=False):
        t.feishu.record_feedback(interview, who, conclusion)
    fs = t.config.setups[f"{TENANT}.fs"]
    synced = sync_stream(t.store, fs, "interviews")
    assert synced.error is None and synced.written.quarantined == 0
    for setup in t.config.instances(TENANT):  # every other stream is complete: nothing holds the decision back
        for stream in setup.streams:
            if (setup.instance.name, stream) != (fs.instance.name, "interviews"):
                t.store.commit_batch(TENANT, setup.instance.name, stream, [], [], Checkpoint({}, NOW))
    reconcile(t.store, TENANT, NOW, t.config, t.host)
    assert current(t, f"{TENANT}.fs/{interview}") == decided
    said = {(r.reporter_id, r.verdict) for r in reports(t)}
    verdicts = {5: AttendanceVerdict.no_show, 1: AttendanceVerdict.attended, 2: AttendanceVerdict.attended}
    assert said == {(f"open_id:{who}", verdicts[c]) for who, c in zip(panel, conclusions, strict=False)}
