"""HR todos in the unified todo (ofs, weaver-oa.md §8) and staff notices in the message center (§7).

Todos: one ofs item per (syscode, flowid = the outbox key, receiver), pushed pending with `receivets` = the row's
first hand-over in milliseconds: the OA keeps the push with the larger `receivets`, so a repeat (a retry, a lost
answer) is the same item, never a second one, and never reopens a todo closed after it. The item is only a title
and links (`pcurl`/`appurl`); the HR text goes with it as a message-center notice (when `message_source_code` is
set) whose `targetId` is `<code>|<flowid>`. `close_task` moves the notice to handled (1) or deleted (27), then marks
the todo handled (`ProcessDoneRequestByJson`, isremark 2) or removes it (`deleteRequestInfoByJson`).

Notices: `sendCustomMessageSingle` with `targetId` `<code>|<outbox key>` and `bizState 0`. The push has no
idempotency and no receipt (§7.1, §10): when an earlier attempt may have sent it (`maybe_sent`), the notice under
that `targetId` is deleted first, so the person's message list holds one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from lifeline_hub.connectors.weaver.client import VENDOR
from lifeline_hub.connectors.weaver.workflow import SERVER_ZONE, payload
from lifeline_hub.core.actions import CloseTask, CreateTask, Link, SendMessage
from lifeline_hub.core.connector import ActionResult
from lifeline_hub.core.http import InvalidRequest, NotFound
from lifeline_hub.core.markup import with_links
from lifeline_hub.core.models import (
    Action,
    Audience,
    Channel,
    ChannelInfo,
    DeliveryStatus,
    Notification,
    NotificationPurpose,
    to_epoch_millis,
    utcnow,
)

if TYPE_CHECKING:
    from lifeline_hub.connectors.weaver.plugin import WeaverConnector

WEAVER = ChannelInfo("weaver", "Weaver e-cology", "account", delivery_known=False, read_known=False,
                     click_known=True, labels=(("zh-CN", "泛微OA"),))
"""Staff inside the OA (message center, unified todo): a push is "added to the cache", nothing more (§7.1)."""
TITLE, CONTEXT = 200, 2000  # characters Lifeline sends of a title and a body
HANDLED, DELETED = "1", "27"  # message bizState (§7.2)


def _stamp(at: datetime) -> str:
    return at.astimezone(SERVER_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def _item(conn: WeaverConnector, syscode: str, flowid: str, title: str, links: tuple[Link, ...], user: str,
          created: datetime, now: datetime, pending: bool) -> dict[str, str]:
    """One receiver's ofs item (§8.2). `receivets` is when the outbox row was first handed over (`now`): a retry of
    a row repeats its instant, so a late retry of the create never overrides the later close (§8.2: the larger
    `receivets` wins)."""
    url = links[0].url if links else conn.options.todo_url
    if not url:  # the OA opens the todo at pcurl/appurl: one without a link is refused
        raise InvalidRequest(f"{conn.instance.name}: this todo carries no link; set `todo_url` for such todos",
                             vendor=VENDOR)
    return {"syscode": syscode, "flowid": flowid, "requestname": title[:TITLE],
            "workflowname": conn.options.ofs_workflow_name, "nodename": "HR", "pcurl": url, "appurl": url,
            "creator": conn.options.ofs_creator, "createdatetime": _stamp(created), "receiver": user,
            "receivedatetime": _stamp(now), "receivets": str(to_epoch_millis(now)),
            "isremark": "0" if pending else "2", "viewtype": "0" if pending else "1"}


def _recipients(conn: WeaverConnector, users: Iterable[str]) -> dict[str, str]:
    return {conn.options.recipient_id_type: ",".join(dict.fromkeys(users))}


def _message_code(conn: WeaverConnector) -> str:
    code = conn.options.message_source_code
    if not code:
        raise InvalidRequest(f"{conn.instance.name}: set `message_source_code` (the 消息来源 code) to send messages",
                             vendor=VENDOR)
    return code


def _links(links: tuple[Link, ...]) -> dict[str, str]:
    return {"linkUrl": links[0].url, "linkMobileUrl": links[0].url} if links else {}


def _push(conn: WeaverConnector, target: str, users: tuple[str, ...], title: str, text: str,
          links: tuple[Link, ...], again: bool) -> None:
    code = _message_code(conn)
    fields = {"code": code, **_recipients(conn, users), "targetId": f"{code}|{target}"}
    if again:  # an earlier attempt may have sent it: withdraw that one (if any) so one stays
        with contextlib.suppress(NotFound):
            conn.client.message("deleteCustomMessageSingle", fields)
    conn.client.message("sendCustomMessageSingle", {
        **fields, "title": title[:TITLE], "context": with_links(text, links)[:CONTEXT], "bizState": "0",
        **_links(links)})


def send_message(conn: WeaverConnector, action: Action) -> ActionResult:
    message = payload(SendMessage, action)
    if message.purpose not in NotificationPurpose.__members__:
        raise InvalidRequest(f"send_message payload: unknown purpose {message.purpose!r}", vendor=VENDOR)
    _push(conn, action.idempotency_key, message.recipients, message.title, message.text, message.links,
          again=action.maybe_sent)
    sent_at = utcnow()
    notes = tuple(Notification(
        source=conn.instance.name, remote_id=f"message:{action.idempotency_key}:{user}",
        interview_id=message.interview_id or action.interview_id, occurred_at=sent_at, purpose=message.purpose,
        channel=Channel(WEAVER.name), recipient=user, audience=message.recipient_audience,
        status=DeliveryStatus.sent, status_raw="accepted", idempotency_key=action.idempotency_key,
    ) for user in dict.fromkeys(message.recipients))
    return ActionResult(f"{_message_code(conn)}|{action.idempotency_key}", records=notes)


def _syscode(conn: WeaverConnector) -> str:
    syscode = conn.options.ofs_syscode
    if not syscode:
        raise InvalidRequest(f"{conn.instance.name}: set `ofs_syscode` (the unified todo's 异构系统) to create "
                             "tasks", vendor=VENDOR)
    return syscode


def create_task(conn: WeaverConnector, action: Action) -> ActionResult:
    """A pending ofs todo per assignee (flowid = the outbox key) and, with a message source, the HR text."""
    task = payload(CreateTask, action)
    syscode, flowid, now = _syscode(conn), action.idempotency_key, utcnow()
    first = action.handed_at or now
    items = [_item(conn, syscode, flowid, task.title, task.links, user, first, first, pending=True)
             for user in dict.fromkeys(task.assignees)]
    if conn.options.message_source_code:  # first: an app refused (token, permission) leaves no todo behind
        _push(conn, flowid, task.assignees, task.title, task.description, task.links, again=action.maybe_sent)
    for item in items:
        conn.client.ofs("ReceiveTodoRequestByJson", item)
    notes = tuple(Notification(
        source=conn.instance.name, remote_id=f"todo:{flowid}:{user}", interview_id=task.interview_id or
        action.interview_id, occurred_at=now, purpose=NotificationPurpose.hr_task, channel=Channel(WEAVER.name),
        recipient=user, audience=Audience.staff, status=DeliveryStatus.sent, status_raw="pending",
        idempotency_key=action.idempotency_key,
    ) for user in dict.fromkeys(task.assignees))
    return ActionResult(flowid, {"syscode": syscode}, records=notes)


def close_task(conn: WeaverConnector, action: Action) -> ActionResult:
    """The case closed: the notice moved to handled (or deleted), then each assignee's todo handled (or the whole
    item deleted)."""
    close = payload(CloseTask, action)
    syscode, first = _syscode(conn), action.handed_at or utcnow()
    code = conn.options.message_source_code
    if code:
        with contextlib.suppress(NotFound):  # NotFound: the task went out without its notice
            conn.client.message("alterCustomMessageSingle", {
                "code": code, **_recipients(conn, close.assignees), "targetId": f"{code}|{close.task_id}",
                "bizState": DELETED if close.state == "removed" else HANDLED})
    if close.state == "removed":
        conn.client.ofs("deleteRequestInfoByJson", {"syscode": syscode, "flowid": close.task_id})
    else:
        for user in dict.fromkeys(close.assignees):
            conn.client.ofs("ProcessDoneRequestByJson", _item(conn, syscode, close.task_id, close.title, close.links,
                                                              user, first, first, pending=False))
    return ActionResult(close.task_id, {"state": close.state})
