"""WeCom app callbacks (wecom-wechat.md §5): URL verification, encrypted events, dispatch to records.

Every request carries `msg_signature`, `timestamp` and `nonce` in its query. With an `echostr` (WeCom's URL
check, a GET) the answer is its plaintext and nothing else happens. Otherwise (an event, POSTed as XML
`<Encrypt>`, or JSON `encrypt`) the checks run in order: signature over the ciphertext, decryption and receive
id (the corp id), freshness (|received - timestamp| <= `callback_max_skew_seconds`, ASCII digits only), the
event's `ToUserName`. Any failure is `CallbackRejected` (401, nothing stored); an authentic event that is not
readable XML with fields is `CallbackMalformed` (400). The answer is an empty 200, which WeCom takes as received.

`event_id` hashes the decrypted event, so a redelivery (new timestamp, nonce, random prefix and signature;
the same event) carries the same id and the receiver stores it once; two events of one member in the same
second (the doc's FromUserName + CreateTime key) stay apart.

Dispatch: `template_card_event` -> `staff.card_event`, `change_external_contact` of `CONTACT_CHANGES` ->
`contact.contact_event`. Any other event gives no records: it is kept (`CallbackResult.kept`: quarantined,
redacted, under stream `callbacks`, for `lifeline quarantine`) and its kind logged, never its content.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from lifeline_hub.connectors.wecom import contact, staff
from lifeline_hub.connectors.wecom.crypto import XmlValue, parse_xml, timestamp_seconds
from lifeline_hub.core.connector import CallbackRejected, CallbackRequest, CallbackResult, Malformed
from lifeline_hub.core.models import Record
from lifeline_hub.core.receiver.untrusted import CallbackMalformed

if TYPE_CHECKING:
    from lifeline_hub.connectors.wecom.plugin import WeComConnector

log = logging.getLogger("lifeline.wecom")

CONTACT_CHANGES = frozenset({"add_external_contact", "del_follow_user", "del_external_contact"})
"""`change_external_contact` kinds that tell whether a candidate can be reached."""


def handle(conn: WeComConnector, request: CallbackRequest) -> CallbackResult:
    box = conn.callback_crypto()
    query = request.query
    msg_signature, timestamp, nonce = (query.get(k, "") for k in ("msg_signature", "timestamp", "nonce"))
    if not (msg_signature and timestamp and nonce):
        raise CallbackRejected("missing msg_signature, timestamp or nonce")
    echostr = query.get("echostr")
    if echostr is not None:
        answer = box.verify_url(msg_signature, timestamp, nonce, echostr)
        _check_fresh(conn, request, timestamp)
        return CallbackResult(reply=answer)
    plaintext = box.decrypt_message(request.body, msg_signature, timestamp, nonce)
    _check_fresh(conn, request, timestamp)
    try:
        event = parse_xml(plaintext)
    except ValueError:
        raise CallbackMalformed("event is not readable XML") from None
    if not event:
        raise CallbackMalformed("event has no fields")
    to = event.get("ToUserName")
    if isinstance(to, str) and to and to != conn.options.corp_id:
        raise CallbackRejected("ToUserName: event for another corp")
    event_id = "wecom:" + hashlib.sha256(
        json.dumps(event, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()[:40]
    records = _records(conn, event)
    kept = () if records is not None else (_unhandled(conn, event, event_id),)
    return CallbackResult(reply="", event_id=event_id, records=records or (), kept=kept)


def _check_fresh(conn: WeComConnector, request: CallbackRequest, timestamp: str) -> None:
    skew = request.received_at.timestamp() - timestamp_seconds(timestamp)
    if abs(skew) > conn.options.callback_max_skew_seconds:
        raise CallbackRejected(f"timestamp: {'stale' if skew > 0 else 'future'} by {abs(skew):.0f} s")


def _text(event: Mapping[str, XmlValue], tag: str) -> str:
    value = event.get(tag)
    return value if isinstance(value, str) else ""


def _records(conn: WeComConnector, event: Mapping[str, XmlValue]) -> tuple[Record, ...] | None:
    """Records from the event alone, by its kind; None for a kind no code here handles."""
    kind = _text(event, "Event") if _text(event, "MsgType") == "event" else ""
    if kind == "template_card_event":
        return staff.card_event(conn, event)
    if kind == "change_external_contact" and _text(event, "ChangeType") in CONTACT_CHANGES:
        return contact.contact_event(conn, event)
    return None


def _unhandled(conn: WeComConnector, event: Mapping[str, XmlValue], event_id: str) -> Malformed:
    """An authentic event of a kind Lifeline does not handle: acknowledged, logged by kind only, and kept
    (quarantined, redacted) for people to inspect."""
    kinds = tuple(_text(event, tag)[:64] for tag in ("MsgType", "Event", "ChangeType"))
    log.info("%s: callback %s not handled (MsgType %r, Event %r, ChangeType %r): acknowledged, kept for inspection",
             conn.instance.name, event_id, *kinds)
    return Malformed("unhandled event: " + "/".join(k for k in kinds if k), dict(event), event_id)
