"""`send_message` to candidates on WeChat: a template message (or subscription notification) per candidate.

`recipients` are the candidates' openids (the value of their `wechat` contact point: an account id, which the
reminder planner and remediation put in the payload, `core.reminders.routes`). Template mode posts
`message/template/send` with `client_msg_id` = the idempotency key (per recipient), WeChat's anti-duplicate key:
a retry or a second worker gets the first send's `msgid` back, never a second message. Subscribe mode posts
`subscribe/bizsend`, which takes no such key: a row an earlier worker may have sent (`maybe_sent`) is not sent
again but recorded as failed ("unconfirmed"), so the reminder falls back to another channel rather than costing
a second credit or reaching the candidate twice.

Accepted is `sent`, never delivered nor read: the `Notification`'s remote id is the `msgid` (a decimal string),
which the `TEMPLATESENDJOBFINISH` / `subscribe_msg_sent_event` callback names. Refusals final for the message
complete the row with a failed `Notification` and `DeliveryEvent` (the planner falls back): 43004 (not a follower:
also a `ContactChange`, the channel is unusable for the candidate until they follow), 43101 (no subscription
credit: switch channel, do not retry), 45009 (the account's daily quota).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from lifeline_hub.connectors.wecom.oa_client import DailyQuota, NoSubscription, NotFollowing
from lifeline_hub.connectors.wecom.oa_templates import template_data
from lifeline_hub.core.actions import SendMessage
from lifeline_hub.core.connector import ActionResult, describe_error
from lifeline_hub.core.http import InvalidRequest
from lifeline_hub.core.models import (
    Action,
    Audience,
    Channel,
    ContactChange,
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
    from lifeline_hub.connectors.wecom.oa_plugin import WeChatConnector

log = logging.getLogger("lifeline.wechat")
UNCONFIRMED = "unconfirmed: an earlier attempt may have been sent (bizsend takes no anti-duplicate key)"
FINAL = (NotFollowing, NoSubscription, DailyQuota)


def send_message(conn: WeChatConnector, action: Action) -> ActionResult:
    try:
        message = SendMessage.model_validate(action.payload)
    except ValidationError as exc:
        raise InvalidRequest(f"send_message payload: {describe_error(exc)}", vendor="wechat") from None
    if message.recipient_audience != Audience.candidate:
        raise InvalidRequest("wechat reaches candidates only (staff are on WeCom)", vendor="wechat")
    if message.purpose not in NotificationPurpose.__members__:
        raise InvalidRequest(f"send_message payload: unknown purpose {message.purpose!r}", vendor="wechat")
    purpose = NotificationPurpose(message.purpose)
    spec = conn.options.templates.get(purpose)
    if spec is None:
        raise InvalidRequest(f"no {conn.options.mode} template configured for purpose {purpose.value!r}",
                             vendor="wechat")
    openids = list(dict.fromkeys(message.recipients))
    interview_id = message.interview_id or action.interview_id
    records: list[Record] = []
    remote_ids: list[str] = []
    for n, openid in enumerate(openids):
        key = action.idempotency_key if n == 0 else f"{action.idempotency_key}-{n}"
        body = {"touser": openid, "template_id": spec.template_id, "data": template_data(spec, message)}
        if message.links:
            body["url" if conn.options.mode == "template" else "page"] = message.links[0].url
        now = utcnow()
        note = {"source": conn.instance.name, "interview_id": interview_id, "occurred_at": now, "purpose": purpose,
                "channel": Channel.wechat, "recipient": openid, "audience": Audience.candidate,
                "idempotency_key": action.idempotency_key}
        try:
            if conn.options.mode == "template":
                msgid: str | None = conn.client.send_template({**body, "client_msg_id": key})
            elif action.maybe_sent:
                log.warning("%s: subscription message %s may have gone out before; not sent again", conn.instance.name,
                            key)
                records += failed(conn, note, key, "unconfirmed", UNCONFIRMED)
                remote_ids.append(key)
                continue
            else:
                msgid = conn.client.send_subscribe(body)
        except FINAL as exc:
            log.info("%s: %s to %s refused for good: %s", conn.instance.name, key, openid, exc.code)
            records += failed(conn, note, key, str(exc.code), exc.message)
            if isinstance(exc, NotFollowing):
                records.append(ContactChange(
                    source=conn.instance.name, remote_id=f"{key}/unreachable", interview_id=interview_id,
                    occurred_at=now, channel=Channel.wechat, address=openid,
                    reachable=False, reason="43004 not following"))
            remote_ids.append(key)
            continue
        remote_id = msgid or key
        records.append(Notification(remote_id=remote_id, status=DeliveryStatus.sent, status_raw="accepted", **note))
        remote_ids.append(remote_id)
    return ActionResult(",".join(remote_ids), detail={"msgids": remote_ids}, records=tuple(records))


def failed(conn: WeChatConnector, note: Mapping[str, Any], key: str, code: str, reason: str) -> list[Record]:
    """A send that will never be delivered: its failed `Notification` (remote id: the key) and `DeliveryEvent`."""
    notification = Notification.model_validate({**note, "remote_id": key, "status": DeliveryStatus.failed,
                                                "status_raw": reason})
    event = DeliveryEvent(source=conn.instance.name, remote_id=f"{key}/failed", interview_id=notification.interview_id,
                          occurred_at=notification.occurred_at, notification_id=canonical_id(conn.instance.name, key),
                          type=DeliveryType.failed, channel=Channel.wechat, code=code, status_raw=reason)
    return [notification, event]

