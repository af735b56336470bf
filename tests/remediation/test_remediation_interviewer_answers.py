"""Asking the interviewers "Did <candidate> attend?" when nothing else can tell, and taking their answers.

A real store (SQLite and PostgreSQL), remediation and dispatch against the Feishu and DingTalk emulators,
Lifeline's receiver on loopback: each interviewer gets the question on their own platform with four answers
signed for them; a Feishu card click comes back through the card action callback, a DingTalk card's button
opens Lifeline's page; either way one `AttendanceReport` per person, whatever they click twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from lifeline_hub.core.connector import Checkpoint
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.models import (
    ActionStatus,
    AttendanceReport,
    AttendanceVerdict,
    InterviewKind,
    OutcomeClass,
    utcnow,
)
from lifeline_hub.core.outbox import dispatch, rows
from lifeline_hub.core.receiver.app import create_app
from lifeline_hub.core.reconcile.run import reconcile
from lifeline_hub.core.remediation import remediate
from lifeline_hub.core.remediation.answers import Answered, record
from lifeline_hub.core.remediation.links import ANSWER_PATH, AnswerLink, answer_token, answer_url, read_answer
from lifeline_hub.core.remediation.testing import TENANT, EmulatedTenant, emulated_tenant
from lifeline_hub.core.remediation.trail import summarise
from lifeline_hub.core.store.schema import evidence, outcomes

NOW = utcnow().replace(microsecond=0)
KEY = "interviewer-answers-test-key-0123456789"
ANSWERS = ("已参加", "迟到参加", "未到场", "技术问题")


@pytest.fixture
def t(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedTenant]:
    monkeypatch.setenv("LIFELINE_HASH_KEY", KEY)
    with emulated_tenant(tmp_path, db_url) as tenant:
        yield tenant


@pytest.fixture
def receiver(t: EmulatedTenant) -> Iterator[str]:
    with LoopbackServer(create_app(t.config, t.store, t.host)) as server:
        t.feishu.settings.callback_url = f"{server.url}/callbacks/{TENANT}.fs"
        t.feishu.settings.deliver_in_background = False
        yield server.url


def reports(t: EmulatedTenant) -> list[AttendanceReport]:
    with t.store.engine.connect() as conn:
        rows = conn.execute(sa.select(evidence.c.data).where(evidence.c.kind == "attendance_report")
                            .order_by(evidence.c.id)).scalars()
        return [AttendanceReport.model_validate(r) for r in rows]


def unknown_on(t: EmulatedTenant, platform: str, interviewers: tuple[str, ...]) -> str:
    """A video interview from `platform` (`fs`/`dt`) that ended 3 hours ago, decided `unknown`, remediated and
    dispatched; returns its id."""
    t.candidate("c1", "张三")
    interview = t.interview("iv1", NOW - timedelta(hours=3), candidate="c1", source=f"{TENANT}.{platform}",
                            interviewers=interviewers)
    t.decide(interview.id, OutcomeClass.unknown, NOW, "no_attendance_source")
    assert not remediate(t.store, TENANT, NOW, t.config, t.host).as_dict()["problems"]
    assert dispatch(t.store, t.config, TENANT, now=NOW).dead == 0
    return interview.id


def feishu_cards(t: EmulatedTenant) -> dict[str, tuple[str, dict[str, Any]]]:
    """The interactive cards the bot sent, by recipient open_id: (message id, card)."""
    return {m.recipients[0]: (m.message_id, json.loads(m.content)) for m in t.feishu.messages.values()
            if m.msg_type == "interactive" and m.sender_type == "app"}


def on(receiver: str, url: str) -> str:
    """`url` (an answer link) on the test's receiver."""
    assert ANSWER_PATH in url
    return receiver + ANSWER_PATH + url.split(ANSWER_PATH, 1)[1]


def buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for e in card["elements"] if e["tag"] == "action" for b in e["actions"]]


def test_each_feishu_interviewer_answers_on_a_card_and_a_second_click_is_the_same_answer(
        t: EmulatedTenant, receiver: str) -> None:
    alice, bob = (str(t.feishu.add_user(n)["open_id"]) for n in ("面试官 A", "面试官 B"))
    interview_id = unknown_on(t, "fs", (f"open_id:{alice}", f"open_id:{bob}"))
    cards = feishu_cards(t)
    assert set(cards) == {alice, bob}  # one question each, on their own platform
    message_id, card = cards[alice]
    assert "请确认：张三 是否参加了面试？" in json.dumps(card, ensure_ascii=False)
    assert [b["text"]["content"] for b in buttons(card)] == list(ANSWERS)
    tokens = [b["value"]["lifeline_answer"] for b in buttons(card)]
    assert all("url" not in b for b in buttons(card))  # answered through the callback, not a browser
    assert {read_answer(x).interviewer for x in tokens} == {f"open_id:{alice}"}  # type: ignore[union-attr]
    assert tokens != [b["value"]["lifeline_answer"] for b in buttons(cards[bob][1])]  # signed per person

    t.feishu.click_card(message_id, alice, "未到场")
    t.feishu.click_card(message_id, alice, "未到场")  # the same click again
    assert t.feishu.deliver_pending_events() == 2
    (answer,) = reports(t)
    assert answer.source == f"{TENANT}.fs" and answer.interview_id == interview_id
    assert answer.reporter_id == f"open_id:{alice}" and answer.verdict is AttendanceVerdict.no_show
    assert answer.sequence_seen == 0

    t.feishu.click_card(message_id, alice, "技术问题")  # she changes her mind: it replaces her answer
    t.feishu.click_card(cards[bob][0], bob, "迟到参加")
    assert t.feishu.deliver_pending_events() == 2
    assert {(r.reporter_id, r.verdict) for r in reports(t)} == {
        (f"open_id:{alice}", AttendanceVerdict.technical), (f"open_id:{bob}", AttendanceVerdict.attended_late)}


def test_a_forged_card_value_is_refused_with_a_toast_and_stores_nothing(
        t: EmulatedTenant, receiver: str, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = str(t.feishu.add_user("面试官 A")["open_id"])
    unknown_on(t, "fs", (f"open_id:{alice}",))
    message_id, card = feishu_cards(t)[alice]
    monkeypatch.setenv("LIFELINE_HASH_KEY", "someone-else-s-key-0123456789abcdef")
    forged = answer_token(AnswerLink(AttendanceVerdict.attended, TENANT, "acme.fs/iv1", 0, f"open_id:{alice}",
                                     f"{TENANT}.fs"))
    monkeypatch.setenv("LIFELINE_HASH_KEY", KEY)
    buttons(card)[0]["value"]["lifeline_answer"] = forged
    t.feishu.messages[message_id].content = json.dumps(card, ensure_ascii=False)
    t.feishu.click_card(message_id, alice, "已参加")
    assert t.feishu.deliver_pending_events() == 1  # answered (with an error toast), not retried
    assert reports(t) == []


def test_dingtalk_interviewers_answer_through_the_signed_page_behind_a_confirm_button(
        t: EmulatedTenant, receiver: str) -> None:
    t.dingtalk.add_user("iv-li", union_id="union-li", name="面试官 李")
    interview_id = unknown_on(t, "dt", ("iv-li",))
    (notice,) = [m for m in t.dingtalk.messages() if "是否参加了面试" in json.dumps(m, ensure_ascii=False)]
    card = notice["msg"]["action_card"]
    links = {b["title"]: b["action_url"] for b in card["btn_json_list"]}
    assert list(links) == list(ANSWERS)
    late = on(receiver, links["迟到参加"])
    shown = requests.get(late, timeout=10)  # a link scanner's GET answers nothing
    assert shown.status_code == 200 and "您的回答：迟到参加。确认提交？" in shown.text and reports(t) == []
    assert "已记录您的回答：迟到参加" in requests.post(late, timeout=10).text
    assert "无需重复" in requests.post(late, timeout=10).text  # a second click: still one answer
    (answer,) = reports(t)
    assert (answer.interview_id, answer.reporter_id, answer.verdict) == (
        interview_id, "iv-li", AttendanceVerdict.attended_late)
    came = on(receiver, links["已参加"])
    assert "已改为：已参加" in requests.post(came, timeout=10).text
    (answer,) = reports(t)
    assert answer.verdict is AttendanceVerdict.attended


def test_an_answer_from_someone_who_is_not_an_interviewer_is_kept_and_not_counted(
        t: EmulatedTenant, receiver: str) -> None:
    t.candidate("c1", "张三")
    interview = t.interview("iv1", NOW - timedelta(hours=3), candidate="c1", source=f"{TENANT}.dt",
                            interviewers=("iv-li",))
    stranger = AnswerLink(AttendanceVerdict.no_show, TENANT, interview.id, 0, "iv-wang", f"{TENANT}.dt")  # left
    page = requests.post(answer_url(answer_token(stranger), receiver), timeout=10)
    assert "您不是这场面试的面试官" in page.text
    (kept,) = reports(t)
    assert kept.reporter_id == "iv-wang"
    trail = summarise([kept], interview.interviewer_ids)
    assert [(a.by, a.counted) for a in trail.answers] == [("iv-wang", False)]
    own = AnswerLink(AttendanceVerdict.attended, TENANT, interview.id, 0, "iv-li", f"{TENANT}.dt")
    assert record(t.store, own, "iv-li", NOW) is Answered.recorded
    assert record(t.store, own, "iv-li", NOW + timedelta(minutes=1)) is Answered.already
    other_tenant = AnswerLink(AttendanceVerdict.attended, "globex", interview.id, 0, "iv-li", "globex.dt")
    assert record(t.store, other_tenant, "iv-li", NOW) is Answered.stale
    assert len(reports(t)) == 2


def test_an_altered_or_expired_answer_link_is_refused(t: EmulatedTenant, receiver: str) -> None:
    link = AnswerLink(AttendanceVerdict.attended, TENANT, "acme.dt/iv1", 0, "iv-li", f"{TENANT}.dt")
    token = answer_token(link, due_at=NOW)
    assert read_answer(token, NOW) == link
    assert read_answer(token, NOW + timedelta(days=8)) is None  # a week after its task was due
    data, mac = token.split(".")
    assert read_answer(f"{data}x.{mac}", NOW) is None
    for bad in (f"{data}x.{mac}", "nonsense", "a.b.c"):
        page = requests.post(f"{receiver}{ANSWER_PATH}{bad}", timeout=10)
        assert page.status_code == 404 and "链接无效" in page.text
    assert reports(t) == []


def test_a_late_answer_re_decides_the_interview_and_a_changed_mind_again(t: EmulatedTenant, receiver: str) -> None:
    """An on-site interview (no machine attendance anywhere) decided `unknown`; the interviewer answers after that
    decision, through the card: the next incremental reconcile takes the answer up and remediation acts on the
    new decision; when she changes her mind, it is decided again."""
    for setup in t.config.instances(TENANT):  # every stream is complete: nothing holds the decision back
        for stream in setup.connector_class.streams:
            t.store.commit_batch(TENANT, setup.instance.name, stream.name, [], [], Checkpoint({}, NOW))
    alice = str(t.feishu.add_user("面试官 A")["open_id"])
    t.candidate("c1", "张三")
    interview = t.interview("iv1", NOW - timedelta(hours=3), candidate="c1", source=f"{TENANT}.fs",
                            interviewers=(f"open_id:{alice}",), kind=InterviewKind.onsite)
    reconcile(t.store, TENANT, NOW, t.config, t.host)
    assert current(t, interview.id) == ("unknown", "no_attendance_source")
    assert not remediate(t.store, TENANT, NOW, t.config, t.host).as_dict()["problems"]
    assert dispatch(t.store, t.config, TENANT, now=NOW).dead == 0
    message_id, _ = feishu_cards(t)[alice]
    (waiting,) = [r.action for r in rows(t.store, TENANT, status=ActionStatus.planned)]
    assert (waiting.kind, waiting.due_at) == ("create_task", NOW + timedelta(days=1))  # HR, if nobody answers

    t.feishu.click_card(message_id, alice, "未到场")
    assert t.feishu.deliver_pending_events() == 1
    later = NOW + timedelta(hours=1)
    reconcile(t.store, TENANT, later, t.config, t.host)  # incremental: the stored answer brings it back in scope
    assert current(t, interview.id) == ("missed_not_reached", "nothing_sent")
    assert not remediate(t.store, TENANT, later, t.config, t.host).as_dict()["problems"]
    assert [r.action.status for r in rows(t.store, TENANT) if r.action.idempotency_key == waiting.idempotency_key
            ] == [ActionStatus.cancelled]  # answered: HR is not asked who was there
    assert dispatch(t.store, t.config, TENANT, now=later).dead == 0
    (todo,) = t.dingtalk.todo_list()  # HR is told, with the answer in the evidence
    assert f"面试官 open_id:{alice} 回答：未到场" in todo["description"]

    t.feishu.click_card(message_id, alice, "已参加")
    assert t.feishu.deliver_pending_events() == 1
    reconcile(t.store, TENANT, later + timedelta(minutes=5), t.config, t.host)
    assert current(t, interview.id) == ("attended", "interviewer_reported")
    assert len(reports(t)) == 1


def test_hr_is_asked_when_no_interviewer_answers_within_a_day(t: EmulatedTenant, receiver: str) -> None:
    alice = str(t.feishu.add_user("面试官 A")["open_id"])
    unknown_on(t, "fs", (f"open_id:{alice}",))
    assert t.dingtalk.todo_list() == []
    assert dispatch(t.store, t.config, TENANT, now=NOW + timedelta(days=1)).dead == 0
    (todo,) = t.dingtalk.todo_list()
    assert todo["subject"] == "【待确认】没有人回答 张三 是否参加了面试"
    assert "一天内也没有面试官回答" in todo["description"]


def current(t: EmulatedTenant, interview_id: str) -> tuple[str, str | None]:
    with t.store.engine.connect() as conn:
        row = conn.execute(sa.select(outcomes.c.outcome, outcomes.c.sub_reason).where(
            outcomes.c.interview_id == interview_id, outcomes.c.superseded_at.is_(None))).one()
    return str(row.outcome), row.sub_reason
