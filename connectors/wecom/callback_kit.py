"""The WeCom callback conformance kit (see core.receiver.conformance): task-card clicks, sealed like WeCom."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lifeline_hub.connectors.wecom.crypto import WXBizMsgCrypt
from lifeline_hub.core.receiver.conformance import Signature, SignedRequest

CORP_ID = "wwconformancecorp0001"
AGENT_ID = 1000002
TOKEN = "conformanceCallbackToken"  # noqa: S105 - a fake secret for the test instance
AES_KEY = base64.b64encode(b"wecom-conformance-aes-key-32byte").decode()[:43]
CREATED = 1_700_000_000  # fixed, so a redelivery of one event id decrypts to the same event
CLICKER = "conformance-hr"


def card_click(event_id: str) -> str:
    """An assignee's `done` click on the task card `task-<event_id>` (one DeliveryEvent). Without `ResponseCode`,
    so the connector has no card to update (no vendor call from the conformance receiver)."""
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{CLICKER}]]></FromUserName>"
            f"<CreateTime>{CREATED}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[done]]></EventKey>"
            f"<TaskId><![CDATA[task-{event_id}]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
            f"<AgentID>{AGENT_ID}</AgentID></xml>")


class WeComCallbackKit:
    settings: Mapping[str, Any] = {"corp_id": CORP_ID, "agent_id": AGENT_ID}
    connection: str | None = json.dumps({
        "conn_type": "wecom", "login": CORP_ID, "password": "conformance-app-secret",
        "extra": {"callback_token": TOKEN, "callback_aes_key": AES_KEY},
    })

    def event(self, event_id: str, at: datetime, signature: Signature = "valid") -> SignedRequest:
        token = "not-the-token" if signature == "forged" else TOKEN
        sealed = WXBizMsgCrypt(token, AES_KEY, CORP_ID).encrypt_message(card_click(event_id),
                                                                        timestamp=str(int(at.timestamp())))
        query = sealed.query
        if signature == "missing":
            del query["msg_signature"]
        return SignedRequest(headers={"Content-Type": "text/xml"},
                             body=sealed.event_xml(CORP_ID, str(AGENT_ID)).encode(), query=query)


def kit() -> WeComCallbackKit:
    return WeComCallbackKit()
