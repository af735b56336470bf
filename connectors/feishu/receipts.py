"""Read receipts of the bot's messages: `read_users`, one message per call, only for the bot's own
messages no older than 7 days (reference §3.2).

The pending set lives in the stream cursor: `pending`: message id -> [recipient, sent_ms, due_ms,
polled_ms].
Messages enter it through the cursor's `inbox` (entries `{message_id, recipient, sent_ms}` that
`send_message` hands over in `ActionResult.handoff`, merged in by the next sync). A message is
**settled**, and never polled again, once its recipient has read it, once it has been polled in the
last `FINAL_MS` of the 7-day window (unread for good), or when the window closed before a poll
(then without a call; the API would refuse it). Unsettled messages are polled every run during
their first hour, then less often as they age (`age / 12`, at least every 30 min), with a last
poll just before the window closes. Polls run concurrently so the rate limiter is the bottleneck.

Watermark: reads are known up to the oldest last poll of any message still pending (settled
messages are complete), so a backed-off message holds the watermark at most 30 minutes back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lifeline_hub.connectors.feishu.common import millis, split_staff_id, staff_id
from lifeline_hub.core import Checkpoint, Malformed, StreamItem
from lifeline_hub.core.http import InvalidRequest, NotFound, VendorError
from lifeline_hub.core.models import Channel, DeliveryEvent, DeliveryType, canonical_id

if TYPE_CHECKING:
    from lifeline_hub.connectors.feishu.plugin import FeishuConnector

WINDOW_MS = 7 * 86_400_000
FINAL_MS = 10 * 60_000
EAGER_MS = 3_600_000
MAX_INTERVAL_MS = 30 * 60_000
CHECKPOINT_EVERY = 500
USER_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
GONE_CODES = frozenset({230033, 230012, 230001})
"""Beyond the 7-day window, not the bot's message, or no such message: nothing more to learn."""


def next_due(sent_ms: int, now_ms: int) -> int:
    """When an unread message is polled next."""
    age = now_ms - sent_ms
    interval = 0 if age < EAGER_MS else min(age // 12, MAX_INTERVAL_MS)
    return min(now_ms + interval, max(now_ms, sent_ms + WINDOW_MS - FINAL_MS))


def read_receipts(c: FeishuConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    """Poll the due pending messages; yield one `DeliveryEvent` (type read) per reader."""
    started = c.now_ms()
    pending: dict[str, list[Any]] = {k: list(v) for k, v in (cursor.get("pending") or {}).items()}
    for entry in cursor.get("inbox") or []:
        if isinstance(entry, Mapping) and entry.get("message_id") and entry["message_id"] not in pending:
            sent_ms = int(entry["sent_ms"])
            pending[str(entry["message_id"])] = [str(entry["recipient"]), sent_ms, 0, sent_ms]
    for message_id in [m for m, entry in pending.items() if started - entry[1] >= WINDOW_MS]:
        del pending[message_id]  # the window closed before we could look again
    due = sorted((m for m, entry in pending.items() if entry[2] <= started), key=lambda m: pending[m][2])
    failure: VendorError | None = None
    with ThreadPoolExecutor(c.config.receipt_workers, thread_name_prefix="feishu-receipts") as pool:
        futures: dict[Future[list[Any]], str] = {pool.submit(_readers, c, m, pending[m][0]): m for m in due}
        try:
            for done, future in enumerate(as_completed(futures), 1):
                message_id = futures[future]
                recipient, sent_ms = pending[message_id][:2]
                try:
                    readers = future.result()
                except (InvalidRequest, NotFound) as exc:
                    if exc.code not in GONE_CODES:
                        raise
                    del pending[message_id]
                    continue
                except VendorError as exc:
                    failure = failure or exc  # keep polling the others; this one stays pending
                    continue
                read_by: set[str] = set()
                garbled = False
                for raw in readers:
                    record, reader = _receipt(c, message_id, raw)
                    garbled = garbled or reader is None
                    if reader is not None:
                        read_by.add(reader)
                    yield record
                now = c.now_ms()
                if recipient in read_by or (not garbled and now - sent_ms >= WINDOW_MS - FINAL_MS):
                    del pending[message_id]
                elif garbled:
                    pending[message_id][2] = 0  # ask again next run; its reads are known only as before
                else:
                    pending[message_id][2:] = [next_due(sent_ms, now), started]
                if done % CHECKPOINT_EVERY == 0:
                    yield Checkpoint({"pending": dict(pending)})
        finally:
            pool.shutdown(cancel_futures=True)
    known = min([started, *(entry[3] for entry in pending.values())])
    yield Checkpoint({"pending": pending}, None if failure else datetime.fromtimestamp(known / 1000, UTC))
    if failure is not None:
        raise failure


def _readers(c: FeishuConnector, message_id: str, recipient: str) -> list[Any]:
    """Every reader of one message (all pages), asked in the recipient's ID type."""
    id_type, _ = split_staff_id(recipient, c.config.id_type)
    path = f"/open-apis/im/v1/messages/{message_id}/read_users"
    params = {"user_id_type": id_type, "page_size": 100}
    return [raw for page in c.client.pages(path, "im.message.read_users", params) for raw in page]


def read_event(
    c: FeishuConnector, payload: Any, message_id: str, reader: str, read_ms: object
) -> DeliveryEvent | Malformed:
    """The canonical read receipt (the same record from polling and from the message-read event)."""
    return c.parse(
        DeliveryEvent,
        payload,
        remote_id=f"{message_id}/read/{reader}",
        notification_id=canonical_id(c.instance.name, message_id),
        occurred_at=millis(read_ms),
        type=DeliveryType.read,
        channel=Channel.feishu,
    )


def _receipt(c: FeishuConnector, message_id: str, raw: Any) -> tuple[DeliveryEvent | Malformed, str | None]:
    """One read_users item as a record, and the reader when it is a valid one."""
    if not isinstance(raw, dict) or not USER_ID.match(str(raw.get("user_id", ""))):
        return Malformed("read_users item: user_id missing or garbled", raw, message_id), None
    reader = staff_id(str(raw.get("user_id_type") or c.config.id_type), raw["user_id"])
    try:
        return read_event(c, raw, message_id, reader, raw.get("timestamp")), reader
    except ValueError as exc:
        return Malformed(f"read_users item: {exc}", raw, message_id), None
