"""The DingTalk callback conformance kit (see core.receiver.conformance)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lifeline_hub.connectors.dingtalk.crypto import DingTalkCrypto
from lifeline_hub.core.receiver.conformance import Signature, SignedRequest

APPKEY = "dingconformanceappkey"
CORP_ID = "dingconformancecorp"
PROCESS_CODE = "PROC-CONFORMANCE"
TOKEN = "conformance-callback-token"  # noqa: S105 - a fake secret for the test instance
AES_KEY = base64.b64encode(b"conformance-aes-key-of-32-bytes!").decode()[:43]
CREATED_MS = 1_700_000_000_000  # fixed, so a redelivery of one event id decrypts to the same event


class DingTalkCallbackKit:
    settings: Mapping[str, Any] = {"corp_id": CORP_ID, "agent_id": 1001, "approval_process_codes": [PROCESS_CODE]}
    connection: str | None = json.dumps({
        "conn_type": "dingtalk", "login": APPKEY, "password": "conformance-appsecret",
        "extra": {"callback_token": TOKEN, "callback_aes_key": AES_KEY},
    })

    def event(self, event_id: str, at: datetime, signature: Signature = "valid") -> SignedRequest:
        """An approved `bpms_instance_change` finish of instance `proc-<event_id>` (one RescheduleRequest)."""
        instance_id = f"proc-{event_id}"
        event = {
            "EventType": "bpms_instance_change", "processInstanceId": instance_id, "corpId": CORP_ID,
            "createTime": CREATED_MS, "finishTime": CREATED_MS + 60_000, "title": "Reschedule interview",
            "type": "finish", "result": "agree", "staffId": "conformance-user", "processCode": PROCESS_CODE,
            "businessId": event_id,
        }
        token = "not-the-token" if signature == "forged" else TOKEN
        sealed = DingTalkCrypto(token, AES_KEY, APPKEY).encrypt(
            json.dumps(event, separators=(",", ":")), timestamp=str(int(at.timestamp() * 1000)))
        query = {k: sealed[k] for k in ("msg_signature", "timestamp", "nonce")}
        if signature == "missing":
            del query["msg_signature"]
        body = json.dumps({"encrypt": sealed["encrypt"]}).encode()
        return SignedRequest(headers={"Content-Type": "application/json"}, body=body, query=query)


def kit() -> DingTalkCallbackKit:
    return DingTalkCallbackKit()
