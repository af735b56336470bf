"""The `send_sms` action: one templated SMS per outbox row, at most once per idempotency key.

SendSms has no idempotency key (channels.md §1.1), so `OutId` carries ours and the send is looked
up before it is made again: whenever an earlier worker handed the row to the gateway
(`action.maybe_sent`: a retry, or a worker that died or lost its lease between the call and the
store update) and right after an ambiguous failure (timeout, 5xx, `isp.SYSTEM_ERROR`),
QuerySendDetails is searched for the `OutId` on every Beijing day since the row was first handed
over (`action.handed_at`; at most the 30 days the gateway keeps). A per-number
flow-control refusal or a bad number is final: the row completes with a failed `Notification` and
`DeliveryEvent` (the planner falls back to another channel), never a retry.

`ActionResult`: `records` (canonical records to store), `handoff` (entries for the `receipts`
stream's cursor key `sent`) and `detail["biz_id"]` when the send response gave one.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lifeline_hub.connectors.aliyun_sms.codes import Undeliverable
from lifeline_hub.connectors.aliyun_sms.records import BEIJING, detail_receipt, notification, send_date, vendor_number
from lifeline_hub.core.actions import SendSms
from lifeline_hub.core.connector import ActionResult, Malformed
from lifeline_hub.core.http import InvalidRequest, TransientError
from lifeline_hub.core.models import (
    Action,
    Channel,
    ContactPoint,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Record,
    canonical_id,
    parse_instant,
    zone_info,
)

if TYPE_CHECKING:
    from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector

log = logging.getLogger("lifeline.aliyun_sms")
MAX_LOOKBACK_DAYS = 30
"""QuerySendDetails answers for the last 30 days only."""


def perform(c: AliyunSmsConnector, action: Action) -> ActionResult:
    payload = SendSms.model_validate(action.payload)
    contact = resolve(c, payload.recipient)
    template = payload.template_code or c.config.templates.get(payload.purpose)
    if not template:
        raise InvalidRequest(f"no template for purpose {payload.purpose.value!r} and none in the payload",
                             vendor="aliyun_sms")
    number = vendor_number(contact.value.get_secret_value())
    out_id = action.idempotency_key
    now = c.clock()
    if action.maybe_sent:
        found = find_sent(c, number, out_id, now, action.handed_at)
        if found is not None:
            log.info("%s: SMS %s to %s was sent before; not sending again", c.instance.name, out_id, contact.masked)
            return accepted(c, payload, contact, out_id, now, None, found)
    try:
        body = c.client.send_sms(number, c.config.sign_name, template, payload.params, out_id)
    except Undeliverable as exc:
        log.info("%s: SMS %s to %s refused for good: %s", c.instance.name, out_id, contact.masked, exc.code)
        return refused(c, payload, contact, out_id, now, exc)
    except TransientError as exc:
        if not exc.sent:
            raise
        found = find_sent(c, number, out_id, now, action.handed_at)
        if found is None:
            raise
        log.info("%s: SMS %s to %s went out despite %s", c.instance.name, out_id, contact.masked,
                 exc.code or "a timeout")
        return accepted(c, payload, contact, out_id, now, None, found)
    log.info("%s: SMS %s accepted for %s (BizId %s)", c.instance.name, out_id, contact.masked, body.get("BizId"))
    return accepted(c, payload, contact, out_id, now, str(body.get("BizId") or "") or None, None)


def find_sent(c: AliyunSmsConnector, number: str, out_id: str, now: datetime,
              since: datetime | None = None) -> dict[str, Any] | None:
    """The `SmsSendDetailDTO` of an earlier send with this `OutId`, on the Beijing days from `since` (the row's
    first hand-over; else yesterday) to today, newest first (QuerySendDetails keeps 30 days)."""
    today = now.astimezone(zone_info(BEIJING)).date()
    oldest = min(since or now - timedelta(days=1), now).astimezone(zone_info(BEIJING)).date()
    for n in range(min((today - oldest).days + 1, MAX_LOOKBACK_DAYS)):
        date = (today - timedelta(days=n)).strftime("%Y%m%d")
        for row in c.client.send_details(number, date):
            if row.get("OutId") == out_id:
                return row
    return None


def accepted(c: AliyunSmsConnector, payload: SendSms, contact: ContactPoint, out_id: str, now: datetime,
             biz_id: str | None, found: dict[str, Any] | None) -> ActionResult:
    """The send went out (now, or earlier when `found` by look-up: then dated by its `SendDate`)."""
    if found is not None:
        with contextlib.suppress(ValueError):  # a garbled SendDate keeps the attempt's time
            now = parse_instant(str(found.get("SendDate")), BEIJING)
    records: list[Record] = [notification(c, out_id, payload.purpose, contact.masked, now, DeliveryStatus.sent, "OK",
                                          payload.interview_id)]
    event = detail_receipt(c, out_id, found, payload.interview_id) if found is not None else None
    if event is not None and not isinstance(event, Malformed):
        records.append(event)
    sent = [] if len(records) > 1 else [{
        "out_id": out_id, "candidate_id": payload.recipient, "send_date": send_date(now), "sent_at": now.isoformat(),
        "interview_id": payload.interview_id, "biz_id": biz_id,
    }]
    return ActionResult(remote_id=biz_id or out_id, detail={"biz_id": biz_id}, records=tuple(records),
                        handoff={"receipts": {"sent": sent}})


def refused(c: AliyunSmsConnector, payload: SendSms, contact: ContactPoint, out_id: str, now: datetime,
            exc: Undeliverable) -> ActionResult:
    code = str(exc.code)
    records: list[Record] = [notification(c, out_id, payload.purpose, contact.masked, now, DeliveryStatus.failed, code,
                                          payload.interview_id)]
    records.append(DeliveryEvent(source=c.instance.name, remote_id=f"{out_id}/failed",
                                 interview_id=payload.interview_id, occurred_at=now,
                                 notification_id=canonical_id(c.instance.name, out_id), type=DeliveryType.failed,
                                 channel=Channel.sms, code=code, status_raw="refused at submission"))
    return ActionResult(remote_id=out_id, detail={"error": str(exc)}, records=tuple(records))


def resolve(c: AliyunSmsConnector, candidate_id: str) -> ContactPoint:
    """The candidate's SMS contact point from the contact book (never from the payload)."""
    contact = c.contacts.contact(candidate_id, Channel.sms) if c.contacts is not None else None
    if contact is None:
        raise InvalidRequest(f"candidate {candidate_id} has no SMS contact point", vendor="aliyun_sms")
    return contact
