"""The SmsReport HTTP batch push (channels.md §1.6), served at `/callbacks/<instance>`.

Aliyun does not sign receipt pushes. What can be checked is checked: a shared `push_token`
(connection extra, required) that must come back as the `token` query parameter of the URL
configured in the console (`https://<hub>/callbacks/<instance>?token=<push_token>`), the body shape
(a JSON array of report objects) and freshness: reports whose `report_time` (Beijing time) is older
than `push_max_age_minutes` or more than 5 minutes ahead of arrival are dropped, and a push with no
fresh report is refused (a captured push cannot be replayed later; Aliyun re-pushes after 1, 5 and
10 minutes, and anything missed is reconciled by polling). The event id is a hash of the body, so a
re-pushed batch is stored once; overlapping batches collapse onto the same `DeliveryEvent` rows.
Reports without an `OutId` (sends not made by Lifeline) are skipped, and so are reports whose fields
are not of the documented types or whose time cannot be read. With the right token, a body that is
not such an array is `CallbackMalformed` (400). The reply is HTTP 200 `{"code": 0, "msg": "接收成功"}`.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from lifeline_hub.connectors.aliyun_sms.records import receipt
from lifeline_hub.core.connector import CallbackRejected, CallbackRequest, CallbackResult
from lifeline_hub.core.models import DeliveryEvent
from lifeline_hub.core.receiver.untrusted import CallbackMalformed, load_json, same_digest

if TYPE_CHECKING:
    from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector

log = logging.getLogger("lifeline.aliyun_sms")
REPLY = {"code": 0, "msg": "接收成功"}
FUTURE_SKEW = timedelta(minutes=5)


def handle(c: AliyunSmsConnector, request: CallbackRequest) -> CallbackResult:
    token = c.credentials.get("push_token") if c.credentials is not None else None
    if not token:
        raise CallbackRejected("connection lacks push_token: receipt pushes are not configured")
    if not same_digest(str(token), request.query.get("token", "")):
        raise CallbackRejected("push token missing or wrong")
    try:
        reports = load_json(request.body)
    except ValueError:
        raise CallbackMalformed("body is not JSON") from None
    if not isinstance(reports, list) or not all(isinstance(r, dict) for r in reports):
        raise CallbackMalformed("an SmsReport push is a JSON array of objects")
    records: list[DeliveryEvent] = []
    skipped = stale = 0
    oldest = request.received_at - timedelta(minutes=c.config.push_max_age_minutes)
    for report in reports:
        out_id, success, code = report.get("out_id"), report.get("success"), report.get("err_code")
        at = report.get("report_time") or report.get("send_time")
        if not (out_id and isinstance(out_id, str) and isinstance(success, bool) and isinstance(at, str)
                and isinstance(code, str | None)):
            skipped += 1
            continue
        safe = {k: v for k, v in report.items() if k != "phone_number"}
        event = _receipt(c, safe, out_id, success, code, at)
        if not isinstance(event, DeliveryEvent):
            skipped += 1
        elif not oldest <= event.occurred_at <= request.received_at + FUTURE_SKEW:
            stale += 1
        else:
            records.append(event)
    if stale and not records:
        raise CallbackRejected(f"all {stale} reports are stale or from the future")
    if skipped or stale:
        log.warning("%s: of %d pushed reports %d skipped (no OutId or malformed), %d stale", c.instance.name,
                    len(reports), skipped, stale)
    event_id = "SmsReport:" + hashlib.sha256(request.body).hexdigest()[:40]
    return CallbackResult(reply=REPLY, event_id=event_id, records=tuple(records))


def _receipt(c: AliyunSmsConnector, report: dict[str, Any], out_id: str, success: bool, code: str | None,
             at: str) -> DeliveryEvent | None:
    try:
        event = receipt(c, report, out_id, success, code, at, f"success={success}")
    except OverflowError:  # a wall time near year 1 or 9999 has no UTC instant
        return None
    return event if isinstance(event, DeliveryEvent) else None
