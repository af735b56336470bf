"""HR tasks and candidate messages in zh-CN and en: who, which interview, the evidence, one next step;
never a raw phone number or a secret, even when a `lifeline_render_task` plugin writes the text."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifeline_hub.core import hookimpl
from lifeline_hub.core.models import (
    AppointmentThread,
    Channel,
    DeliveryEvent,
    DeliveryType,
    Interview,
    InterviewKind,
    LinkEvent,
    LinkEventType,
    Notification,
    NotificationPurpose,
    Outcome,
    OutcomeClass,
    utcnow,
)
from lifeline_hub.core.outbox import dispatch
from lifeline_hub.core.remediation import remediate
from lifeline_hub.core.remediation.case import CandidateView, Case, Contact
from lifeline_hub.core.remediation.render import STAFF_PURPOSES, candidate_text, evidence_lines, staff_text
from lifeline_hub.core.remediation.testing import TENANT, emulated_tenant
from lifeline_hub.core.remediation.texts import P, T
from lifeline_hub.core.remediation.trail import summarise
from tests.reconcile.plugin_channel import WECOM, WECOM_APP, WECOM_BOT

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 14:00 in Beijing
RAW_PHONE = re.compile(r"1[3-9]\d{9}")


def a_case(outcome: OutcomeClass = OutcomeClass.missed_technical) -> Case:
    interview = Interview(source="acme.ats", remote_id="iv1", kind=InterviewKind.video, start_at=START,
                          end_at=START + timedelta(minutes=45), platform="meetly",
                          thread=AppointmentThread(thread_id="t1", ical_uid="iv1@x"), candidate_id="acme.ats/c1")
    note = Notification(source="acme.sms", remote_id="n1", interview_id=interview.id,
                        occurred_at=START - timedelta(days=1), purpose=NotificationPurpose.reminder_t1d,
                        channel=Channel.sms, recipient="138****5678")
    evidence = (
        note,
        DeliveryEvent(source="acme.sms", remote_id="d1", interview_id=interview.id, occurred_at=note.occurred_at,
                      notification_id=note.id, type=DeliveryType.delivered, channel=Channel.sms),
        LinkEvent(source="acme.links", remote_id="l0", interview_id=interview.id, occurred_at=START,
                  type=LinkEventType.open, machine_made=True, machine_reason="scanner_ua"),
        LinkEvent(source="acme.links", remote_id="l1", interview_id=interview.id, occurred_at=START,
                  type=LinkEventType.join_attempt),
        LinkEvent(source="acme.links", remote_id="l2", interview_id=interview.id, occurred_at=START,
                  type=LinkEventType.join_error, code="DEVICE_CHECK"),
    )
    candidate = CandidateView("acme.ats/c1", "张三", "zh-CN", "Asia/Shanghai",
                              (Contact(Channel.sms, "138****5678", "hash"),))
    outcome_ = Outcome(interview_id=interview.id, outcome=outcome, rule_version="t", decided_at=START)
    return Case(TENANT, outcome_, interview, candidate, evidence, None)


def test_every_text_exists_in_both_languages() -> None:
    assert T["zh-CN"].keys() == T["en"].keys() and P["zh-CN"].keys() == P["en"].keys()


@pytest.mark.parametrize("purpose", STAFF_PURPOSES)
def test_hr_texts_say_who_what_with_evidence_and_one_next_step(purpose: str) -> None:
    zh_title, zh = staff_text(purpose, a_case(), "Asia/Shanghai", "zh-CN")
    assert "张三" in zh_title and "候选人：张三（手机 138****5678）" in zh
    assert "面试：视频面试，2026年3月2日（周一）14:00–14:45（北京时间），平台 meetly" in zh
    assert "· 03-01 14:00 短信 提醒（提前1天） → 已送达（该渠道没有已读回执）" in zh  # SMS: no read receipts
    assert "· 链接：打开 0 次，尝试进入 1 次（另有 1 次疑似邮件扫描，不计入）" in zh
    assert "· 进入失败 1 次（错误码 DEVICE_CHECK）" in zh and "· 未进入面试" in zh
    assert zh.count("下一步：") == 1 and "不会自动拒绝候选人" in zh
    assert "http" not in zh  # the next step's links travel beside the text, as buttons
    en_title, en = staff_text(purpose, a_case(), "Europe/Berlin", "en")
    assert "Candidate: 张三 (phone 138****5678)" in en and "Mon 2 Mar 2026, 07:00–07:45 (Europe/Berlin)" in en
    assert "SMS reminder (1 day before) → delivered (this channel reports no reads)" in en
    assert en.count("Next step: ") == 1
    for text in (zh_title, zh, en_title, en):
        assert not RAW_PHONE.search(text)


def test_hr_evidence_says_no_more_than_each_channel_observes() -> None:
    """A plugin's channels are named by their declaration; a read where the channel knows no reads (an
    e-mail open) is a delivery, a delivery where it knows no reads is not "unread", an accepted send where
    no delivery report can come is not "no receipt"."""
    evidence = []
    for n, (channel, receipts) in enumerate([(WECOM, ("delivered", "read")), (WECOM_APP, ("delivered",)),
                                             (WECOM_BOT, ()), (Channel.email, ("read",))]):
        note = Notification(source="acme.msg", remote_id=f"n{n}", interview_id="acme.ats/iv1",
                            occurred_at=START - timedelta(hours=4 - n), purpose=NotificationPurpose.reminder_t1d,
                            channel=channel, recipient="u1")
        evidence += [note, *(DeliveryEvent(source="acme.msg", remote_id=f"d{n}{kind}", occurred_at=note.occurred_at,
                                           notification_id=note.id, type=kind, channel=channel) for kind in receipts)]
    en = evidence_lines(summarise(evidence), "Asia/Shanghai", "en")
    assert [line.split(" → ") for line in en[:-1]] == [
        ["03-02 10:00 WeCom (test) reminder (1 day before)", "delivered (this channel reports no reads)"],
        ["03-02 11:00 WeCom app (test) reminder (1 day before)", "delivered, not read"],
        ["03-02 12:00 WeCom bot (test) reminder (1 day before)", "sent (this channel reports no delivery)"],
        ["03-02 13:00 e-mail reminder (1 day before)", "delivered (this channel reports no reads)"],
    ]
    assert en[-1] == "Never joined"
    assert evidence_lines(summarise(evidence[:3]), "Asia/Shanghai", "zh-CN")[0].endswith(
        "企业微信（测试） 提醒（提前1天） → 已送达（该渠道没有已读回执）")


def test_hr_is_not_told_a_message_went_unread_where_reads_cannot_be_seen() -> None:
    case = a_case(OutcomeClass.missed_not_reached)
    for sub, zh_what, en_what in [
        ("delivered_read_unknown", "通知已送达，但没有迹象表明候选人看过（所用渠道没有已读回执）",
         "our messages were delivered, with no sign that they were read (their channels report no reads)"),
        ("delivered_unread", "通知已送达，但候选人未读",
         "our messages were delivered, the candidate did not read them"),
        ("undelivered", "通知均未能送达候选人", "none of our messages reached the candidate"),
    ]:
        told = dataclasses.replace(case, outcome=case.outcome.model_copy(update={"sub_reason": sub}))
        assert f"情况：{zh_what} ({sub})" in staff_text("contact_fix", told, "Asia/Shanghai", "zh-CN")[1]
        assert f"What happened: {en_what} ({sub})" in staff_text("contact_fix", told, "Asia/Shanghai", "en")[1]


def test_candidate_messages_in_both_languages() -> None:
    zh_title, zh = candidate_text("reissued_link", "张三", "zh-CN", "Asia/Shanghai", START, reschedule=True)
    assert zh_title == "您的面试新链接" and zh.startswith("张三，您好：")
    assert "请使用下面的新链接进入面试" in zh and "如需更改时间" in zh and "http" not in zh  # links travel apart
    en_title, en = candidate_text("refused", "Zhang San", "en", "America/New_York", START, keep=True)
    assert en_title == "About your request to reschedule"
    assert "stays at Mon 2 Mar 2026, 01:00, with the same link" in en and en.startswith("Dear Zhang San,")
    _, gone = candidate_text("refused", "张三", "zh-CN", "Asia/Shanghai", START)
    assert "招聘人员会尽快与您联系后续安排" in gone


class Leaky:
    """A render plugin that (wrongly) puts a raw phone number and a secret into HR's text."""

    @hookimpl
    def lifeline_render_task(self, action: Any, interview: Interview, evidence: Any) -> str | None:
        return f"自定义：{interview.remote_id} 请拨打 13812345678，access_token=abcdef1234567890"


def test_a_render_plugin_replaces_the_text_but_cannot_leak(tmp_path: Path, db_url: str) -> None:
    now = utcnow()
    with emulated_tenant(tmp_path, db_url) as t:
        t.host.register(Leaky(), "leaky")
        t.candidate("c1", "张三")
        interview = t.interview("iv1", now - timedelta(hours=3), candidate="c1")
        t.decide(interview.id, OutcomeClass.missed_read_no_show, now)
        remediate(t.store, TENANT, now, t.config, t.host)
        dispatch(t.store, t.config, TENANT, now=now)
        (todo,) = t.dingtalk.todo_list()
        assert todo["description"].startswith("自定义：iv1 请拨打 138****5678，access_token=***")
        assert "/hr/" in todo["description"]  # Lifeline's own links are kept under the plugin's text
        assert "13812345678" not in str(t.dingtalk.todo_list()) + str(t.dingtalk.messages())
        (sms,) = t.sms.message_list()  # the candidate's own message is never handed to the plugin
        assert sms["template_code"] == "SMS_910000002"
