"""Webhook verification in the connector: signatures, tampering, secret rotation, freshness, id checks."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from lifeline_hub.connectors.aiplatform.connector import AIPlatformConnector
from lifeline_hub.connectors.aiplatform.settings import AIPlatformSettings
from lifeline_hub.connectors.aiplatform.signing import signature, signed_headers
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.connector import CallbackRejected, CallbackRequest, Instance
from lifeline_hub.core.models import LinkEvent, utcnow

NOW = utcnow()
EVENT = {"id": "evt_0001", "type": "technical.join_error", "invitation_id": "inv_1", "attempt": 0,
         "occurred_at": "2026-11-25T10:00:00.000Z", "data": {"code": "ICE_FAILED"}}
BODY = json.dumps(EVENT).encode()


def connector(*secrets: str) -> AIPlatformConnector:
    extra = dict(zip(("webhook_secret", "webhook_secret_previous"), secrets, strict=False))
    creds = Credentials("aip", login="c", password="s", extra=extra) if secrets else None
    return AIPlatformConnector(Instance("acme", "acme.aip"), AIPlatformSettings(), creds)


def request(headers: dict[str, str], body: bytes = BODY, shift: timedelta = timedelta(0)) -> CallbackRequest:
    return CallbackRequest(headers={k.lower(): v for k, v in headers.items()}, query={}, body=body,
                           received_at=NOW + shift)


def test_a_signed_event_becomes_records() -> None:
    result = connector("new").handle_callback(request(signed_headers(["new"], "evt_0001", int(NOW.timestamp()), BODY)))
    assert result.event_id == "evt_0001" and result.status_code == 200 and result.reply == {"received": True}
    (event,) = result.records
    assert isinstance(event, LinkEvent) and event.code == "join_error:ICE_FAILED" and event.source == "acme.aip"


def test_secret_rotation_both_ways() -> None:
    stamp = int(NOW.timestamp())
    old_and_new = signed_headers(["old", "new"], "evt_0001", stamp, BODY)
    assert old_and_new["AIP-Signature"].count("v1=") == 2
    assert connector("new").handle_callback(request(old_and_new)).event_id == "evt_0001"
    assert connector("new", "old").handle_callback(request(signed_headers(["old"], "evt_0001", stamp, BODY)))


@pytest.mark.parametrize(("case", "reason"), [
    ("tampered", "does not match"), ("wrong_secret", "does not match"), ("stale", "stale"), ("future", "stale"),
    ("unsigned", "unsigned"), ("other_id", "disagree"), ("not_json", "not JSON"), ("no_secret", "no webhook secret"),
])
def test_rejections(case: str, reason: str) -> None:
    stamp, body, secret, event_id = int(NOW.timestamp()), BODY, "new", "evt_0001"
    shift = {"stale": timedelta(minutes=6), "future": timedelta(minutes=-6)}.get(case, timedelta(0))
    if case == "wrong_secret":
        secret = "guess"
    if case == "other_id":
        event_id = "evt_0002"
    if case == "not_json":
        body = b"not json"
    headers = signed_headers([secret], event_id, stamp, body)
    if case == "tampered":
        body = body.replace(b"ICE_FAILED", b"ICE_FINE!!")
    if case == "unsigned":
        del headers["AIP-Signature"]
    with pytest.raises(CallbackRejected, match=reason):
        (connector() if case == "no_secret" else connector("new")).handle_callback(request(headers, body, shift))


def test_an_unreadable_signed_event_is_acknowledged_without_records() -> None:
    body = json.dumps({**EVENT, "occurred_at": "garbled"}).encode()
    headers = signed_headers(["k"], "evt_0001", int(NOW.timestamp()), body)
    result = connector("k").handle_callback(request(headers, body))
    assert result.event_id == "evt_0001" and result.records == ()


def test_the_signature_is_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature("k", 1700000000, BODY) == f"v1={expected}"
