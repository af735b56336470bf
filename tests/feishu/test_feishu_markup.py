"""HR on Feishu reads candidate text as text, through the real pipeline and the Feishu emulator: hostile names
from the ATS in cards (`lark_md`, `<at id=all>` included) and tasks, a phishing note from the `/r/` page in the
approval form; Lifeline's own links are the buttons, the task's origin and the lines under its description."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from lifeline_hub.core.models import InterviewKind, OutcomeClass, utcnow
from lifeline_hub.core.outbox import dispatch, rows
from lifeline_hub.core.receiver.app import create_app
from lifeline_hub.core.remediation import remediate
from lifeline_hub.core.remediation.testing import TENANT, emulated_tenant
from tests.markup_helpers import (
    HOSTILE_NAMES,
    PHISHING_NOTE,
    SHOWN_NAMES,
    SHOWN_NOTE,
    assert_markdown_shows,
    assert_plain_shows,
)

NOW = utcnow().replace(microsecond=0)
HR, CODE = "user_id:hrfs1", "LL-RESCHEDULE"
POLICY = {"hr_connector": "fs", "hr_assignees": [HR], "hr_recipients": [HR], "approval_connector": "fs",
          "approval_process_code": CODE, "approval_originator": HR, "approval_approvers": []}


def test_hostile_names_and_a_phishing_note_reach_feishu_as_text(tmp_path: Path, db_url: str) -> None:
    with emulated_tenant(tmp_path, db_url, policy=POLICY) as t:
        t.feishu.add_user("HR 王", user_id="hrfs1")
        t.feishu.add_approval_definition(CODE, "面试改期")
        decision, fyi, ask = HOSTILE_NAMES
        t.candidate("c1", decision)
        first = t.interview("iv1", NOW - timedelta(hours=3), candidate="c1")
        t.decide(first.id, OutcomeClass.missed_read_no_show, NOW)
        t.candidate("c2", fyi)
        second = t.interview("iv2", NOW - timedelta(hours=20), minutes=72 * 60, kind=InterviewKind.ai_async,
                             candidate="c2")
        t.decide(second.id, OutcomeClass.missed_technical, NOW)
        t.candidate("c3", ask)
        third = t.interview("iv3", NOW - timedelta(hours=3), candidate="c3")
        t.decide(third.id, OutcomeClass.unknown, NOW)
        assert not remediate(t.store, TENANT, NOW, t.config, t.host).as_dict()["problems"]
        assert dispatch(t.store, t.config, TENANT, now=NOW).dead == 0

        (sms,) = [m for m in t.sms.message_list() if "/r/" in m["content"]]  # 张三's offer to pick a new time
        page = "/r/" + sms["content"].rsplit("/r/", 1)[1].split("选择")[0]
        web = TestClient(create_app(t.config, t.store, t.host, clock=utcnow))
        slot = re.search(r'name="slot" value="([^"]+)"', web.get(page).text)[1]  # type: ignore[index]
        answer = web.post(page, data={"reason": "other", "slot": slot, "propose": "", "note": PHISHING_NOTE})
        assert answer.status_code == 200
        assert dispatch(t.store, t.config, TENANT).dead == 0
        own = {link["url"] for r in rows(t.store, TENANT) for link in r.action.payload.get("links", ())}

        (task,) = t.feishu.tasks.values()  # HR's decision about 张三: plain summary and description
        assert task.fields["origin"]["href"]["url"] in own
        assert_plain_shows(task.summary, own, SHOWN_NAMES[0])
        assert_plain_shows(task.fields["description"], own, f"候选人：{SHOWN_NAMES[0]}")
        assert sum(url in task.fields["description"] for url in own) == 2  # both next steps, under the text

        cards = [json.loads(m.content) for m in t.feishu.messages.values() if m.msg_type == "interactive"]
        assert len(cards) == 2  # the FYI about 李四 and the question about 王五
        for card in cards:
            title = card["header"]["title"]["content"]
            name = next(n for n in SHOWN_NAMES[1:] if n in title)
            assert card["header"]["title"]["tag"] == "plain_text"
            assert_plain_shows(title, own, name)
            text = card["elements"][0]["text"]
            assert text["tag"] == "lark_md"
            assert_markdown_shows(text["content"], own, f"候选人：{name}")
            buttons = card["elements"][1]["actions"]
            assert buttons and all(b["url"] in own for b in buttons)

        (approval,) = t.feishu.approvals.values()
        fields = {f["id"]: f["value"] for f in json.loads(approval.form)}
        assert_plain_shows(fields["候选人"], own, SHOWN_NAMES[0])
        assert_plain_shows(fields["原因"], own, f"其他: {SHOWN_NOTE}")
        for value in fields.values():
            assert_plain_shows(value, own)
