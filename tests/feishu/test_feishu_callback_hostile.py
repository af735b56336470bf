"""Hostile deliveries at a real receiver's Feishu endpoint (both stores): every one is a 4xx with a reason,
never a 500, and stores nothing; authentic events of any shape are stored or refused, never a 500."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from lifeline_hub.connectors.feishu.callback_kit import APP_ID, ENCRYPT_KEY, VERIFICATION_TOKEN
from lifeline_hub.connectors.feishu.crypto import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    FeishuEventCrypto,
    request_timestamp,
)
from lifeline_hub.core.store import Store
from tests.receiver.hostile import DEEP, fuzz, json_objects, json_values, seen, texts, wire
from tests.receiver.receiver_helpers import NOW, Client, callback_client, stored_rows

PATH = "/callbacks/acme.feishu"
SECONDS = str(int(NOW.timestamp()))
CRYPTO = FeishuEventCrypto(ENCRYPT_KEY, VERIFICATION_TOKEN)


@pytest.fixture
def client(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    with callback_client(store, tmp_path, monkeypatch, ["feishu"]) as (client, _):
        yield client


def seal(plaintext: bytes) -> bytes:
    """`{"encrypt": ...}` around any plaintext, as the platform encrypts (see connectors.feishu.crypto)."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(hashlib.sha256(ENCRYPT_KEY.encode()).digest()), modes.CBC(iv)).encryptor()
    sealed = iv + encryptor.update(padder.update(plaintext) + padder.finalize()) + encryptor.finalize()
    return json.dumps({"encrypt": base64.b64encode(sealed).decode()}).encode()


def envelope(**header: Any) -> bytes:
    return seal(json.dumps({"schema": "2.0", "header": {"token": VERIFICATION_TOKEN, **header}}).encode())


def signed(body: bytes, timestamp: str = SECONDS, **override: str) -> dict[str, bytes]:
    """Headers signed over the timestamp as the receiver will read it."""
    nonce = hashlib.sha256(body).hexdigest()[:16]
    headers = {TIMESTAMP_HEADER: timestamp, NONCE_HEADER: nonce,
               SIGNATURE_HEADER: CRYPTO.sign(seen(timestamp), nonce, body)}
    return {k: wire(v) for k, v in (headers | override).items()}


def test_deeply_nested_json_is_refused_signed_or_not(client: Client, store: Store) -> None:
    assert client.post(PATH, data=DEEP).status_code == 401
    signed_deep = client.post(PATH, data=DEEP, headers=signed(DEEP))
    assert signed_deep.status_code == 401 and signed_deep.json()["reason"] == "body is not a JSON object"
    inside = seal(DEEP)
    answer = client.post(PATH, data=inside, headers=signed(inside))
    assert answer.status_code == 401 and answer.json()["reason"] == "decrypted body is not a JSON object"
    assert stored_rows(store)["inbound_events"] == 0


def test_a_signature_is_checked_on_the_raw_body_before_it_is_read(client: Client) -> None:
    forged = client.post(PATH, data=DEEP, headers=signed(DEEP, **{SIGNATURE_HEADER: "0" * 64}))
    assert forged.status_code == 401 and forged.json()["reason"] == "bad signature"


@pytest.mark.parametrize("offered", ["é" * 64, "\u00ff", "a" * 5000])
def test_a_signature_of_any_characters_is_just_wrong(client: Client, store: Store, offered: str) -> None:
    body = envelope(event_id="e1")
    answer = client.post(PATH, data=body, headers=signed(body, **{SIGNATURE_HEADER: offered}))
    assert answer.status_code == 401 and answer.json()["reason"] == "bad signature"
    assert stored_rows(store)["inbound_events"] == 0


@pytest.mark.parametrize("timestamp", ["²", "¹⁷⁷²⁶⁷⁶⁰⁰⁰", "+1772676000", "1_772_676_000", "9" * 400])
def test_a_timestamp_that_is_not_plain_digits_is_refused(client: Client, store: Store, timestamp: str) -> None:
    body = envelope(event_id="e1", app_id=APP_ID)
    answer = client.post(PATH, data=body, headers=signed(body, timestamp))  # signed over that timestamp
    assert answer.status_code == 401 and "Timestamp" in answer.json()["reason"]
    assert request_timestamp({TIMESTAMP_HEADER: timestamp}) is None
    assert request_timestamp({TIMESTAMP_HEADER: seen(timestamp)}) is None
    assert stored_rows(store)["inbound_events"] == 0


def test_authentic_events_of_any_shape_never_fail_the_receiver(client: Client, store: Store) -> None:
    times = st.one_of(st.integers(), st.integers(min_value=-(10**20), max_value=10**20).map(str), texts())
    headers = json_objects({"event_id": texts(), "event_type": st.sampled_from(
        ["im.message.message_read_v1", "task.task.updated_v1", "approval_instance", "contact.user.created_v3"]),
        "create_time": times, "app_id": st.just(APP_ID)})
    events = json_objects({"reader": json_objects({"reader_id": json_objects({"open_id": texts()}),
                                                   "read_time": times}),
                           "message_id_list": st.lists(texts(), max_size=3), "obj_type": st.sampled_from([5, 6, 7]),
                           "task_id": texts(), "uuid": texts(), "instance_code": texts(), "status": texts(),
                           "operate_time": times, "type": json_values()})

    @fuzz(40)
    @given(header=headers, event=events, v1=st.booleans())
    def authentic(header: dict[str, Any], event: dict[str, Any], v1: bool) -> None:
        sent = ({"uuid": header.get("event_id"), "token": VERIFICATION_TOKEN, "type": "event_callback",
                 "event": {**event, "type": "approval_instance"}} if v1 else
                {"schema": "2.0", "header": {**header, "token": VERIFICATION_TOKEN}, "event": event})
        body = seal(json.dumps(sent).encode())
        before = stored_rows(store)
        answer = client.post(PATH, data=body, headers=signed(body))
        assert answer.status_code in (200, 400, 401), answer.text
        if answer.status_code != 200:
            assert stored_rows(store) == before

    authentic()
