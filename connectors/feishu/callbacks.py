"""Event callbacks (reference §9): verify, decrypt, check freshness, answer fast, parse into records.

Order: `X-Lark-Signature` over timestamp + nonce + Encrypt Key + raw body, before anything is
parsed → decrypt (`{"encrypt": …}`, AES-256-CBC, key = SHA-256 of the Encrypt Key) → only a
url_verification may come unsigned (by design), and it is answered with its challenge → verification
token → the request timestamp (ASCII digits) must be within `callback_max_age_seconds` of receipt
(older or future-dated requests are replays) → the event must be for this app. An app without an
Encrypt Key gets plain, unsigned bodies: only the verification token vouches for them, and a request
timestamp, when sent, is still checked. `event_id` (schema
2.0 `header.event_id`, v1 `uuid`) is returned for the receiver's dedupe, so a replayed event is
stored once. Parsing makes no vendor call, so the answer is well inside the 3-second budget; events
that only say "something changed" (calendar) are left to the polled streams. A card action
(`card.action.trigger`, a click on the interviewer's question) is answered with a toast (`answers`).
An event over the long connection (`request.transport == "stream"`, `longconn`) is the same envelope in
plaintext over the app's own authenticated connection: no signature, encryption, token or request
timestamp to check; it takes the same path after them, so its `event_id` dedupes against HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from lifeline_hub.connectors.feishu import answers
from lifeline_hub.connectors.feishu.common import millis, staff_id
from lifeline_hub.connectors.feishu.crypto import challenge_answer, event_id, request_timestamp
from lifeline_hub.connectors.feishu.receipts import read_event
from lifeline_hub.connectors.feishu.streams import approval_record, task_state
from lifeline_hub.core import CallbackRejected, CallbackRequest, CallbackResult, Malformed
from lifeline_hub.core.models import Record
from lifeline_hub.core.receiver.untrusted import CallbackMalformed, load_json

if TYPE_CHECKING:
    from lifeline_hub.connectors.feishu.plugin import FeishuConnector

log = logging.getLogger("lifeline.connectors.feishu")
TASK_STATES = {5: "done", 6: "todo", 7: "deleted"}
"""task.task.updated_v1 `obj_type`s that change a task's state (others are edits)."""


def handle(c: FeishuConnector, request: CallbackRequest) -> CallbackResult:
    if request.transport == "stream":
        envelope = stream_envelope(request.body)
    else:
        envelope = _http_envelope(c, request)
        answer = challenge_answer(envelope)
        if answer is not None:
            return CallbackResult(reply=answer)
    header, event = _section(envelope, "header"), _section(envelope, "event")
    app = header.get("app_id") or event.get("app_id")
    if app is not None and app != c.app_id:
        raise CallbackRejected("event for another app")
    dedupe = event_id(envelope)
    if dedupe is None:
        raise CallbackRejected("event without event_id/uuid")
    kind = next((k for k in (header.get("event_type"), event.get("type")) if isinstance(k, str) and k), "")
    if kind == answers.EVENT:  # a click on the interviewer's question: the reply is the toast the user sees
        report, reply = answers.answer(c, event, request.received_at)
        return CallbackResult(reply=reply, event_id=dedupe, records=(report,) if report else ())
    records: list[Record] = []
    for item in parse(c, kind, header, event):
        if isinstance(item, Malformed):
            log.warning("feishu %s event %s: skipped a malformed record: %s", kind, dedupe, item.reason)
        else:
            records.append(item)
    return CallbackResult(reply={"msg": "success"}, event_id=dedupe, records=tuple(records))


def stream_envelope(body: bytes) -> dict[str, Any]:
    try:
        envelope = load_json(body)
    except ValueError:
        raise CallbackMalformed("event payload is not JSON") from None
    if not isinstance(envelope, dict):
        raise CallbackMalformed("event payload is not a JSON object")
    return envelope


def _http_envelope(c: FeishuConnector, request: CallbackRequest) -> dict[str, Any]:
    """The verified, decrypted envelope of an HTTP callback, checked for freshness (a challenge as is)."""
    crypto = c.event_crypto()
    envelope = crypto.open(request.headers, request.body)
    if challenge_answer(envelope) is not None:
        return envelope
    sent = request_timestamp(request.headers)
    if sent is None and crypto.encrypt_key is not None:
        raise CallbackRejected("missing X-Lark-Request-Timestamp")
    skew = request.received_at.timestamp() - sent if sent is not None else 0.0
    if abs(skew) > c.config.callback_max_age_seconds:
        raise CallbackRejected(f"stale or future-dated callback ({skew:+.0f} s)")
    return envelope


def parse(
    c: FeishuConnector, kind: str, header: Mapping[str, Any], event: Mapping[str, Any]
) -> Iterator[Record | Malformed]:
    """The records an event carries (none for kinds the polled streams cover)."""
    try:
        if kind == "im.message.message_read_v1":
            reader = event["reader"]
            who = staff_id(c.config.id_type, str(reader["reader_id"][c.config.id_type]))
            for message_id in event["message_id_list"]:
                yield read_event(c, event, str(message_id), who, reader["read_time"])
        elif kind == "task.task.updated_v1" and event.get("obj_type") in TASK_STATES:
            state = TASK_STATES[event["obj_type"]]
            changed = millis(header["create_time"])
            completed = int(header["create_time"]) if state == "done" else 0
            yield task_state(c, event, str(event["task_id"]), completed, changed, state)
        elif kind == "approval_instance" and str(event.get("uuid") or "").startswith("ll-"):
            changed = millis(event.get("operate_time") or event["instance_operate_time"])
            yield approval_record(c, event, str(event["instance_code"]), str(event["status"]), changed)
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:  # the last two: impossible times
        yield Malformed(f"{kind}: {type(exc).__name__}: {exc}", dict(event))


def _section(envelope: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = envelope.get(name)
    return value if isinstance(value, Mapping) else {}
