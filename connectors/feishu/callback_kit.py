"""The Feishu callback conformance kit (see core.receiver.conformance)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lifeline_hub.connectors.feishu.crypto import NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, FeishuEventCrypto
from lifeline_hub.core.receiver.conformance import Signature, SignedRequest

APP_ID = "cli_conformance0001"
ENCRYPT_KEY = "conformance-encrypt-key"
VERIFICATION_TOKEN = "conformance-verification-token"  # noqa: S105 - a fake token for the test instance


class FeishuCallbackKit:
    settings: Mapping[str, Any] = {"id_type": "open_id"}
    connection: str | None = json.dumps({
        "conn_type": "feishu", "login": APP_ID, "password": "conformance-app-secret",
        "extra": {"encrypt_key": ENCRYPT_KEY, "verification_token": VERIFICATION_TOKEN},
    })

    def event(self, event_id: str, at: datetime, signature: Signature = "valid") -> SignedRequest:
        """An encrypted `im.message.message_read_v1` event (one read receipt DeliveryEvent)."""
        ms = int(at.timestamp() * 1000)
        envelope = {
            "schema": "2.0",
            "header": {
                "event_id": f"conformance{event_id}", "event_type": "im.message.message_read_v1",
                "create_time": str(ms), "token": VERIFICATION_TOKEN, "app_id": APP_ID,
                "tenant_key": "conformance-tenant",
            },
            "event": {
                "reader": {
                    "reader_id": {"open_id": "ou_conformancereader", "union_id": "on_conformancereader"},
                    "read_time": str(ms), "tenant_key": "conformance-tenant",
                },
                "message_id_list": [f"om_{event_id}"],
            },
        }
        body = FeishuEventCrypto(ENCRYPT_KEY, VERIFICATION_TOKEN).encrypt_body(envelope)
        timestamp, nonce = str(int(at.timestamp())), hashlib.sha256(event_id.encode()).hexdigest()[:16]
        key = "not-the-encrypt-key" if signature == "forged" else ENCRYPT_KEY
        headers = {"Content-Type": "application/json; charset=utf-8", TIMESTAMP_HEADER: timestamp, NONCE_HEADER: nonce}
        if signature != "missing":
            headers[SIGNATURE_HEADER] = FeishuEventCrypto(key, VERIFICATION_TOKEN).sign(timestamp, nonce, body)
        return SignedRequest(headers=headers, body=body)


def kit() -> FeishuCallbackKit:
    return FeishuCallbackKit()
