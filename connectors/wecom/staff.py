"""WeCom app messages to staff (HR, interviewers, by userid): messages, task cards, card clicks, recall.

What WeCom tells us (wecom-wechat.md §4): an accepted send and the userids it could not reach
(`invaliduser`, `unlicenseduser`, read on every answer), nothing about delivery or reads. Each recipient gets a
`Notification` (audience staff, channel `wecom`, keyed by outbox row and member): sent, or failed with a failed
`DeliveryEvent` for those WeCom refused. Clicks on Lifeline's links in a message (HR's next steps) are
observed by Lifeline itself.

A task is a `button_interaction` template card (`task_id` from the idempotency key); an assignee's click comes
back as a `template_card_event` (callbacks.py -> `card_event`), which completes the task with the records
DingTalk gives a completed todo, and turns the clicked card's buttons into a label (`update_template_card`).
The interviewer's question "Did <candidate> attend?" is a button card too, its clicks answers (`answers`).

Idempotency: every send sets `enable_duplicate_check` with the instance's `duplicate_check_interval` (the
content is deterministic per outbox row), so a retried send within the window reaches nobody twice.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from lifeline_hub.connectors.wecom import answers
from lifeline_hub.connectors.wecom.client import NobodyToSend
from lifeline_hub.core.actions import CreateTask, SendMessage
from lifeline_hub.core.connector import ActionResult, describe_error
from lifeline_hub.core.http import InvalidRequest, VendorError
from lifeline_hub.core.models import (
    Action,
    Audience,
    Channel,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Notification,
    NotificationPurpose,
    Record,
    canonical_id,
    utcnow,
)

if TYPE_CHECKING:
    from lifeline_hub.connectors.wecom.plugin import WeComConnector

P = TypeVar("P", bound=BaseModel)
log = logging.getLogger("lifeline.wecom")
SEND = "message/send"
UPDATE_CARD = "message/update_template_card"
RECALL = "message/recall"
MAX_USERS = 1000
"""`touser` takes at most 1000 userids (doc 90236): larger audiences go in several sends."""
LIMITS = {"text.content": 2048, "textcard.title": 128, "textcard.description": 512}
"""Byte limits of message/send fields (doc 90236)."""
MAX_JUMPS = 3
"""Links after the first that a text_notice card lists (`jump_list`); the first opens from the card itself."""
TASK_ID = re.compile(r"^[0-9a-zA-Z_\-@]{1,128}$")
BUTTONS = (("done", "已完成", 1), ("cannot", "无法完成", 2))
"""Task card buttons: key (comes back in the click), text, style."""
ANSWERED = {"done": "已完成", "cannot": "已反馈"}
"""What a clicked task card's buttons turn into (`button.replace_name`)."""


def payload(model: type[P], action: Action) -> P:
    try:
        return model.model_validate(action.payload)
    except ValidationError as exc:
        raise InvalidRequest(f"{action.kind} payload: {describe_error(exc)}", vendor="wecom") from None


def fits(text: str, field: str) -> str:
    """`text` when it is within WeCom's byte limit for `field`; else the payload must change (never cut)."""
    size, limit = len(text.encode()), LIMITS[field]
    if not text.strip():
        raise InvalidRequest(f"{field} is empty (WeCom answers 44004)", vendor="wecom")
    if size > limit:
        raise InvalidRequest(f"{field} is {size} bytes; WeCom takes at most {limit}", vendor="wecom")
    return text


def userids(value: Any) -> list[str]:
    """`invaliduser`-style lists, lower-cased: `"a|b"` as documented, `[]` in some error bodies (§4.1)."""
    if isinstance(value, str):
        parts: Sequence[Any] = value.split("|")
    elif isinstance(value, list):
        parts = value
    else:
        parts = ()
    return [str(part).strip().lower() for part in parts if str(part).strip()]


def refused_by(body: Mapping[str, Any]) -> dict[str, str]:
    """member (lower-case) -> why WeCom did not deliver to them, from a send answer."""
    refused = dict.fromkeys(userids(body.get("invaliduser")), "invaliduser")
    refused.update(dict.fromkeys(userids(body.get("unlicenseduser")), "unlicenseduser"))
    return refused


def _batches(values: Sequence[str], size: int) -> list[list[str]]:
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


def _envelope(conn: WeComConnector, members: Sequence[str]) -> dict[str, Any]:
    return {"touser": "|".join(members), "agentid": conn.options.agent_id, "enable_duplicate_check": 1,
            "duplicate_check_interval": conn.options.duplicate_check_interval}


# ---------------------------------------------------------------- messages


def message_body(conn: WeComConnector, message: SendMessage, key: str) -> dict[str, Any]:
    """The type-specific part of a send: the interviewer's question as a button card (`answers`), a text_notice
    card (first link opens it, the next ones listed), a textcard opening the first link, or text with the links
    inline (also whenever there is no link)."""
    if answers.is_question(message):
        return {"msgtype": "template_card", "template_card": answers.question_card(message, task_id(key))}
    kind = conn.options.message_type if message.links else "text"
    if kind == "template_card":
        if len(message.links) > 1 + MAX_JUMPS:
            raise InvalidRequest(f"{len(message.links)} links; a WeCom card carries at most {1 + MAX_JUMPS}",
                                 vendor="wecom")
        card: dict[str, Any] = {
            "card_type": "text_notice", "main_title": {"title": message.title}, "sub_title_text": message.text,
            "card_action": {"type": 1, "url": message.links[0].url}}
        if len(message.links) > 1:
            card["jump_list"] = [{"type": 1, "title": link.label, "url": link.url} for link in message.links[1:]]
        return {"msgtype": "template_card", "template_card": card}
    if kind == "textcard":
        first, more = message.links[0], message.links[1:]
        description = message.text + "".join(f"\n{link.label}: {link.url}" for link in more)
        return {"msgtype": "textcard", "textcard": {
            "title": fits(message.title, "textcard.title"), "description": fits(description, "textcard.description"),
            "url": first.url, "btntxt": "详情"}}
    links = "".join(f'\n<a href="{link.url}">{link.label}</a>' for link in message.links)
    return {"msgtype": "text", "text": {"content": fits(f"{message.title}\n{message.text}{links}", "text.content")}}


def send_message(conn: WeComConnector, action: Action) -> ActionResult:
    """One send per 1000 members, each member paced first (WeCom drops what exceeds its limits silently)."""
    message = payload(SendMessage, action)
    if message.purpose not in NotificationPurpose.__members__:
        raise InvalidRequest(f"send_message payload: unknown purpose {message.purpose!r}", vendor="wecom")
    members = list(dict.fromkeys(message.recipients))
    body = message_body(conn, message, action.idempotency_key)  # refused before anything is sent
    msgids: list[str] = []
    refused: dict[str, str] = {}
    for batch in _batches(members, MAX_USERS):
        conn.client.members.reserve(batch)
        try:
            answer = conn.client.call(SEND, json={**_envelope(conn, batch), **body}, idempotent=True)
        except NobodyToSend:
            refused.update(dict.fromkeys((m.lower() for m in batch), "81013"))
            continue
        refused.update(refused_by(answer))
        if answer.get("msgid"):
            msgids.append(str(answer["msgid"]))
    records = _notes(conn, action, message, members, refused)
    detail = {"msgids": msgids, "refused": sorted(refused)}
    return ActionResult(",".join(msgids) or action.idempotency_key, detail, tuple(records))


def _notes(conn: WeComConnector, action: Action, message: SendMessage, members: Sequence[str],
           refused: Mapping[str, str]) -> list[Record]:
    """A `Notification` per member (failed for those WeCom refused, with a failed `DeliveryEvent`)."""
    now, source = utcnow(), conn.instance.name
    interview = message.interview_id or action.interview_id
    out: list[Record] = []
    for member in members:
        code = refused.get(member.lower())
        remote_id = f"{action.idempotency_key}/{member}"
        out.append(Notification(
            source=source, remote_id=remote_id, interview_id=interview, occurred_at=now, purpose=message.purpose,
            channel=Channel("wecom"), recipient=member, audience=message.recipient_audience,
            status=DeliveryStatus.failed if code else DeliveryStatus.sent, status_raw=code or "ok",
            idempotency_key=action.idempotency_key))
        if code:
            out.append(DeliveryEvent(
                source=source, remote_id=f"{remote_id}/failed", interview_id=interview, occurred_at=now,
                notification_id=canonical_id(source, remote_id), type=DeliveryType.failed, channel=Channel("wecom"),
                code=code, status_raw=code))
    return out


# ---------------------------------------------------------------- tasks


def task_id(idempotency_key: str) -> str:
    """The card's `task_id` (≤ 128 bytes of `[0-9a-zA-Z_-@]`, unique per app): the key itself when it fits,
    else a digest of it (the same key always gives the same id)."""
    if TASK_ID.match(idempotency_key):
        return idempotency_key
    return "lifeline-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:48]


def task_card(task: CreateTask, card_task_id: str) -> dict[str, Any]:
    """A `button_interaction` card: title, description, links (the first opens the card, the next listed)."""
    if len(task.links) > 1 + MAX_JUMPS:
        raise InvalidRequest(f"{len(task.links)} links; a WeCom card carries at most {1 + MAX_JUMPS}", vendor="wecom")
    card: dict[str, Any] = {
        "card_type": "button_interaction", "task_id": card_task_id, "main_title": {"title": task.title},
        "sub_title_text": task.description,
        "button_list": [{"text": text, "style": style, "key": key} for key, text, style in BUTTONS]}
    if task.due_at is not None:
        card["horizontal_content_list"] = [{"keyname": "截止 Due", "value": task.due_at.strftime("%Y-%m-%d %H:%M UTC")}]
    if task.links:
        card["card_action"] = {"type": 1, "url": task.links[0].url}
    if len(task.links) > 1:
        card["jump_list"] = [{"type": 1, "title": link.label, "url": link.url} for link in task.links[1:]]
    return card


def create_task(conn: WeComConnector, action: Action) -> ActionResult:
    """The task card to the assignees; its `Notification` (remote id `task:<task_id>`, recipient the members
    it reached) is what a click completes."""
    task = payload(CreateTask, action)
    card_id = task_id(action.idempotency_key)
    members = list(dict.fromkeys(task.assignees))
    if len(members) > MAX_USERS:
        raise InvalidRequest(f"{len(members)} assignees; a WeCom card goes to at most {MAX_USERS}", vendor="wecom")
    body = {**_envelope(conn, members), "msgtype": "template_card", "template_card": task_card(task, card_id)}
    conn.client.members.reserve(members)
    try:
        answer = conn.client.call(SEND, json=body, idempotent=True)
    except NobodyToSend:
        answer, refused = {}, dict.fromkeys((m.lower() for m in members), "81013")
    else:
        refused = refused_by(answer)
    reached = [m for m in members if m.lower() not in refused]
    if refused:
        log.warning("wecom task %s did not reach %d assignee(s): %s", card_id, len(refused), sorted(refused))
    note_id = f"task:{card_id}"
    now, source = utcnow(), conn.instance.name
    interview = task.interview_id or action.interview_id
    note = Notification(
        source=source, remote_id=note_id, interview_id=interview, occurred_at=now,
        purpose=NotificationPurpose.hr_task, channel=Channel("wecom"), recipient=",".join(reached or members),
        audience=Audience.staff, status=DeliveryStatus.sent if reached else DeliveryStatus.failed,
        status_raw="ok" if reached else "81013", idempotency_key=action.idempotency_key)
    records: list[Record] = [note]
    if not reached:
        records.append(DeliveryEvent(
            source=source, remote_id=f"{note_id}:failed", interview_id=interview, occurred_at=now,
            notification_id=note.id, type=DeliveryType.failed, channel=Channel("wecom"), code="81013",
            status_raw="81013"))
    detail = {"task_id": card_id, "msgid": answer.get("msgid"), "refused": sorted(refused)}
    return ActionResult(card_id, detail, tuple(records))


def card_event(conn: WeComConnector, event: Mapping[str, Any]) -> tuple[Record, ...]:
    """A `template_card_event` (an assignee clicked a task card button): a `read` event on the task's
    notification with code `done` (or `cannot`), like a completed DingTalk todo (no interview id: it is HR's
    answer, never a candidate's read). The clicked card then shows the answer instead of its buttons; a failed
    update is logged, the record is kept either way."""
    card_id, key = str(event.get("TaskId") or ""), str(event.get("EventKey") or "")
    clicker = str(event.get("FromUserName") or "")
    if TASK_ID.match(card_id) and answers.is_answer(event):  # the interviewer's question
        report = answers.answer(conn, key, clicker, _event_time(event))
        if report is not None:
            _close(conn, card_id, event.get("ResponseCode"), clicker, answers.ANSWERED)
        return (report,) if report else ()
    if not TASK_ID.match(card_id) or key not in ANSWERED:
        log.warning("wecom template_card_event without a Lifeline task id or button key (task %r, key %r): kept raw",
                    card_id[:128], key[:64])
        return ()
    note = f"task:{card_id}"
    record = DeliveryEvent(
        source=conn.instance.name, remote_id=f"{note}:{key}", occurred_at=_event_time(event),
        notification_id=canonical_id(conn.instance.name, note), type=DeliveryType.read, channel=Channel("wecom"),
        code=key, status_raw=f"{key} by {clicker}" if clicker else key)
    _close(conn, card_id, event.get("ResponseCode"), clicker, ANSWERED[key])
    return (record,)


def _close(conn: WeComConnector, card_id: str, code: object, clicker: str, label: str) -> None:
    """Turn the clicked card's buttons into `label` for the member who clicked (logged when it fails)."""
    if isinstance(code, str) and code and clicker:
        try:
            conn.client.call(UPDATE_CARD, json={"userids": [clicker], "agentid": conn.options.agent_id,
                                                "response_code": code, "button": {"replace_name": label}})
        except VendorError as exc:
            log.warning("wecom card %s: the clicked card was not updated (%s); the answer is recorded", card_id, exc)


def _event_time(event: Mapping[str, Any]) -> datetime:
    raw = event.get("CreateTime")
    try:
        return datetime.fromtimestamp(int(str(raw)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return utcnow()


# ---------------------------------------------------------------- recall


def recall(conn: WeComConnector, msgid: str) -> None:
    """`message/recall`: withdraw a message the app sent in the last 24 h (not for WeChat plug-in users, so
    a cancelled interview also needs a notice)."""
    conn.client.call(RECALL, json={"msgid": msgid})
