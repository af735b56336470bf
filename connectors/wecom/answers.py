"""The interviewer's question as a WeCom `button_interaction` card, answered through `template_card_event`.

A message whose links all carry a signed callback value (`core.remediation.links.answer_token`: the four answers
to "Did <candidate> attend?", signed for one interviewer) is sent as a button card (doc 90236: at most 6 buttons,
`key` up to 1024 bytes, comes back as the click's `EventKey`), one button per answer with key `ask:<token>`.
A click is the answer of the member who clicked (`FromUserName`; WeCom userids compare case-insensitively): an
`AttendanceReport` under the instance that asked, and the card's buttons turn into "已回答" for that member. A
key that is not a live token of this instance is logged and stores nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifeline_hub.core.actions import SendMessage
from lifeline_hub.core.models import AttendanceReport
from lifeline_hub.core.remediation.answers import report_of
from lifeline_hub.core.remediation.links import read_answer

if TYPE_CHECKING:
    from lifeline_hub.connectors.wecom.plugin import WeComConnector

log = logging.getLogger("lifeline.wecom")
PREFIX = "ask:"
ANSWERED = "已回答"
MAX_BUTTONS = 6


def is_question(message: SendMessage) -> bool:
    return bool(message.links) and len(message.links) <= MAX_BUTTONS and all(link.callback for link in message.links)


def question_card(message: SendMessage, card_task_id: str) -> dict[str, Any]:
    """The button card: title, the question's text, one button per answer (the first highlighted)."""
    return {"card_type": "button_interaction", "task_id": card_task_id, "main_title": {"title": message.title},
            "sub_title_text": message.text,
            "button_list": [{"text": link.label, "style": 1 if i == 0 else 2, "key": f"{PREFIX}{link.callback}"}
                            for i, link in enumerate(message.links)]}


def answer(conn: WeComConnector, key: str, clicker: str, at: datetime) -> AttendanceReport | None:
    """The answer behind a clicked button's `key` from member `clicker`, or None (logged) when it is not ours."""
    link = read_answer(key.removeprefix(PREFIX), at)
    if link is None or link.via != conn.instance.name or not clicker:
        log.warning("wecom question card click with a key that is not a live answer of %s: ignored",
                    conn.instance.name)
        return None
    who = link.interviewer if clicker.lower() == link.interviewer.lower() else clicker
    return report_of(link, who, at)


def is_answer(event: Mapping[str, Any]) -> bool:
    return str(event.get("EventKey") or "").startswith(PREFIX)
