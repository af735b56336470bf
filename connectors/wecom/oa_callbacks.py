"""Official Account callbacks (wecom-wechat.md §9.2, §9.3, §9.5): verify, decrypt, turn into records, reply.

URL check (GET with `echostr`): `signature` = sha1 of the sorted [token, timestamp, nonce]; `echostr` goes back as
received. Events (POST) are accepted in safe mode only (`encrypt_type=aes`: a plaintext-mode body is unsigned
content anyone could forge): `msg_signature` over [token, timestamp, nonce, Encrypt] (and `signature` when sent),
freshness (|received - timestamp| <= `callback_max_skew_seconds`), AES with receive id = AppID, `ToUserName` =
`original_id` when set. The reply is `success`.

Records, from the event alone:
- `TEMPLATESENDJOBFINISH`: a `DeliveryEvent` for the send whose msgid is `MsgID` (a string: it exceeds 2^53),
  delivered on `success`, failed on any `failed...` Status (kept raw: `failed: system failed` has its space);
  `failed:user block` also makes the candidate's wechat channel unusable (`ContactChange`).
- `subscribe_msg_sent_event`: a `DeliveryEvent` per `List` item (`ErrorCode` 0 delivered, else failed).
- `unsubscribe` / `subscribe`: a `ContactChange` (unusable / usable again) for the openid; a follow through a
  parametric QR code whose scene is a canonical candidate id (`EventKey` `qrscene_<id>`) names that candidate.
Anything else is acknowledged, logged and gives none. The event id is `MsgID` based for the result events and
`FromUserName` + `CreateTime` otherwise (the documented dedupe keys), so WeChat's retries are stored once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifeline_hub.connectors.wecom.crypto import XmlValue, parse_xml, timestamp_seconds
from lifeline_hub.core.connector import CallbackRejected, CallbackRequest, CallbackResult
from lifeline_hub.core.models import (
    Channel,
    ContactChange,
    DeliveryEvent,
    DeliveryType,
    Record,
    canonical_id,
    from_epoch_seconds,
)
from lifeline_hub.core.receiver.untrusted import CallbackMalformed, ascii_digits

if TYPE_CHECKING:
    from lifeline_hub.connectors.wecom.oa_plugin import WeChatConnector

log = logging.getLogger("lifeline.wechat")
REPLY = "success"
BLOCKED = "failed:user block"


def handle(conn: WeChatConnector, request: CallbackRequest) -> CallbackResult:
    box = conn.callback_crypto()
    query = request.query
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    sent = timestamp_seconds(timestamp)  # CryptoRejected (a CallbackRejected) like every check below
    if "echostr" in query and not request.body:  # the URL check: nothing to store
        box.check_signature(query.get("signature", ""), timestamp, nonce)
        fresh(conn, request, sent)
        return CallbackResult(reply=query["echostr"])
    if query.get("encrypt_type") != "aes":
        raise CallbackRejected("only safe mode (encrypt_type=aes) is accepted: set the account's message "
                               "encryption to safe mode")
    if "signature" in query:
        box.check_signature(query["signature"], timestamp, nonce)
    plaintext = box.decrypt_message(request.body, query.get("msg_signature", ""), timestamp, nonce)
    fresh(conn, request, sent)
    try:
        event = parse_xml(plaintext)
    except ValueError:
        raise CallbackMalformed("the decrypted event is not readable XML") from None
    owner = conn.options.original_id
    if owner and event.get("ToUserName") != owner:
        raise CallbackRejected("ToUserName: event for another account")
    return CallbackResult(reply=REPLY, event_id=event_id(event), records=records(conn, event))


def fresh(conn: WeChatConnector, request: CallbackRequest, sent: int) -> None:
    skew = abs(request.received_at.timestamp() - sent)
    if skew > conn.options.callback_max_skew_seconds:
        raise CallbackRejected(f"timestamp: off by {skew:.0f} s")


def text(event: Mapping[str, XmlValue], key: str) -> str:
    value = event.get(key)
    return value.strip() if isinstance(value, str) else ""


def event_id(event: Mapping[str, XmlValue]) -> str:
    """The dedupe id: `MsgID` (`MsgId` of messages) when there is one, else `FromUserName` + `CreateTime`."""
    kind = text(event, "Event") or text(event, "MsgType")
    msgid = text(event, "MsgID") or text(event, "MsgId")
    if msgid:
        return f"wechat:{kind}:{msgid}"
    return f"wechat:{kind}:{text(event, 'FromUserName')}:{text(event, 'CreateTime')}"


def records(conn: WeChatConnector, event: Mapping[str, XmlValue]) -> tuple[Record, ...]:
    kind = text(event, "Event")
    seconds = ascii_digits(text(event, "CreateTime"), max_digits=10)
    openid = text(event, "FromUserName")
    if text(event, "MsgType") != "event" or seconds is None or not openid:
        log.info("%s: callback %s kept without records (not an event, or no CreateTime/FromUserName)",
                 conn.instance.name, kind or text(event, "MsgType") or "-")
        return ()
    at = from_epoch_seconds(seconds)
    if kind == "TEMPLATESENDJOBFINISH":
        return template_result(conn, event, openid, at)
    if kind == "subscribe_msg_sent_event":
        return subscribe_results(conn, event, at)
    if kind in ("unsubscribe", "subscribe"):
        return (reachability(conn, openid, at, kind == "subscribe", kind, _scene(event)),)
    log.info("%s: %s event acknowledged; no records", conn.instance.name, kind or "unnamed")
    return ()


def template_result(conn: WeChatConnector, event: Mapping[str, XmlValue], openid: str,
                    at: datetime) -> tuple[Record, ...]:
    msgid, status = text(event, "MsgID"), text(event, "Status")
    if not (msgid.isascii() and msgid.isdigit()) or not status:
        log.warning("%s: TEMPLATESENDJOBFINISH without a numeric MsgID or a Status; no records", conn.instance.name)
        return ()
    delivered = status == "success"
    if not delivered and not status.startswith("failed"):
        log.warning("%s: TEMPLATESENDJOBFINISH Status %r is not documented; no records", conn.instance.name,
                    status[:40])
        return ()
    found: list[Record] = [delivery(conn, msgid, delivered, at, None if delivered else status, status)]
    if status == BLOCKED:
        found.append(reachability(conn, openid, at, False, status))
    return tuple(found)


def subscribe_results(conn: WeChatConnector, event: Mapping[str, XmlValue], at: datetime) -> tuple[Record, ...]:
    box = event.get("SubscribeMsgSentEvent")
    items: Any = box.get("List") if isinstance(box, dict) else None
    found: list[Record] = []
    for item in items if isinstance(items, list) else [items]:
        if not isinstance(item, dict):
            continue
        msgid, code = text(item, "MsgID"), text(item, "ErrorCode")
        if msgid.isascii() and msgid.isdigit() and code:
            delivered = code == "0"
            found.append(delivery(conn, msgid, delivered, at, None if delivered else code,
                                  text(item, "ErrorStatus") or code))
    if not found:
        log.warning("%s: subscribe_msg_sent_event without a readable List item; no records", conn.instance.name)
    return tuple(found)


def delivery(conn: WeChatConnector, msgid: str, delivered: bool, at: datetime, code: str | None,
             status_raw: str) -> DeliveryEvent:
    kind = DeliveryType.delivered if delivered else DeliveryType.failed
    return DeliveryEvent(source=conn.instance.name, remote_id=f"{msgid}/{kind.value}", occurred_at=at,
                         notification_id=canonical_id(conn.instance.name, msgid), type=kind, channel=Channel.wechat,
                         code=code, status_raw=status_raw[:200])


def reachability(conn: WeChatConnector, openid: str, at: datetime, reachable: bool, reason: str,
                 candidate: str | None = None) -> ContactChange:
    return ContactChange(source=conn.instance.name, remote_id=f"{openid}:{int(at.timestamp())}:{reason}",
                         occurred_at=at, channel=Channel.wechat, address=openid, reachable=reachable,
                         reason=reason[:200], candidate_id=candidate)


def _scene(event: Mapping[str, XmlValue]) -> str | None:
    """The canonical candidate id a follow through a parametric QR code names (`EventKey` `qrscene_<scene>`)."""
    scene = text(event, "EventKey").removeprefix("qrscene_")
    return scene if text(event, "EventKey").startswith("qrscene_") and "/" in scene else None
