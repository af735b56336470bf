"""The reschedule loop over real HTTP: offer -> page -> request -> DingTalk approval -> decision by callback
and by polling (duplicates included) -> applied once: new window in the same thread, calendar event in
place, rotated join link, new invitation, re-planned reminders; or a polite refusal. And HR's pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from lifeline_hub.connectors.dingtalk.records import parse_event_marker
from lifeline_hub.core.emulator import Faults, LoopbackServer
from lifeline_hub.core.links import LinkStatus, join_link, resolve
from lifeline_hub.core.models import ActionStatus, Interview, InterviewStatus, OutcomeClass, RequestStatus, Slot, utcnow
from lifeline_hub.core.outbox import dispatch, rows
from lifeline_hub.core.receiver.app import create_app
from lifeline_hub.core.remediation import remediate
from lifeline_hub.core.remediation.case import load_interview
from lifeline_hub.core.remediation.links import HrLink, hr_link
from lifeline_hub.core.remediation.reschedule import decisions, submit
from lifeline_hub.core.remediation.testing import TENANT, EmulatedTenant, emulated_tenant
from lifeline_hub.core.store.schema import evidence, reschedule_requests
from lifeline_hub.core.sync import sync_stream

NOW = utcnow().replace(microsecond=0)
replanned: list[tuple[str, str]] = []


def replan_interview(store: Any, config: Any, tenant: str, interview_id: str, now: datetime) -> None:
    """Stands in for the reminder planner (issue 7) behind `decisions.REMINDER_PLANNER`."""
    replanned.append((tenant, interview_id))


@pytest.fixture
def t(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedTenant]:
    replanned.clear()
    monkeypatch.setattr(decisions, "REMINDER_PLANNER", f"{__name__}:replan_interview")
    with emulated_tenant(tmp_path, db_url) as tenant:
        yield tenant


@pytest.fixture
def web(t: EmulatedTenant) -> TestClient:
    return TestClient(create_app(t.config, t.store, t.host, clock=utcnow))


def run(t: EmulatedTenant, now: datetime = NOW) -> dict[str, Any]:
    summary = remediate(t.store, TENANT, now, t.config, t.host).as_dict()
    dispatch(t.store, t.config, TENANT, now=now)
    return summary


def offered(t: EmulatedTenant, name: str = "张三", hours_ago: float = 3) -> tuple[Interview, str]:
    """A missed interview whose candidate got the reschedule offer by SMS; returns it and the page path."""
    t.candidate("c1", name)
    interview = t.interview("iv1", NOW - timedelta(hours=hours_ago), candidate="c1")
    t.decide(interview.id, OutcomeClass.missed_read_no_show, NOW)
    run(t)
    (sms,) = t.sms.message_list()
    return interview, "/r/" + re.search(r"/r/([A-Za-z0-9_-]+)", sms["content"])[1]  # type: ignore[index]


def test_the_page_offers_slots_in_both_languages_without_personal_data(t: EmulatedTenant, web: TestClient) -> None:
    _, page = offered(t)
    zh = web.get(page)
    assert zh.status_code == 200 and 'lang="zh-CN"' in zh.text and "重新安排面试时间" in zh.text
    assert zh.text.count('name="slot"') == 3 and "<script" not in zh.text
    assert "张三" not in zh.text and "5678" not in zh.text  # a forwarded link says nothing about the candidate
    en = web.get(page, params={"lang": "en"})
    assert "Find a new time for your interview" in en.text and "(Asia/Shanghai)" in en.text
    assert web.get("/r/not-a-token").status_code == 404


def test_a_request_becomes_one_approval_carrying_the_evidence(t: EmulatedTenant, web: TestClient) -> None:
    _, page = offered(t)
    slot = re.search(r'name="slot" value="([^"]+)"', web.get(page).text)[1]  # type: ignore[index]
    empty = web.post(page, data={"reason": "personal"})
    assert empty.status_code == 422 and "请至少选择或填写一个时间" in empty.text
    form = {"reason": "schedule_conflict", "slot": slot, "propose": "", "note": "那天要考试，手机 13912345678"}
    assert "已收到您的申请" in web.post(page, data=form).text
    assert "您已提交过申请" in web.post(page, data=form).text and "您已提交过申请" in web.get(page).text
    dispatch(t.store, t.config, TENANT)
    (approval,) = t.dingtalk.approval_list()
    fields = {f["name"]: f["value"] for f in approval["form"]}
    assert approval["processCode"] == "PROC-LIFELINE-RESCHEDULE" and approval["approvers"] == ["mgr1"]
    assert fields["原因"] == "时间冲突: 那天要考试，手机 139****5678"  # the candidate's own words, redacted
    assert "提醒" not in fields["证据"] and "未进入面试" in fields["证据"]
    assert fields["候选人"] == "张三（手机 138****5678）" and fields["Lifeline 编号"].startswith("rr-")
    with t.store.engine.connect() as conn:
        (request,) = conn.execute(sa.select(reschedule_requests)).all()
    assert request.status == "submitted" and request.slots[0]["start_at"].startswith(slot[:16])


def approve_by_callback(t: EmulatedTenant, instance_id: str, result: str) -> None:
    """The approver decides; DingTalk's signed callbacks reach `lifeline serve`, each one twice."""
    with LoopbackServer(create_app(t.config, t.store, t.host)) as receiver:
        t.dingtalk.set_callback_url(f"{receiver.url}/callbacks/acme.dt")
        t.dingtalk.configure_faults(Faults(duplicate=1.0))
        t.dingtalk.decide_approval(instance_id, result)  # type: ignore[arg-type]
        t.dingtalk.configure_faults(Faults())
        for _ in range(50):
            if t.dingtalk.deliver_pending_callbacks() == 0 and all(
                    c["state"] != "pending" for c in t.dingtalk.callbacks()):
                break
    finished = [c["state"] for c in t.dingtalk.callbacks() if c["event"].get("processInstanceId") == instance_id
                and c["event"].get("EventType") == "bpms_instance_change" and c["event"].get("type") == "finish"]
    assert finished == ["delivered"] * 2


def test_approval_moves_the_interview_in_its_thread_once(t: EmulatedTenant) -> None:
    interview, _ = offered(t)
    old_join = join_link(t.store, interview.id).rsplit("/", 1)[1]
    start = (NOW + timedelta(days=3)).replace(hour=2, minute=0, second=0)
    slot = Slot(start_at=start, end_at=start + timedelta(minutes=45))
    request = submit(t.store, t.config, interview.id, [slot], NOW, reason_code="schedule_conflict").request_id
    run(t)
    (approval,) = t.dingtalk.approval_list()
    approve_by_callback(t, approval["instanceId"], "agree")
    sync_stream(t.store, t.config.setups["acme.dt"], "tasks")  # and the polled state arrives as well
    with t.store.engine.connect() as conn:
        decisions_seen = conn.execute(sa.select(evidence.c.type).where(evidence.c.source == "acme.dt",
                                                                       evidence.c.kind == "reschedule_request"))
        assert [d for (d,) in decisions_seen] == ["approved"]
    first, again = run(t, NOW + timedelta(minutes=1)), run(t, NOW + timedelta(minutes=2))
    assert (first["decided"], first["applied"], again["decided"], again["applied"]) == ([request], [request], [], [])
    with t.store.engine.connect() as conn:
        moved = load_interview(conn, interview.id)
    assert moved is not None
    assert (moved.start_at, moved.end_at, moved.status) == (slot.start_at, slot.end_at, InterviewStatus.scheduled)
    assert moved.thread == interview.thread.model_copy(update={"sequence": 1})  # same UID, SEQUENCE + 1
    assert resolve(t.store, old_join).status is LinkStatus.rotated  # type: ignore[union-attr]
    invite = t.sms.message_list()[-1]
    assert invite["template_code"] == "SMS_910000003" and invite["content"].rsplit("/j/", 1)[1] != old_join
    (event,) = t.dingtalk.events()
    assert datetime.fromisoformat(event["start"]["dateTime"]) == slot.start_at
    assert parse_event_marker(event["description"]) == {"uid": interview.thread.ical_uid, "seq": "1",
                                                        "interview": interview.id}
    assert [todo["subject"] for todo in t.dingtalk.todo_list()][-1].startswith("【已改期】张三 的面试改至")
    assert replanned == [(TENANT, interview.id)]
    assert all(r.action.status is ActionStatus.done for r in rows(t.store, TENANT))

    # a second move of the same appointment updates the same calendar event in place (SEQUENCE 2)
    later = Slot(start_at=start + timedelta(days=1), end_at=start + timedelta(days=1, minutes=45))
    submit(t.store, t.config, interview.id, [later], NOW, reason_code="personal")
    run(t, NOW + timedelta(minutes=3))
    second = next(a for a in t.dingtalk.approval_list() if a["instanceId"] != approval["instanceId"])
    approve_by_callback(t, second["instanceId"], "agree")
    run(t, NOW + timedelta(minutes=4))
    (moved_again,) = t.dingtalk.events()
    assert moved_again["id"] == event["id"]  # updated in place
    assert datetime.fromisoformat(moved_again["start"]["dateTime"]) == later.start_at
    assert parse_event_marker(moved_again["description"])["seq"] == "2"  # type: ignore[index]


def test_an_ats_resync_after_an_approved_reschedule_keeps_the_new_time(t: EmulatedTenant) -> None:
    interview, _ = offered(t)
    start = (NOW + timedelta(days=3)).replace(hour=2, minute=0, second=0)
    slot = Slot(start_at=start, end_at=start + timedelta(minutes=45))
    submit(t.store, t.config, interview.id, [slot], NOW, reason_code="schedule_conflict")
    run(t)
    approve_by_callback(t, t.dingtalk.approval_list()[0]["instanceId"], "agree")
    run(t, NOW + timedelta(minutes=1))
    # HR has not carried the new time into the ATS yet: its next sync still reports SEQUENCE 0, the old time
    t.store.write(TENANT, [interview])
    with t.store.engine.connect() as conn:
        kept = load_interview(conn, interview.id)
    assert kept is not None
    assert (kept.start_at, kept.end_at, kept.thread.sequence) == (slot.start_at, slot.end_at, 1)
    assert kept.status is InterviewStatus.scheduled
    # and when the ATS cancels the interview, that is still news (the time stays Lifeline's)
    t.store.write(TENANT, [interview.model_copy(update={"status": InterviewStatus.cancelled})])
    with t.store.engine.connect() as conn:
        cancelled = load_interview(conn, interview.id)
    assert cancelled is not None and cancelled.status is InterviewStatus.cancelled
    assert (cancelled.start_at, cancelled.thread.sequence) == (slot.start_at, 1)


def test_a_refusal_keeps_the_interview_and_tells_the_candidate_politely(t: EmulatedTenant) -> None:
    t.candidate("c1", "张三")
    interview = t.interview("iv1", NOW + timedelta(days=2), candidate="c1")  # asked before the interview
    start = (NOW + timedelta(days=4)).replace(hour=2, minute=0, second=0)
    submit(t.store, t.config, interview.id, [Slot(start_at=start, end_at=start + timedelta(minutes=45))], NOW)
    run(t)
    approve_by_callback(t, t.dingtalk.approval_list()[0]["instanceId"], "refuse")
    summary = run(t, NOW + timedelta(minutes=1))
    assert summary["applied"] and not summary["problems"]
    with t.store.engine.connect() as conn:
        assert conn.execute(sa.select(reschedule_requests.c.status)).scalar() == RequestStatus.refused.value
    (told,) = t.sms.message_list()
    assert told["template_code"] == "SMS_910000003"  # "your interview is at <the same time>", same link
    assert t.dingtalk.events() == [] and t.dingtalk.todo_list() == [] and replanned == []


def test_hr_pages_do_their_step_once_and_only_on_the_button(t: EmulatedTenant, web: TestClient) -> None:
    interview, _ = offered(t)
    attended = hr_link(HrLink("attended", TENANT, interview.id, 0), base_url="")
    page = web.get(attended)
    assert page.status_code == 200 and '<form method="post">' in page.text
    with t.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(evidence).where(
            evidence.c.source == "acme.hr")).scalar() == 0  # a GET (a link scanner) did nothing
    assert "已记录：候选人已参加" in web.post(attended).text
    assert "此操作之前已完成" in web.post(attended).text
    offer = hr_link(HrLink("offer", TENANT, interview.id, 0), base_url="")
    assert "改期邀请已安排发送给候选人" in web.post(offer).text
    web.post(offer)  # a double click
    assert sum(r.action.kind == "send_sms" and r.action.status is ActionStatus.planned
               for r in rows(t.store, TENANT)) == 1
    assert web.get(attended[:-3] + "abc").status_code == 404
    stale = hr_link(HrLink("reissue", TENANT, interview.id, 5), base_url="")
    assert "不再适用" in web.post(stale).text


def test_a_refusal_after_a_miss_goes_by_a_channel_that_can_say_so(t: EmulatedTenant) -> None:
    interview, _ = offered(t)  # missed: nothing stands to keep; an SMS template cannot explain
    start = (NOW + timedelta(days=4)).replace(hour=2, minute=0, second=0)
    submit(t.store, t.config, interview.id, [Slot(start_at=start, end_at=start + timedelta(minutes=45))], NOW)
    run(t)
    approve_by_callback(t, t.dingtalk.approval_list()[0]["instanceId"], "refuse")
    summary = run(t, NOW + timedelta(minutes=1))
    assert summary["applied"] and not summary["problems"]
    (told,) = [m for m in t.feishu.messages.values() if m.sender_type == "app"]  # Feishu, the second channel
    assert told.recipients == [t.candidates["c1"]] and "招聘人员会尽快与您联系后续安排" in told.content
    assert len(t.sms.message_list()) == 1  # only the offer went by SMS
