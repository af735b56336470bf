"""An approved reschedule tells the interviewers' calendar and HR about the candidate as text: through the real
pipeline (offer, request, DingTalk approval decided and polled, follow-ups) on SQLite and PostgreSQL, a hostile
name from the ATS reaches the calendar event's title and the HR todo defanged and on one line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from lifeline_hub.core.models import OutcomeClass, Slot, utcnow
from lifeline_hub.core.outbox import dispatch, rows
from lifeline_hub.core.remediation import remediate
from lifeline_hub.core.remediation.reschedule import submit
from lifeline_hub.core.remediation.testing import TENANT, emulated_tenant
from lifeline_hub.core.sync import sync_stream
from tests.markup_helpers import HOSTILE_NAMES, SHOWN_NAMES, assert_plain_shows

NOW = utcnow().replace(microsecond=0)
NAME = HOSTILE_NAMES[2] + "\n\nBEGIN:VALARM www.evil.com"
SHOWN = SHOWN_NAMES[2] + " BEGIN:VALARM www[.]evil[.]com"


def test_the_moved_calendar_event_and_the_hr_todo_name_the_candidate_as_text(tmp_path: Path, db_url: str) -> None:
    with emulated_tenant(tmp_path, db_url) as t:
        t.candidate("c1", NAME)
        interview = t.interview("iv1", NOW - timedelta(hours=3), candidate="c1", platform="vc")
        t.decide(interview.id, OutcomeClass.missed_read_no_show, NOW)
        remediate(t.store, TENANT, NOW, t.config, t.host)
        start = (NOW + timedelta(days=3)).replace(hour=2, minute=0, second=0)
        submit(t.store, t.config, interview.id, [Slot(start_at=start, end_at=start + timedelta(minutes=45))], NOW,
               reason_code="schedule_conflict")
        assert dispatch(t.store, t.config, TENANT, now=NOW).dead == 0
        (approval,) = t.dingtalk.approval_list()
        t.dingtalk.decide_approval(approval["instanceId"], "agree")
        sync_stream(t.store, t.config.setups[f"{TENANT}.dt"], "tasks")  # the decision, polled
        later = NOW + timedelta(minutes=1)
        summary = remediate(t.store, TENANT, later, t.config, t.host).as_dict()
        assert summary["applied"] and not summary["problems"]
        assert dispatch(t.store, t.config, TENANT, now=later).dead == 0
        own = {link["url"] for r in rows(t.store, TENANT) for link in r.action.payload.get("links", ())}

        (event,) = t.dingtalk.events()
        assert event["summary"].endswith(f": {SHOWN}")
        assert_plain_shows(event["summary"], own, SHOWN)
        assert_plain_shows(event["description"], own, "平台 vc")
        moved = next(todo for todo in t.dingtalk.todo_list() if todo["subject"].startswith("【已改期】"))
        assert_plain_shows(moved["subject"], own, f"【已改期】{SHOWN} 的面试改至")
