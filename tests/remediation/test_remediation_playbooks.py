"""Each playbook end to end: an outcome in the store, `remediate` and `dispatch`, the vendor objects out.

The tenant runs against the DingTalk, Feishu and Aliyun SMS emulators over real HTTP (HR todos and
work notices on DingTalk; the candidate by SMS first, Feishu second), with a real SQLite store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lifeline_hub.core import hookimpl
from lifeline_hub.core.links import LinkPurpose, LinkStatus, join_link, resolve
from lifeline_hub.core.models import (
    ActionStatus,
    Channel,
    DeliveryStatus,
    InterviewKind,
    Notification,
    NotificationPurpose,
    OutcomeClass,
    utcnow,
)
from lifeline_hub.core.outbox import dispatch, rows
from lifeline_hub.core.remediation import Playbook, remediate
from lifeline_hub.core.remediation.planner import cases
from lifeline_hub.core.remediation.policies import STEPS
from lifeline_hub.core.remediation.testing import HR_UNION, HR_USER, TENANT, EmulatedTenant, emulated_tenant
from lifeline_hub.core.store.schema import evidence, health

NOW = utcnow().replace(microsecond=0)


@pytest.fixture
def t(tmp_path: Path, db_url: str) -> Iterator[EmulatedTenant]:
    with emulated_tenant(tmp_path, db_url) as tenant:
        yield tenant


def run(t: EmulatedTenant, now: datetime = NOW) -> None:
    summary = remediate(t.store, TENANT, now, t.config, t.host)
    assert not summary.as_dict()["problems"], summary.as_dict()["problems"]
    assert dispatch(t.store, t.config, TENANT, now=now).dead == 0


def todos(t: EmulatedTenant) -> list[dict[str, Any]]:
    return t.dingtalk.todo_list()


def notices(t: EmulatedTenant) -> list[dict[str, Any]]:
    return t.dingtalk.messages()


def texts(t: EmulatedTenant) -> list[str]:
    return [str(n["msg"]) for n in notices(t)]


def sms(t: EmulatedTenant) -> list[dict[str, Any]]:
    return t.sms.message_list()


def missed(t: EmulatedTenant, name: str, outcome: OutcomeClass, *, hours_ago: float = 3, sub_reason: str | None = None,
           **kw: Any) -> str:
    t.candidate(f"c-{name}", name)
    interview = t.interview(f"iv-{name}", NOW - timedelta(hours=hours_ago), candidate=f"c-{name}", **kw)
    t.decide(interview.id, outcome, NOW, sub_reason)
    return interview.id


def sent(interview_id: str, purpose: NotificationPurpose, channel: Channel, status: DeliveryStatus,
         minutes_before: int = 60) -> Notification:
    return Notification(source="acme.ats", remote_id=f"{interview_id}-{purpose}-{channel}", interview_id=interview_id,
                        occurred_at=NOW - timedelta(hours=3, minutes=minutes_before), purpose=purpose,
                        channel=channel, recipient="138****5678", status=status)


def test_read_no_show_gets_an_hr_decision_task_and_a_self_reschedule_offer(t: EmulatedTenant) -> None:
    interview = missed(t, "张三", OutcomeClass.missed_read_no_show)
    t.evidence(sent(interview, NotificationPurpose.reminder_t1d, Channel.feishu, DeliveryStatus.read))  # reads known
    run(t)
    (todo,) = todos(t)
    assert todo["ownerUnionId"] == HR_UNION and todo["executorIds"] == [HR_UNION]
    assert todo["subject"] == "【待决定】张三 未参加面试"
    assert "飞书 提醒（提前1天） → 已读" in todo["description"] and "138****5678" in todo["description"]
    assert todo["detailUrl"]["pcUrl"].startswith("http://127.0.0.1:8080/hr/")  # HR's next step, one click
    (offer,) = sms(t)
    assert offer["template_code"] == "SMS_910000002" and offer["phone"].endswith("13812345678")
    token = offer["content"].split("/r/")[1].split("选择")[0]
    found = resolve(t.store, token)
    assert found is not None and found.link.purpose is LinkPurpose.reschedule and found.status is LinkStatus.live
    assert all(r.action.status is ActionStatus.done for r in rows(t.store, TENANT))


def test_technical_miss_reissues_the_link_at_once_and_tells_hr(t: EmulatedTenant) -> None:
    t.candidate("c-ai", "李四")
    interview = t.interview("iv-ai", NOW - timedelta(hours=20), minutes=72 * 60, kind=InterviewKind.ai_async,
                            candidate="c-ai")
    old = join_link(t.store, interview.id).rsplit("/", 1)[1]
    t.decide(interview.id, OutcomeClass.missed_technical, NOW)
    run(t)
    (message,) = sms(t)
    assert message["template_code"] == "SMS_910000001"
    new = message["content"].rsplit("/j/", 1)[1]
    assert new != old and resolve(t.store, old).status is LinkStatus.rotated  # type: ignore[union-attr]
    assert resolve(t.store, new).status is LinkStatus.live  # type: ignore[union-attr]
    (fyi,) = notices(t)
    assert list(fyi["recipients"]) == [HR_USER] and "【已处理】李四" in str(fyi["msg"])
    assert todos(t) == []


def test_a_technical_miss_of_a_past_live_slot_offers_a_new_time_instead_of_a_dead_link(t: EmulatedTenant) -> None:
    missed(t, "王五", OutcomeClass.missed_technical)
    run(t)
    (message,) = sms(t)
    assert message["template_code"] == "SMS_910000002"  # the reschedule page, no penalty


def test_not_reached_resends_on_another_channel_and_asks_hr_to_fix_the_contact(t: EmulatedTenant) -> None:
    t.candidate("c-赵六", "赵六", feishu_first=True)
    interview = t.interview("iv-赵六", NOW - timedelta(hours=3), candidate="c-赵六").id
    t.decide(interview, OutcomeClass.missed_not_reached, NOW, "undelivered")
    t.evidence(sent(interview, NotificationPurpose.invite, Channel.feishu, DeliveryStatus.failed))
    run(t)
    assert t.feishu.messages == {}  # Feishu, the candidate's first way, failed before: SMS now
    (message,) = sms(t)
    assert message["template_code"] == "SMS_910000002" and "/r/" in message["content"]
    (todo,) = todos(t)
    assert "请核实联系方式" in todo["subject"] and "138****5678" in todo["description"]


def test_declined_gets_the_reschedule_flow_and_an_ats_task(t: EmulatedTenant) -> None:
    missed(t, "孙七", OutcomeClass.missed_declined)
    run(t)
    assert [m["template_code"] for m in sms(t)] == ["SMS_910000002"]
    (todo,) = todos(t)
    assert "请在招聘系统中更新该面试的状态" in todo["description"]


def test_partial_asks_hr_and_unknown_asks_who_was_there(t: EmulatedTenant) -> None:
    missed(t, "周八", OutcomeClass.attended_partial)
    missed(t, "吴九", OutcomeClass.unknown)
    run(t)
    assert [todo["subject"] for todo in todos(t)] == ["【待决定】周八 的面试参加时长不足"]
    assert any("请确认：吴九 是否参加了面试？" in text for text in texts(t))
    assert sms(t) == []


def test_interviewers_are_asked_on_the_platform_their_ids_come_from(t: EmulatedTenant) -> None:
    """A Feishu interview's interviewers are Feishu open_ids: asked on Feishu, never sent to HR's DingTalk."""
    interviewer = str(t.feishu.add_user("面试官 郑")["open_id"])
    t.candidate("c-郑十", "郑十")
    iv = t.interview("iv-郑十", NOW - timedelta(hours=3), candidate="c-郑十", source=f"{TENANT}.fs",
                     interviewers=(interviewer,))
    t.decide(iv.id, OutcomeClass.unknown, NOW)
    run(t)
    asked = [m for m in t.feishu.messages.values() if "郑十" in m.content]
    assert [m.recipients for m in asked] == [[interviewer]]
    assert not any("郑十" in text for text in texts(t))


def test_messages_say_whom_they_went_to_so_only_the_candidates_reads_are_reach(t: EmulatedTenant) -> None:
    t.candidate("c-冯一", "冯一", feishu_first=True)
    interview = t.interview("iv-冯一", NOW - timedelta(hours=3), candidate="c-冯一")
    t.decide(interview.id, OutcomeClass.missed_technical, NOW)  # a new time for the candidate, an FYI for HR
    run(t)
    planned = {r.action.payload["purpose"]: r.action.payload.get("audience") for r in rows(t.store, TENANT)
               if r.action.kind == "send_message"}
    assert planned == {"reschedule_offer": "candidate", "hr_task": "staff"}
    with t.store.engine.connect() as conn:
        stored = {tuple(r) for r in conn.execute(sa.select(evidence.c.source, evidence.c.type, evidence.c.audience)
                                                 .where(evidence.c.kind == "notification"))}
    assert stored == {("acme.fs", "reschedule_offer", "candidate"), ("acme.dt", "hr_task", "staff")}


@pytest.mark.parametrize("outcome", [OutcomeClass.attended, OutcomeClass.pending, OutcomeClass.cancelled])
def test_outcomes_without_remediation_plan_nothing(t: EmulatedTenant, outcome: OutcomeClass) -> None:
    missed(t, "郑十", outcome)
    run(t)
    assert rows(t.store, TENANT) == [] and [c.playbook for c in cases(t.store, TENANT)] == ["none"]


def test_planning_twice_plans_once_and_dispatching_twice_sends_once(t: EmulatedTenant) -> None:
    missed(t, "张三", OutcomeClass.missed_read_no_show)
    run(t)
    run(t, NOW + timedelta(minutes=5))
    assert len(rows(t.store, TENANT)) == 2 and len(todos(t)) == 1 and len(sms(t)) == 1


def test_a_second_miss_on_the_application_goes_to_a_person(t: EmulatedTenant) -> None:
    first = missed(t, "张三", OutcomeClass.missed_read_no_show, application="app-1")
    run(t)
    second = t.interview("iv-round2", NOW - timedelta(hours=1), candidate="c-张三", application="app-1")
    t.decide(second.id, OutcomeClass.missed_read_no_show, NOW)
    run(t)
    assert len(sms(t)) == 1  # only the first miss contacted the candidate by itself
    subjects = [todo["subject"] for todo in todos(t)]
    assert subjects == ["【待决定】张三 未参加面试", "【需人工决定】张三 在同一职位第 2 次未参加面试"]
    assert [c.playbook for c in cases(t.store, TENANT)] == ["second_miss", "hr_decision"]
    assert first != second.id


def test_one_automatic_reinvite_per_interview(t: EmulatedTenant) -> None:
    interview = missed(t, "张三", OutcomeClass.missed_technical)
    run(t)
    t.decide(interview, OutcomeClass.missed_read_no_show, NOW + timedelta(hours=1))  # late evidence, new reading
    run(t, NOW + timedelta(hours=1))
    assert len(sms(t)) == 1  # the technical miss re-invited already; the offer was not sent again
    assert [todo["subject"] for todo in todos(t)] == ["【待决定】张三 未参加面试"]
    assert cases(t.store, TENANT)[0].playbook == "hr_decision+capped"


def test_a_superseded_outcome_cancels_what_was_not_sent(t: EmulatedTenant) -> None:
    interview = missed(t, "张三", OutcomeClass.missed_read_no_show)
    remediate(t.store, TENANT, NOW, t.config, t.host)
    t.decide(interview, OutcomeClass.attended_late, NOW + timedelta(minutes=1))  # the join log arrived late
    run(t, NOW + timedelta(minutes=2))
    assert {r.action.status for r in rows(t.store, TENANT)} == {ActionStatus.cancelled}
    assert todos(t) == [] and sms(t) == []


def test_the_same_decision_restated_keeps_its_actions(t: EmulatedTenant) -> None:
    interview = missed(t, "张三", OutcomeClass.missed_read_no_show)
    remediate(t.store, TENANT, NOW, t.config, t.host)
    t.decide(interview, OutcomeClass.missed_read_no_show, NOW + timedelta(minutes=1))  # more evidence, same reading
    run(t, NOW + timedelta(minutes=2))
    assert {(r.action.status, r.action.outcome_version) for r in rows(t.store, TENANT)} == {(ActionStatus.done, 2)}
    t.decide(interview, OutcomeClass.missed_read_no_show, NOW + timedelta(minutes=3))
    run(t, NOW + timedelta(minutes=4))
    assert len(rows(t.store, TENANT)) == 2 and len(todos(t)) == 1 and len(sms(t)) == 1


def test_clustered_technical_misses_open_one_incident(t: EmulatedTenant) -> None:
    for i in range(4):
        missed(t, f"候选人{i}", OutcomeClass.missed_technical, hours_ago=3 - i * 0.2, platform="meetly")
    run(t)
    with t.store.engine.connect() as conn:
        (incident,) = conn.execute(sa.select(health).where(health.c.kind == "incident")).all()
    assert incident.subject == "platform:meetly" and "4 场面试" in incident.message
    dings = t.dingtalk.push_messages("ding")
    assert len(dings) == 1 and "meetly" in str(dings[0]["content"])  # urgent: a DING to HR


def test_a_tenant_override_replaces_the_default_playbook(tmp_path: Path, db_url: str) -> None:
    policy = {"playbooks": {"missed_read_no_show": ["hr_decision"]}}
    with emulated_tenant(tmp_path, db_url, policy=policy) as t:
        missed(t, "张三", OutcomeClass.missed_read_no_show)
        run(t)
        assert len(todos(t)) == 1 and sms(t) == []


class FastLane:
    """A plugin playbook: on a technical miss, only a DING-style urgent message to HR."""

    @hookimpl
    def lifeline_register_policies(self, register: Any) -> None:
        register("missed_technical", Playbook("fast_lane", (STEPS["hr_fyi"],)))


def test_a_plugin_playbook_replaces_the_default_unless_the_tenant_picks_another(t: EmulatedTenant) -> None:
    t.host.register(FastLane(), "fastlane")
    missed(t, "张三", OutcomeClass.missed_technical)
    run(t)
    assert sms(t) == [] and len(notices(t)) == 1
    assert cases(t.store, TENANT)[0].playbook == "fast_lane"


def test_the_cli_plans_and_reports(t: EmulatedTenant, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from lifeline_hub.core import cli

    monkeypatch.setattr(cli, "get_host", lambda: t.host)
    monkeypatch.setenv("LIFELINE_HASH_KEY", "playbooks-test-key-0123456789abcdef")  # acme is no sandbox
    missed(t, "张三", OutcomeClass.missed_read_no_show)
    args = ["--config", str(t.path), "remediate", "--tenant", TENANT, "--now", NOW.isoformat()]
    result = CliRunner().invoke(cli.cli, args)
    assert result.exit_code == 0, result.output
    assert "acme: 1 new decisions, 2 actions planned, 0 cancelled, 0 incidents, 0 problems" in result.output
    again = CliRunner().invoke(cli.cli, [*args, "--json"])
    assert '"cases": 0' in again.output and '"planned": 0' in again.output
    sent = CliRunner().invoke(cli.cli, ["--config", str(t.path), "dispatch", "--tenant", TENANT])
    assert sent.exit_code == 0 and "2 done" in sent.output and len(todos(t)) == 1


def test_candidates_are_not_messaged_in_their_quiet_hours(tmp_path: Path, db_url: str) -> None:
    late = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 23:30 in Beijing
    with emulated_tenant(tmp_path, db_url, policy={"quiet_hours": [21, 8]}) as t:
        t.candidate("c1", "张三")
        interview = t.interview("iv1", late - timedelta(hours=3), candidate="c1")
        t.decide(interview.id, OutcomeClass.missed_read_no_show, late)
        remediate(t.store, TENANT, late, t.config, t.host)
        due = {r.action.kind: r.action.due_at for r in rows(t.store, TENANT)}
        assert due == {"create_task": late, "send_sms": datetime(2026, 3, 3, 0, 0, tzinfo=UTC)}  # 08:00 local


def test_old_interviews_are_recorded_but_nobody_is_contacted(t: EmulatedTenant) -> None:
    missed(t, "张三", OutcomeClass.missed_read_no_show, hours_ago=24 * 10)
    run(t)
    assert rows(t.store, TENANT) == [] and [c.playbook for c in cases(t.store, TENANT)] == ["too_old"]
