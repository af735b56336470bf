"""HTTP event subscription callbacks (reference §10a): verify, decrypt, turn into records, reply.

Checks, in order: signature (sha1 over sorted token/timestamp/nonce/encrypt: the signed `encrypt`
travels inside the JSON body, so that body is parsed first, by a reader that refuses rather than
raises), decryption and owner key (AppKey, or corpId for the legacy API), freshness
(|received - timestamp| <= skew; the timestamp ASCII digits only), corpId of the event. An event
that is authentic but not a JSON object is `CallbackMalformed` (400). The reply is the encrypted
"success". `event_id` hashes the decrypted event, so a redelivery (new timestamp, nonce and
signature; same event) carries the same id and the receiver drops it. Stream mode events
(`request.transport == "stream"`, §10b) skip the crypto and take the same path after it, so an event
has one id whichever way it came. Events of types Lifeline does not read are kept (quarantined raw).

Records come from the event alone (no network call on the request path: DingTalk waits 1.5 s) and
equal what the `tasks` stream gives: an approval event of a process in `approval_process_codes`
gives its `RescheduleRequest` state, a todo completion (sourceId set: Lifeline's) its `done` event.
Other events Lifeline reads give none; events of other types are kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lifeline_hub.connectors.dingtalk import crypto
from lifeline_hub.connectors.dingtalk.crypto import DingTalkCrypto
from lifeline_hub.connectors.dingtalk.records import approval_event_request, todo_done
from lifeline_hub.core.connector import CallbackRejected, CallbackRequest, CallbackResult, Malformed
from lifeline_hub.core.models import Record
from lifeline_hub.core.receiver.untrusted import CallbackMalformed, load_json

if TYPE_CHECKING:
    from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector

log = logging.getLogger("lifeline.connectors.dingtalk")

KNOWN_EVENTS = frozenset({"bpms_instance_change", "bpms_task_change", "todo_task_change"})
"""Event types Lifeline reads (records from some); others are kept in quarantine as they came."""


def _first(query: Mapping[str, str], *names: str) -> str:
    return next((query[n] for n in names if query.get(n)), "")


def handle(conn: DingTalkConnector, request: CallbackRequest) -> CallbackResult:
    if request.transport == "stream":
        event, reply = stream_event(conn, request), None
    else:
        box = conn.callback_crypto()
        event, reply = _http_event(conn, box, request), box.reply_success()
    corp = event.get("corpId") or event.get("CorpId")
    if corp is not None and corp != conn.options.corp_id:
        raise CallbackRejected("corpId: event for another org")
    kind = str(event.get("EventType") or "")
    event_id = None if kind.startswith("check_") else "dingtalk:" + hashlib.sha256(
        json.dumps(event, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:40]
    kept = () if kind in KNOWN_EVENTS or kind.startswith("check_") else (
        Malformed(f"event type {kind or '(none)'!r} is not handled", event),)
    return CallbackResult(reply=reply, event_id=event_id, records=_records(conn, kind, event), kept=kept)


def stream_event(conn: DingTalkConnector, request: CallbackRequest) -> dict[str, Any]:
    """A Stream mode EVENT or CALLBACK (reference §10b): its `data` (JSON) with the `eventType` header as
    `EventType` (`callback:<topic>` for a CALLBACK), so it reads, and dedupes, as the HTTP plaintext does.
    The frame came over the app's own authenticated connection: nothing to decrypt."""
    headers = request.headers
    corp = headers.get("eventcorpid")
    if corp and corp != conn.options.corp_id:
        raise CallbackRejected("eventCorpId: event for another org")
    try:
        event = load_json(request.body)
    except ValueError:
        raise CallbackMalformed("event data is not JSON") from None
    if not isinstance(event, dict):
        raise CallbackMalformed("event data is not a JSON object")
    kind = headers.get("eventtype") or (f"callback:{headers['topic']}" if headers.get("topic") else "")
    return {"EventType": kind, **event} if kind and "EventType" not in event else event


def _http_event(conn: DingTalkConnector, box: DingTalkCrypto, request: CallbackRequest) -> dict[str, Any]:
    query = request.query
    signature, timestamp = _first(query, "msg_signature", "signature"), _first(query, "timestamp", "timeStamp")
    nonce = _first(query, "nonce")
    try:
        body = load_json(request.body)
    except ValueError:
        raise CallbackRejected("body is not JSON") from None
    encrypt = body.get("encrypt") if isinstance(body, dict) else None
    if not (isinstance(encrypt, str) and signature and timestamp and nonce):
        raise CallbackRejected("missing encrypt, msg_signature, timestamp or nonce")
    try:
        plaintext = box.decrypt(encrypt, signature, timestamp, nonce)
        sent = crypto.timestamp_seconds(timestamp)
    except crypto.CallbackRejected as exc:
        raise CallbackRejected(f"{exc.reason} ({exc.code})") from None
    skew = abs(request.received_at.timestamp() - sent)
    if skew > conn.options.callback_max_skew_seconds:
        raise CallbackRejected(f"timestamp: stale by {skew:.0f} s")
    try:
        event = load_json(plaintext)
    except ValueError:
        raise CallbackMalformed("event is not JSON") from None
    if not isinstance(event, dict):
        raise CallbackMalformed("event is not a JSON object")
    return event


def _records(conn: DingTalkConnector, kind: str, event: Mapping[str, Any]) -> tuple[Record, ...]:
    """Records from the event alone (no network call on the request path)."""
    found: Record | Malformed | None = None
    if kind == "bpms_instance_change" and event.get("processCode") in conn.options.approval_process_codes:
        found = approval_event_request(conn, event)
    elif kind == "todo_task_change" and event.get("sourceId") and event.get("done") is True:
        found = todo_done(conn, event, str(event.get("taskId") or ""), "modifiedTime")
    if isinstance(found, Malformed):
        log.warning("dingtalk %s callback not in the documented shape: %s", kind, found.reason)
    return (found,) if isinstance(found, Record) else ()
