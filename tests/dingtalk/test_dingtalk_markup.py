"""DingTalk's other HR channels render candidate text as text: robot 1:1 `sampleMarkdown` (Lifeline's links as
markdown links, nothing else) and the urgent DING (plain content), through the real pipeline and emulator."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from lifeline_hub.core.models import InterviewKind, OutcomeClass, utcnow
from lifeline_hub.core.outbox import dispatch, rows
from lifeline_hub.core.remediation import remediate
from lifeline_hub.core.remediation.testing import TENANT, emulated_tenant
from tests.markup_helpers import HOSTILE_NAMES, SHOWN_NAMES, assert_markdown_shows, assert_plain_shows

NOW = utcnow().replace(microsecond=0)
PLATFORM = "meet<at id=all></at>[go](https://evil.example/i)"
"""An ATS's platform name, quoted by the incident DING."""


def test_robot_markdown_and_the_urgent_ding_show_candidate_text_as_text(tmp_path: Path, db_url: str) -> None:
    with emulated_tenant(tmp_path, db_url, settings={"dt": {"message_channel": "robot"}}) as t:
        for i in range(4):  # technical misses clustering on one platform: an FYI each and one incident DING
            name = HOSTILE_NAMES[i % len(HOSTILE_NAMES)]
            t.candidate(f"c{i}", name)
            interview = t.interview(f"iv{i}", NOW - timedelta(hours=3 - i * 0.2), minutes=72 * 60,
                                    kind=InterviewKind.ai_async, candidate=f"c{i}", platform=PLATFORM)
            t.decide(interview.id, OutcomeClass.missed_technical, NOW)
        remediate(t.store, TENANT, NOW, t.config, t.host)
        assert dispatch(t.store, t.config, TENANT, now=NOW).dead == 0
        own = {link["url"] for r in rows(t.store, TENANT) for link in r.action.payload.get("links", ())}

        robots = t.dingtalk.push_messages("robot")
        assert len(robots) == 4 and {r["content"]["msgKey"] for r in robots} == {"sampleMarkdown"}
        for robot in robots:
            param = robot["content"]["msgParam"]
            name = next(n for n in SHOWN_NAMES if n in param["title"])
            assert_plain_shows(param["title"], own, name)
            shown = assert_markdown_shows(param["text"], own, f"候选人：{name}", title=param["title"])
            assert "重新发送链接" in shown  # Lifeline's own next step, a link to its own page

        (ding,) = t.dingtalk.push_messages("ding")
        assert_plain_shows(ding["content"]["content"], own, "meet<at id=all></at>[go](https[:]//evil[.]example/i)")
