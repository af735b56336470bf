"""The interviewer's question as card buttons answered through Feishu's card action callback.

A link that carries a signed `callback` value (`core.remediation.links.answer_token`: the answer, the
interview and its version, the interviewer it was signed for) becomes a button whose `value` is
`{"lifeline_answer": <token>}` instead of a URL; a click makes Feishu POST a `card.action.trigger`
callback (event schema 2.0, signed and encrypted like every event, `event.operator` the clicking user,
`event.action.value` the button's value; official SDK `lark_oapi/event/callback/model/p2_card_action_trigger.py`)
to the instance's callback URL, which answers within 3 s with a toast. The answer is stored under the
operator, not the signed subject: a forwarded card answered by someone else is kept under their id and
counts only if they are one of the interview's interviewers (reconciliation decides). A forged or expired
token answers an error toast and stores nothing. With `card_callbacks` off, the buttons open the signed
Lifeline page instead, which records the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifeline_hub.connectors.feishu.common import staff_id
from lifeline_hub.core.actions import Link
from lifeline_hub.core.models import AttendanceReport
from lifeline_hub.core.remediation.answers import report_of
from lifeline_hub.core.remediation.links import read_answer

if TYPE_CHECKING:
    from lifeline_hub.connectors.feishu.plugin import FeishuConnector

EVENT = "card.action.trigger"
VALUE_KEY = "lifeline_answer"
TOASTS = {
    "recorded": ("success", "已记录您的回答，谢谢！", "Your answer is recorded. Thank you!"),
    "forwarded": ("info", "已记录；此卡片原本发给其他面试官，您的回答仅在您是该面试的面试官时计入。",
                  "Recorded; this card was sent to another interviewer: your answer counts only if you are an "
                  "interviewer of this interview."),
    "invalid": ("error", "此按钮已失效，请联系 HR。", "This button no longer works; please contact HR."),
}


def button(link: Link, primary: bool, callbacks: bool) -> dict[str, Any]:
    """A card button: a callback button for a signed answer (when the app takes card callbacks), else a link."""
    found: dict[str, Any] = {"tag": "button", "text": {"tag": "plain_text", "content": link.label},
                             "type": "primary" if primary else "default"}
    if callbacks and link.callback:
        return found | {"value": {VALUE_KEY: link.callback}}
    return found | {"url": link.url}


def toast(kind: str) -> dict[str, Any]:
    level, zh, en = TOASTS[kind]
    return {"toast": {"type": level, "content": zh, "i18n": {"zh_cn": zh, "en_us": en}}}


def answer(c: FeishuConnector, event: Mapping[str, Any],
           at: datetime) -> tuple[AttendanceReport | None, dict[str, Any]]:
    """The answer a `card.action.trigger` event carries (None when its token is not one of ours or has expired)
    and the reply that tells the clicking user what happened."""
    value = (event.get("action") or {}).get("value")
    token = value.get(VALUE_KEY) if isinstance(value, Mapping) else None
    operator = event.get("operator") or {}
    own = operator.get(c.config.id_type)
    who = staff_id(c.config.id_type, str(own)) if own else None
    if who is None and operator.get("open_id"):
        who = staff_id("open_id", str(operator["open_id"]))  # union_id instances: the callback names no union_id
    link = read_answer(token, at) if isinstance(token, str) else None
    if link is None or who is None or link.via != c.instance.name:
        return None, toast("invalid")
    return report_of(link, who, at), toast("recorded" if who == link.interviewer else "forwarded")
