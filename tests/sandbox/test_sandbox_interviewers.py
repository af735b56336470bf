"""The sandbox's interviewers answer Lifeline's attendance question on the Feishu card the way a person would: they
press the button that says what they saw (true to the sandbox's truth), mostly soon, some the next day, some never."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from lifeline_hub.connectors.feishu.emulator_state import FeishuWorld
from lifeline_hub.connectors.feishu.sandbox import FeishuActor
from lifeline_hub.core.config import load
from lifeline_hub.core.models.time import freeze_clock, reset_clock
from lifeline_hub.core.plugins import get_host
from lifeline_hub.core.remediation.texts import T
from lifeline_hub.core.sandbox import Booking, Intent, Kind, Sandbox, Traits
from tests.conftest import ROOT

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TRAITS = Traits(phone_ok=True, email_ok=True, scanner=False, sms_read=1.0, email_read=1.0, intent=Intent.attend,
                late=False, device_trouble=False, wants_second_chance=False)
ANSWERS = ("attended", "attended_late", "no_show", "technical")
LABELS = {T["zh-CN"][f"answer.{a}"]: a for a in ANSWERS}


@pytest.fixture
def frozen() -> Iterator[datetime]:
    try:
        yield freeze_clock(START)
    finally:
        reset_clock()


def _card(world: FeishuWorld, to: str, name: str) -> str:
    """Lifeline's question to `to` about `name`, one callback button per answer (as the Feishu connector sends it)."""
    chat = world.add_chat("p2p", [to])
    message = world.messages[world.add_bot_message(chat, "")]
    buttons = [{"tag": "button", "text": {"tag": "plain_text", "content": label},
                "value": {"lifeline_answer": f"signed-{answer}-{name}"}} for label, answer in LABELS.items()]
    message.msg_type, message.content = "interactive", json.dumps({
        "header": {"title": {"tag": "plain_text", "content": T["zh-CN"]["ask.title"].replace("{name!u}", name)}},
        "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": "…"}},
                     {"tag": "action", "actions": buttons}]}, ensure_ascii=False)
    return message.message_id


def test_interviewers_answer_what_they_saw_some_late_some_never(frozen: datetime) -> None:
    world = FeishuWorld()
    intents = [Intent.attend, Intent.no_show, Intent.attend] * 10
    bookings = [Booking(f"req-{i:04d}", f"候选人{i}", f"138000000{i:02d}", f"c{i}@example.com", Kind.live, START,
                        START + timedelta(hours=1), START + timedelta(hours=1, minutes=45),
                        dataclasses.replace(TRAITS, intent=intent, late=i % 3 == 2))
                for i, intent in enumerate(intents)]
    sandbox = Sandbox(load(ROOT / "plugins.toml", get_host()), "sandbox", {"feishu": world}, "http://127.0.0.1:9",
                      bookings, 2)
    sandbox.setup()
    sandbox.advance_to(START + timedelta(hours=2))
    sandbox.settle(START + timedelta(hours=2))
    actor = next(a for a in sandbox.actors if isinstance(a, FeishuActor))
    asked = {_card(world, actor.panel[b.ref], b.name): b for b in bookings}
    sent = world.now()
    sandbox.observe()
    sandbox.advance_to(START + timedelta(days=3))
    clicks = [e.envelope["event"] for e in world.callbacks if e.event_type == "card.action.trigger"]
    said = {c["context"]["open_message_id"]: (c["action"]["value"]["lifeline_answer"], c["operator"]["open_id"])
            for c in clicks}
    expected = {"attended": "attended", "attended_late": "attended_late", "missed_not_reached": "no_show"}
    for message_id, (value, who) in said.items():
        b = asked[message_id]
        assert value == f"signed-{expected[b.truth]}-{b.name}" and who == actor.panel[b.ref]
    assert {b.truth for b in bookings} == set(expected)
    answered_at = [int(e.envelope["header"]["create_time"]) / 1000 for e in world.callbacks
                   if e.event_type == "card.action.trigger"]
    assert 0.6 * len(asked) <= len(said) < len(asked)  # most answer, some never
    assert min(answered_at) - sent < 3600 and max(answered_at) - sent > 12 * 3600  # most soon, some the next day
