"""Canonical records of the SMS connector and the vendor formats they come from.

A send is one `Notification` whose remote id is its `OutId` (the idempotency key): the receipt
push and QuerySendDetails both echo it, while `BizId` is unknown when a send is found again by
look-up. A receipt is one `DeliveryEvent` per send and final state (`<OutId>/delivered|failed`), so
the push and the poll of the same receipt land on the same row.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifeline_hub.core.connector import Malformed
from lifeline_hub.core.models import (
    Channel,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Notification,
    NotificationPurpose,
    canonical_id,
    parse_instant,
    zone_info,
)

if TYPE_CHECKING:
    from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector

BEIJING = "Asia/Shanghai"
"""Aliyun writes report and query times as Beijing wall time without an offset."""


def vendor_number(e164: str) -> str:
    """The number as SendSms/QuerySendDetails take it: mainland 11 digits, else country code + number."""
    digits = e164.removeprefix("+")
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def send_date(at: datetime) -> str:
    """QuerySendDetails `SendDate` (Beijing date, `yyyyMMdd`) of an instant."""
    return at.astimezone(zone_info(BEIJING)).strftime("%Y%m%d")


def notification(c: AliyunSmsConnector, out_id: str, purpose: NotificationPurpose, recipient: str,
                 at: datetime, status: DeliveryStatus, status_raw: str, interview_id: str | None) -> Notification:
    return Notification(source=c.instance.name, remote_id=out_id, interview_id=interview_id, occurred_at=at,
                        purpose=purpose, channel=Channel.sms, recipient=recipient, status=status,
                        status_raw=status_raw, idempotency_key=out_id)


def receipt(c: AliyunSmsConnector, payload: Any, out_id: str, delivered: bool, code: str | None, at: str | datetime,
            status_raw: str, interview_id: str | None = None) -> DeliveryEvent | Malformed:
    """A `DeliveryEvent` for a send's final state; `at` may be Beijing wall time text."""
    kind = DeliveryType.delivered if delivered else DeliveryType.failed
    try:
        occurred = at if isinstance(at, datetime) else parse_instant(str(at), BEIJING)
    except ValueError as exc:
        return Malformed(f"receipt time: {exc}", payload, f"{out_id}/{kind.value}")
    return c.parse(DeliveryEvent, payload, remote_id=f"{out_id}/{kind.value}", interview_id=interview_id,
                   occurred_at=occurred, notification_id=canonical_id(c.instance.name, out_id), type=kind,
                   channel=Channel.sms, code=code or None, status_raw=status_raw)


def detail_receipt(c: AliyunSmsConnector, out_id: str, row: dict[str, Any],
                   interview_id: str | None = None) -> DeliveryEvent | Malformed | None:
    """The receipt in a `SmsSendDetailDTO`: None while waiting (`SendStatus` 1)."""
    safe = {k: v for k, v in row.items() if k not in ("PhoneNum", "Content")}
    status = str(row.get("SendStatus"))
    if status == "1":
        return None
    if status not in ("2", "3"):
        return Malformed(f"SendStatus {status!r} is not 1, 2 or 3", safe, out_id)
    when = row.get("ReceiveDate") or row.get("SendDate")
    if not when:
        return Malformed("ReceiveDate and SendDate missing", safe, out_id)
    return receipt(c, safe, out_id, status == "3", row.get("ErrCode"), str(when), f"SendStatus={status}",
                   interview_id)
