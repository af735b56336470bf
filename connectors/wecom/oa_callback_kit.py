"""The wechat callback conformance kit (see core.receiver.conformance): safe-mode Official Account events."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lifeline_hub.connectors.wecom.crypto import OfficialAccountCrypto, signature
from lifeline_hub.core.receiver.conformance import Signature, SignedRequest

APP_ID = "wxconformanceoa0001"
ORIGINAL_ID = "gh_conformance01"
OPENID = "oConformanceFollower0001"
TOKEN = "conformanceOaToken"  # noqa: S105 - a fake secret for the test instance
AES_KEY = "Y29uZm9ybWFuY2Utb2ZmaWNpYWwtYWNjb3VudC1rZXk"


def msgid_of(event_id: str) -> str:
    """A numeric MsgID above 2^53 for an event id (letters and digits), the same for every delivery of it."""
    return str(2**60 + int(hashlib.sha256(event_id.encode()).hexdigest()[:14], 16))


def event_xml(fields: Mapping[str, str]) -> str:
    return "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"


def safe_mode_request(plaintext: str, at: datetime, token: str = TOKEN, aes_key: str = AES_KEY,
                      app_id: str = APP_ID) -> SignedRequest:
    """A safe-mode POST of `plaintext` as the Official Account sends it, signed as of `at`."""
    box = OfficialAccountCrypto(token, aes_key, app_id)
    sealed = box.encrypt_message(plaintext, timestamp=str(int(at.timestamp())))
    query = {"signature": signature(token, sealed.timestamp, sealed.nonce), "timestamp": sealed.timestamp,
             "nonce": sealed.nonce, "openid": OPENID, "encrypt_type": "aes", "msg_signature": sealed.msg_signature}
    body = (f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"
            f"<Encrypt><![CDATA[{sealed.encrypt}]]></Encrypt></xml>")
    return SignedRequest(headers={"content-type": "text/xml"}, body=body.encode(), query=query)


class WeChatCallbackKit:
    settings: Mapping[str, Any] = {"app_id": APP_ID, "original_id": ORIGINAL_ID}
    connection: str | None = json.dumps({
        "conn_type": "wechat", "login": APP_ID, "password": "conformance-app-secret",
        "extra": {"callback_token": TOKEN, "callback_aes_key": AES_KEY},
    })

    def event(self, event_id: str, at: datetime, signature: Signature = "valid") -> SignedRequest:
        """A `TEMPLATESENDJOBFINISH` with Status `success` for the message `msgid_of(event_id)`."""
        plaintext = event_xml({"ToUserName": ORIGINAL_ID, "FromUserName": OPENID,
                               "CreateTime": str(int(at.timestamp())), "MsgType": "event",
                               "Event": "TEMPLATESENDJOBFINISH", "MsgID": msgid_of(event_id), "Status": "success"})
        request = safe_mode_request(plaintext, at, token="not-the-token" if signature == "forged" else TOKEN)
        if signature == "missing":
            query = {k: v for k, v in request.query.items() if k not in ("signature", "msg_signature")}
            return SignedRequest(headers=request.headers, body=request.body, query=query)
        return request


def kit() -> WeChatCallbackKit:
    return WeChatCallbackKit()
