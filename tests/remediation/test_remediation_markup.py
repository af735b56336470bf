"""Candidate text reaches HR as text, through the real pipeline to the DingTalk emulator: hostile names from
the ATS and a phishing note typed on the `/r/` page arrive in todos, action cards and approval forms as the
candidate's words (URLs defanged, markup escaped), next to Lifeline's own links and no other."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lifeline_hub.core.models import InterviewKind, OutcomeClass, utcnow
from lifeline_hub.core.outbox import dispatch, rows
from lifeline_hub.core.receiver.app import create_app
from lifeline_hub.core.remediation import remediate
from lifeline_hub.core.remediation.testing import TENANT, EmulatedTenant, emulated_tenant
from tests.markup_helpers import (
    HOSTILE_NAMES,
    PHISHING_NOTE,
    SHOWN_NAMES,
    SHOWN_NOTE,
    assert_markdown_shows,
    assert_plain_shows,
)

NOW = utcnow().replace(microsecond=0)
ATS_PAGE = "https://ats.example/interviews"  # the todos' detail link when a todo carries none
OWN_SMS = re.compile(r"https://lifeline\.example/[jr]/[A-Za-z0-9_-]+")


@pytest.fixture
def t(tmp_path: Path, db_url: str) -> Iterator[EmulatedTenant]:
    with emulated_tenant(tmp_path, db_url) as tenant:
        yield tenant


def run(t: EmulatedTenant, now: datetime = NOW) -> None:
    assert not remediate(t.store, TENANT, now, t.config, t.host).as_dict()["problems"]
    assert dispatch(t.store, t.config, TENANT, now=now).dead == 0


def own_links(t: EmulatedTenant) -> set[str]:
    """Every URL Lifeline itself planned (HR's signed links, the candidate's pages)."""
    return {link["url"] for r in rows(t.store, TENANT) for link in r.action.payload.get("links", ())} | {ATS_PAGE}


def test_hostile_names_reach_dingtalk_todos_and_cards_as_text(t: EmulatedTenant) -> None:
    decision, fyi, ask = HOSTILE_NAMES
    t.candidate("c1", decision)
    first = t.interview("iv1", NOW - timedelta(hours=3), candidate="c1", platform="vc](https://evil.example/p)")
    t.decide(first.id, OutcomeClass.missed_read_no_show, NOW, sub_reason="<a href='https://evil.example/s'>x</a>")
    t.candidate("c2", fyi)
    second = t.interview("iv2", NOW - timedelta(hours=20), minutes=72 * 60, kind=InterviewKind.ai_async,
                         candidate="c2")
    t.decide(second.id, OutcomeClass.missed_technical, NOW)
    t.candidate("c3", ask)
    third = t.interview("iv3", NOW - timedelta(hours=3), candidate="c3")
    t.decide(third.id, OutcomeClass.unknown, NOW)
    run(t)
    own = own_links(t)

    (todo,) = t.dingtalk.todo_list()  # HR's decision about 张三: plain subject and description
    assert todo["detailUrl"]["pcUrl"] in own
    assert_plain_shows(todo["subject"], own, SHOWN_NAMES[0])
    assert_plain_shows(todo["description"], own, f"候选人：{SHOWN_NAMES[0]}", "平台 vc](https[:]//evil[.]example/p)",
                       "(<a href='https[:]//evil[.]example/s'>x</a>)")
    assert sum(url in todo["description"] for url in own) == 2  # both next steps, listed under the text

    cards = {n["msg"]["action_card"]["title"]: n["msg"]["action_card"] for n in t.dingtalk.messages()}
    assert len(cards) == 2  # the FYI about 李四 and the question about 王五: markdown with Lifeline's buttons
    for title, card in cards.items():
        name = next(n for n in SHOWN_NAMES[1:] if n in title)
        assert_plain_shows(title, own, name)
        assert_markdown_shows(card["markdown"], own, f"候选人：{name}", title=title)
        assert card["btn_json_list"] and all(b["action_url"] in own for b in card["btn_json_list"])

    for sms in t.sms.message_list():  # the candidates' own messages carry their names too
        assert_plain_shows(sms["content"], set(OWN_SMS.findall(sms["content"])))


def offered(t: EmulatedTenant, name: str) -> str:
    """A missed interview whose candidate got the reschedule offer by SMS; returns the page path."""
    t.candidate("c1", name)
    interview = t.interview("iv1", NOW - timedelta(hours=3), candidate="c1")
    t.decide(interview.id, OutcomeClass.missed_read_no_show, NOW)
    run(t)
    (sms,) = t.sms.message_list()
    return "/r/" + sms["content"].rsplit("/r/", 1)[1].split("选择")[0]


def request(t: EmulatedTenant, page: str) -> None:
    """The candidate asks for the first offered slot, explaining themselves in the note."""
    web = TestClient(create_app(t.config, t.store, t.host, clock=utcnow))
    slot = re.search(r'name="slot" value="([^"]+)"', web.get(page).text)[1]  # type: ignore[index]
    answer = web.post(page, data={"reason": "other", "slot": slot, "propose": "", "note": PHISHING_NOTE})
    assert answer.status_code == 200 and "已收到您的申请" in answer.text
    dispatch(t.store, t.config, TENANT)


def test_a_phishing_note_reaches_the_dingtalk_approval_as_text(t: EmulatedTenant) -> None:
    request(t, offered(t, HOSTILE_NAMES[0]))
    (approval,) = t.dingtalk.approval_list()
    fields: dict[str, Any] = {f["name"]: f["value"] for f in approval["form"]}
    own = own_links(t)
    assert_plain_shows(fields["候选人"], own, SHOWN_NAMES[0])  # DingTalk titles the instance itself
    assert_plain_shows(fields["原因"], own, f"其他: {SHOWN_NOTE}")
    for value in fields.values():
        assert_plain_shows(value, own)


def test_without_an_approval_flow_hr_reads_the_note_in_a_todo(tmp_path: Path, db_url: str) -> None:
    with emulated_tenant(tmp_path, db_url, policy={"approval_connector": ""}) as t:
        request(t, offered(t, HOSTILE_NAMES[2]))
        todo = next(todo for todo in t.dingtalk.todo_list() if "申请改期" in todo["subject"])
        own = own_links(t)
        assert_plain_shows(todo["subject"], own, SHOWN_NAMES[2])
        assert_plain_shows(todo["description"], own, f"候选人: {SHOWN_NAMES[2]}", f"原因: 其他: {SHOWN_NOTE}")
