"""Event callbacks through the connector: crypto round trip, url_verification, records from events,
and the rejections (forged, wrong token, stale, future-dated, other app, unconfigured)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from feishu_kit import T0, Rig, action, credentials, rig, signed

from lifeline_hub.connectors.feishu.crypto import SIGNATURE_HEADER, TIMESTAMP_HEADER, FeishuEventCrypto
from lifeline_hub.core import CallbackRejected, CallbackRequest
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.models import DeliveryEvent, RequestStatus, RescheduleRequest


@pytest.fixture
def r() -> Iterator[Rig]:
    with rig() as running:
        yield running


def crypto_of(r: Rig) -> FeishuEventCrypto:
    s = r.world.settings
    return FeishuEventCrypto(s.encrypt_key, s.verification_token)


def v2(r: Rig, event_type: str, event: dict[str, Any], event_id: str = "ev-0001") -> dict[str, Any]:
    s = r.world.settings
    header = {"event_id": event_id, "event_type": event_type, "create_time": str(int(T0 * 1000)),
              "token": s.verification_token, "app_id": s.app_id, "tenant_key": s.tenant_key}  # fmt: skip
    return {"schema": "2.0", "header": header, "event": event}


def read_event(r: Rig, reader: dict[str, str], message_id: str) -> dict[str, Any]:
    ids = {"open_id": reader["open_id"], "union_id": reader["union_id"], "user_id": reader["user_id"]}
    event = {"reader": {"reader_id": ids, "read_time": str(int(T0 * 1000) + 42), "tenant_key": "t"},
             "message_id_list": [message_id]}  # fmt: skip
    return v2(r, "im.message.message_read_v1", event)


def test_url_verification_is_answered_with_the_challenge(r: Rig) -> None:
    payload = {"challenge": "ch-123", "token": r.world.settings.verification_token, "type": "url_verification"}
    body = crypto_of(r).encrypt_body(payload)
    request = CallbackRequest(headers={}, query={}, body=body, received_at=datetime.now(UTC))
    result = r.connector.handle_callback(request)
    assert result.reply == {"challenge": "ch-123"} and result.event_id is None and result.records == ()
    forged = {**payload, "token": "guess"}
    with pytest.raises(CallbackRejected, match="verification token"):
        r.connector.handle_callback(replace(request, body=crypto_of(r).encrypt_body(forged)))


def test_message_read_event_is_the_same_receipt_as_polling(r: Rig) -> None:
    alice = r.world.add_user("Alice")
    sent = r.connector.perform(action("send_message", {"recipients": [alice["open_id"]], "title": "t", "text": "x"}))
    result = r.connector.handle_callback(signed(crypto_of(r), read_event(r, alice, sent.remote_id), T0))
    assert result.reply == {"msg": "success"} and result.event_id == "ev-0001"
    (pushed,) = result.records
    r.world.mark_read(sent.remote_id, alice["open_id"], at_ms=int(T0 * 1000) + 42)
    inbox = sent.handoff["receipts"]["inbox"]
    (polled,) = [i for i in r.read("receipts", {"inbox": inbox}) if isinstance(i, DeliveryEvent)]
    assert pushed == polled


def test_task_and_approval_events(r: Rig) -> None:
    crypto = crypto_of(r)
    done = r.connector.handle_callback(signed(crypto, v2(r, "task.task.updated_v1",
                                                        {"task_id": "0d3c1f2e-aaaa", "obj_type": 5}), T0))  # fmt: skip
    (state,) = done.records
    assert isinstance(state, DeliveryEvent) and state.remote_id == "task/0d3c1f2e-aaaa/state"
    assert state.status_raw == "done" and state.type.value == "read"
    edited = signed(crypto, v2(r, "task.task.updated_v1", {"task_id": "0d3c1f2e-aaaa", "obj_type": 1}, "ev-2"), T0)
    assert r.connector.handle_callback(edited).records == ()
    s = r.world.settings
    event = {"app_id": s.app_id, "tenant_key": s.tenant_key, "type": "approval_instance", "approval_code": "R",
             "instance_code": "ABCD-1234", "uuid": "ll-k1", "operate_time": str(int(T0 * 1000)),
             "instance_operate_time": str(int(T0 * 1000)), "status": "REJECTED"}  # fmt: skip
    v1 = {"uuid": "v1-event-1", "token": s.verification_token, "ts": f"{T0:.3f}", "type": "event_callback",
          "event": event}  # fmt: skip
    result = r.connector.handle_callback(signed(crypto, v1, T0))
    (refused,) = result.records
    assert result.event_id == "v1-event-1"
    assert isinstance(refused, RescheduleRequest) and refused.status is RequestStatus.refused
    assert refused.remote_id == "approval/ABCD-1234"
    other = {**v1, "uuid": "v1-event-2", "event": {**event, "uuid": "not-lifeline"}}
    assert r.connector.handle_callback(signed(crypto, other, T0)).records == ()


def test_forged_stale_future_and_foreign_callbacks_are_rejected(r: Rig) -> None:
    crypto = crypto_of(r)
    good = signed(crypto, read_event(r, r.world.add_user("A"), "om_1"), T0)
    assert r.connector.handle_callback(good).event_id == "ev-0001"
    replayed = r.connector.handle_callback(replace(good, received_at=datetime.fromtimestamp(T0 + 30, UTC)))
    assert replayed.event_id == "ev-0001"  # within the window: the receiver dedupes on the same id
    tampered = json.loads(good.body)
    tampered["encrypt"] = json.loads(crypto.encrypt_body(read_event(r, r.world.add_user("B"), "om_2")))["encrypt"]
    forged_key = FeishuEventCrypto("another-key", r.world.settings.verification_token)
    sealed_elsewhere = signed(forged_key, read_event(r, r.world.add_user("D"), "om_1"), T0)  # then signed right
    sealed_elsewhere = replace(sealed_elsewhere, headers={**sealed_elsewhere.headers, SIGNATURE_HEADER: crypto.sign(
        sealed_elsewhere.headers[TIMESTAMP_HEADER], "n0nce", sealed_elsewhere.body)})
    cases = [
        ("bad signature", replace(good, body=json.dumps(tampered).encode())),
        ("stale", replace(good, received_at=datetime.fromtimestamp(T0 + 301, UTC))),
        ("future-dated", replace(good, received_at=datetime.fromtimestamp(T0 - 301, UTC))),
        ("missing signature headers", replace(good, headers={})),
        ("undecryptable", sealed_elsewhere),
    ]
    for reason, request in cases:
        with pytest.raises(CallbackRejected, match=reason):
            r.connector.handle_callback(request)
    wrong_token = FeishuEventCrypto(r.world.settings.encrypt_key, "other-token")
    envelope = read_event(r, r.world.add_user("C"), "om_1")
    envelope["header"]["token"] = "other-token"
    with pytest.raises(CallbackRejected, match="verification token"):
        r.connector.handle_callback(signed(wrong_token, envelope, T0))
    envelope["header"].update(token=r.world.settings.verification_token, app_id="cli_someone_else")
    with pytest.raises(CallbackRejected, match="another app"):
        r.connector.handle_callback(signed(crypto, envelope, T0))


def test_callbacks_need_the_verification_token(r: Rig) -> None:
    creds = credentials(r.world)
    r.connector.credentials = replace(creds, extra={"encrypt_key": r.world.settings.encrypt_key})
    with pytest.raises(CallbackRejected, match="not configured"):
        r.connector.handle_callback(signed(crypto_of(r), read_event(r, r.world.add_user("A"), "om_1"), T0))


def test_an_app_without_an_encrypt_key_gets_plain_bodies_checked_by_token() -> None:
    """No Encrypt Key: the platform posts the plain `{"challenge", "token", "type"}` and plain, unsigned
    events (reference §9); the verification token is what vouches for them."""
    with rig(emulator={"encrypt_key": None}) as r:
        token = r.world.settings.verification_token
        assert r.connector.credentials is not None and not r.connector.credentials.get("encrypt_key")
        challenge = {"challenge": "ch-plain", "token": token, "type": "url_verification"}
        body = json.dumps(challenge).encode()
        plain = CallbackRequest(headers={}, query={}, body=body, received_at=datetime.now(UTC))
        result = r.connector.handle_callback(plain)
        assert result.reply == {"challenge": "ch-plain"} and result.event_id is None
        alice = r.world.add_user("Alice")
        event = CallbackRequest(headers={TIMESTAMP_HEADER: str(int(T0))}, query={},
                                body=json.dumps(read_event(r, alice, "om_1")).encode(),
                                received_at=datetime.fromtimestamp(T0, UTC))  # fmt: skip
        (record,) = r.connector.handle_callback(event).records
        assert record.notification_id == "acme.feishu/om_1"
        cases = [
            ("verification token", replace(plain, body=json.dumps({**challenge, "token": "guess"}).encode())),
            ("no Encrypt Key", replace(plain, body=b'{"encrypt": "abc"}')),
            ("stale", replace(event, received_at=datetime.fromtimestamp(T0 + 301, UTC))),
        ]
        for reason, request in cases:
            with pytest.raises(CallbackRejected, match=reason):
                r.connector.handle_callback(request)


def test_the_emulator_verifies_a_callback_url_without_an_encrypt_key() -> None:
    holder: dict[str, Any] = {}
    receiver = FastAPI()

    @receiver.post("/callbacks/acme.feishu")
    async def callback(request: Request) -> Response:
        raw = CallbackRequest(dict(request.headers), {}, await request.body(), datetime.now(UTC))
        try:
            return JSONResponse(holder["connector"].handle_callback(raw).reply)
        except CallbackRejected as exc:
            return JSONResponse({"msg": exc.reason}, status_code=500)

    with LoopbackServer(receiver) as inbox:
        url = f"{inbox.url}/callbacks/acme.feishu"
        with rig(emulator={"callback_url": url, "encrypt_key": None, "deliver_in_background": False}) as r:
            holder["connector"] = r.connector
            assert r.world.verify_callback_url()


def test_emulator_pushes_signed_encrypted_events_end_to_end() -> None:
    """The emulator's real pushes (background thread, retries) land as records through the connector."""
    received: list[Any] = []
    lock = threading.Lock()
    holder: dict[str, Any] = {}
    receiver = FastAPI()

    @receiver.post("/callbacks/acme.feishu")
    async def callback(request: Request) -> Response:
        raw = CallbackRequest(dict(request.headers), dict(request.query_params), await request.body(),
                              datetime.fromtimestamp(holder["clock"](), UTC))  # fmt: skip
        try:
            result = holder["connector"].handle_callback(raw)
        except CallbackRejected as exc:
            return JSONResponse({"msg": exc.reason}, status_code=500)
        with lock:
            received.append(result)
        return JSONResponse(result.reply)

    with LoopbackServer(receiver) as inbox:
        url = f"{inbox.url}/callbacks/acme.feishu"
        with rig(emulator={"callback_url": url, "deliver_in_background": False}) as r:
            holder.update(connector=r.connector, clock=r.clock)
            assert r.world.verify_callback_url()
            alice = r.world.add_user("Alice")
            payload = {"recipients": [alice["open_id"]], "title": "t", "text": "x"}
            sent = r.connector.perform(action("send_message", payload))
            r.world.mark_read(sent.remote_id, alice["open_id"])
            assert r.world.deliver_pending_events() == 1
    (result,) = [x for x in received if x.event_id]  # the first one answered the challenge
    (record,) = result.records
    assert record.notification_id == f"acme.feishu/{sent.remote_id}"
    assert json.dumps(result.reply) == '{"msg": "success"}'
