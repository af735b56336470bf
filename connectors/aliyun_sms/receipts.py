"""The `receipts` stream: delivery state of Lifeline's SMS by polling QuerySendDetails.

Aliyun cannot list what an account sent, only what one number got on one Beijing date, so the
stream polls what it is handed: `send_sms` returns tracking entries in `ActionResult.handoff`
(the next sync merges them under the cursor key `sent`; `with_sent` does the same in tests).
Cursor: `{"pending": {OutId: {candidate_id, send_date, sent_at, interview_id}}}`; no phone number is
kept, the contact book is asked each pass.
Sends to the same number on the same date share one paged query. A send leaves `pending` once its
receipt is final (`SendStatus` 2/3), or after `receipt_window_hours` without one.

Watermark: the pass's start less `report_lag_seconds` when every group was polled (a receipt that
arrived before it is in the store); unchanged when a poll failed (the error is raised after the
checkpoint, so progress is kept).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lifeline_hub.connectors.aliyun_sms.records import detail_receipt, vendor_number
from lifeline_hub.core.connector import Checkpoint, Malformed, StreamItem
from lifeline_hub.core.http import VendorError
from lifeline_hub.core.models import Channel

if TYPE_CHECKING:
    from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector

log = logging.getLogger("lifeline.aliyun_sms")
FIELDS = ("candidate_id", "send_date", "sent_at", "interview_id", "biz_id")


def with_sent(cursor: Mapping[str, Any], entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`cursor` plus sends to track (as `send_sms` hands them over)."""
    return {**cursor, "sent": [*cursor.get("sent", []), *entries]}


def pending_sends(cursor: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The cursor's pending sends plus the new `sent` entries (incomplete ones are dropped with a warning)."""
    pending = {k: dict(v) for k, v in (cursor.get("pending") or {}).items()}
    for entry in cursor.get("sent") or []:
        out_id = entry.get("out_id") if isinstance(entry, Mapping) else None
        if not out_id or out_id in pending:
            continue
        try:
            datetime.fromisoformat(str(entry["sent_at"]))
            pending[str(out_id)] = {k: entry.get(k) for k in FIELDS} | {"candidate_id": str(entry["candidate_id"]),
                                                                       "send_date": str(entry["send_date"])}
        except (KeyError, ValueError):
            log.warning("receipts: tracking entry for %s is incomplete; not polled", out_id)
    return pending


def read_receipts(c: AliyunSmsConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    started = c.clock()
    pending = pending_sends(cursor)
    horizon = started - timedelta(hours=c.config.receipt_window_hours)
    for out_id in [k for k, v in pending.items() if datetime.fromisoformat(v["sent_at"]) < horizon]:
        log.info("%s: no receipt for SMS %s within the window; giving up", c.instance.name, out_id)
        del pending[out_id]
    groups: dict[tuple[str, str], list[str]] = {}
    for out_id, entry in sorted(pending.items()):
        groups.setdefault((entry["candidate_id"], entry["send_date"]), []).append(out_id)
    failure: VendorError | None = None
    for (candidate_id, date), out_ids in sorted(groups.items()):
        contact = c.contacts.contact(candidate_id, Channel.sms) if c.contacts is not None else None
        if contact is None:
            log.warning("%s: candidate %s has no SMS contact any more; %d sends untracked", c.instance.name,
                        candidate_id, len(out_ids))
            for out_id in out_ids:
                del pending[out_id]
            continue
        try:
            number = vendor_number(contact.value.get_secret_value())
            rows = {str(r.get("OutId")): r for r in c.client.send_details(number, date)}
        except VendorError as exc:
            failure = failure or exc  # keep polling the others; these stay pending
            continue
        for out_id in out_ids:
            row = rows.get(out_id)
            item = detail_receipt(c, out_id, row, pending[out_id].get("interview_id")) if row else None
            if item is not None:
                yield item
                if not isinstance(item, Malformed):  # a garbled row is polled again next pass
                    del pending[out_id]
    watermark = None if failure else started - timedelta(seconds=c.config.report_lag_seconds)
    yield Checkpoint({"pending": pending}, watermark)
    if failure is not None:
        raise failure
