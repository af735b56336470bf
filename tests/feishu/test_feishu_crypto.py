"""Feishu callback crypto: the documented algorithm, the url_verification challenge and rejections."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from lifeline_hub.connectors.feishu.crypto import (
    CallbackRejected,
    FeishuEventCrypto,
    challenge_answer,
    event_id,
    request_timestamp,
)

KEY = "test-encrypt-key"
TOKEN = "test-verification-token"
EVENT = {
    "schema": "2.0",
    "header": {
        "event_id": "5e3702a84e847582be8db7fb73283c02",
        "event_type": "im.message.message_read_v1",
        "create_time": "1608725989000",
        "token": TOKEN,
        "app_id": "cli_a1b2c3d4e5f60718",
        "tenant_key": "736588c9260f175e",
    },
    "event": {"message_id_list": ["om_1"]},
}


def sealed(crypto: FeishuEventCrypto, payload: dict[str, object], ts: str = "1700000000", nonce: str = "n1"):
    body = crypto.encrypt_body(payload)
    headers = {
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": crypto.sign(ts, nonce, body),
    }
    return headers, body


def documented_encrypt(key: str, plain: bytes, iv: bytes) -> bytes:
    """The reference's algorithm written out independently of the module under test."""
    padder = padding.PKCS7(128).padder()
    data = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.CBC(iv)).encryptor()
    return json.dumps(
        {"encrypt": base64.b64encode(iv + encryptor.update(data) + encryptor.finalize()).decode()}
    ).encode()


def test_round_trip_exposes_event_id_and_timestamp() -> None:
    crypto = FeishuEventCrypto(KEY, TOKEN)
    headers, body = sealed(crypto, EVENT)
    assert set(json.loads(body)) == {"encrypt"}
    opened = crypto.open(headers, body)
    assert opened == EVENT
    assert event_id(opened) == EVENT["header"]["event_id"]  # type: ignore[index]
    assert request_timestamp({k.lower(): v for k, v in headers.items()}) == 1700000000


def test_opens_a_body_built_with_the_documented_algorithm() -> None:
    crypto = FeishuEventCrypto(KEY, TOKEN)
    body = documented_encrypt(KEY, json.dumps(EVENT).encode(), iv=bytes(range(16)))
    ts, nonce = "1700000001", "abc"
    signature = hashlib.sha256((ts + nonce + KEY).encode() + body).hexdigest()
    assert crypto.sign(ts, nonce, body) == signature
    headers = {"x-lark-request-timestamp": ts, "x-lark-request-nonce": nonce, "x-lark-signature": signature}
    assert crypto.open(headers, body) == EVENT


def test_url_verification_is_answered_without_a_signature() -> None:
    crypto = FeishuEventCrypto(KEY, TOKEN)
    challenge = {"challenge": "ajls384kdjx98XX", "token": TOKEN, "type": "url_verification"}
    opened = crypto.open({}, crypto.encrypt_body(challenge))
    assert challenge_answer(opened) == {"challenge": "ajls384kdjx98XX"}
    assert event_id(opened) is None
    assert challenge_answer(EVENT) is None
    with pytest.raises(CallbackRejected, match="wrong verification token"):
        crypto.open({}, crypto.encrypt_body({**challenge, "token": "forged"}))


def test_forged_signature_is_rejected() -> None:
    crypto = FeishuEventCrypto(KEY, TOKEN)
    headers, body = sealed(crypto, EVENT)
    forged = FeishuEventCrypto("another-key", TOKEN).sign("1700000000", "n1", body)
    with pytest.raises(CallbackRejected, match="bad signature"):
        crypto.open({**headers, "X-Lark-Signature": forged}, body)
    with pytest.raises(CallbackRejected, match="bad signature"):
        crypto.open({**headers, "X-Lark-Request-Nonce": "replayed-with-new-nonce"}, body)
    with pytest.raises(CallbackRejected, match="missing signature headers"):
        crypto.open({}, body)


def test_wrong_verification_token_is_rejected() -> None:
    crypto = FeishuEventCrypto(KEY, TOKEN)
    headers, body = sealed(crypto, {**EVENT, "header": {**EVENT["header"], "token": "other"}})  # type: ignore[dict-item]
    with pytest.raises(CallbackRejected, match="wrong verification token"):
        crypto.open(headers, body)


def test_tampered_ciphertext_is_rejected() -> None:
    crypto = FeishuEventCrypto(KEY, TOKEN)
    headers, body = sealed(crypto, EVENT)
    raw = bytearray(base64.b64decode(json.loads(body)["encrypt"]))
    raw[-1] ^= 0x01
    flipped = json.dumps({"encrypt": base64.b64encode(bytes(raw)).decode()}).encode()
    with pytest.raises(CallbackRejected):
        crypto.open(headers, flipped)
    truncated = json.dumps({"encrypt": base64.b64encode(bytes(raw[:-3])).decode()}).encode()
    with pytest.raises(CallbackRejected, match="undecryptable"):
        crypto.open({**headers, "X-Lark-Signature": crypto.sign("1700000000", "n1", truncated)}, truncated)
    raw = bytearray(base64.b64decode(json.loads(body)["encrypt"]))
    raw[1] ^= 0x01  # the IV: decrypts to other (valid) text, so only the signature catches it
    tampered = json.dumps({"encrypt": base64.b64encode(bytes(raw)).decode()}).encode()
    with pytest.raises(CallbackRejected, match=r"bad signature|not a JSON object"):
        crypto.open(headers, tampered)


def test_unencrypted_or_garbage_bodies_are_rejected_when_a_key_is_set() -> None:
    crypto = FeishuEventCrypto(KEY, TOKEN)
    with pytest.raises(CallbackRejected, match="not encrypted"):
        crypto.open({}, json.dumps(EVENT).encode())
    with pytest.raises(CallbackRejected, match="not a JSON object"):
        crypto.open({}, b"<html>")
    with pytest.raises(CallbackRejected, match="undecryptable"):
        crypto.open({}, b'{"encrypt": "***"}')


def test_without_an_encrypt_key_bodies_are_plain_and_only_the_token_is_checked() -> None:
    crypto = FeishuEventCrypto(None, TOKEN)
    v1 = {"uuid": "41b5f371157e3e4b8a4f3ef6e4d6ba2a", "token": TOKEN, "ts": "1.0", "type": "event_callback"}
    assert crypto.open({}, crypto.encrypt_body(v1)) == v1
    assert event_id(v1) == v1["uuid"]
    with pytest.raises(CallbackRejected, match="no Encrypt Key"):
        crypto.open({}, b'{"encrypt": "abc"}')
    with pytest.raises(CallbackRejected, match="wrong verification token"):
        crypto.open({}, crypto.encrypt_body({**v1, "token": "x"}))
    with pytest.raises(ValueError, match="Encrypt Key"):
        crypto.sign("1", "n", b"{}")
