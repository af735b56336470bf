"""The aiplatform callback conformance kit (see core.receiver.conformance)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lifeline_hub.connectors.aiplatform.emulator_state import iso
from lifeline_hub.connectors.aiplatform.signing import signed_headers
from lifeline_hub.core.receiver.conformance import Signature, SignedRequest

SECRET = "conformance-webhook-secret"  # noqa: S105 - a fake secret for the test instance


class AIPlatformCallbackKit:
    settings: Mapping[str, Any] = {}
    connection: str | None = json.dumps({
        "conn_type": "aiplatform", "login": "conformance-client", "password": "conformance-client-secret",
        "extra": {"webhook_secret": SECRET},
    })

    def event(self, event_id: str, at: datetime, signature: Signature = "valid") -> SignedRequest:
        """A `technical.join_error` event (one LinkEvent) for invitation `inv_conformance`."""
        ms, wire_id = int(at.timestamp() * 1000), f"evt_{event_id}"
        event = {
            "id": wire_id, "type": "technical.join_error", "invitation_id": "inv_conformance",
            "attempt": 0, "occurred_at": iso(ms), "recorded_at": iso(ms), "data": {"code": "NETWORK_ERROR"},
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        secret = "not-the-secret" if signature == "forged" else SECRET
        headers = signed_headers([secret], wire_id, int(at.timestamp()), body)
        if signature == "missing":
            headers = {k: v for k, v in headers.items() if k != "AIP-Signature"}
        return SignedRequest(headers=headers, body=body)


def kit() -> AIPlatformCallbackKit:
    return AIPlatformCallbackKit()
