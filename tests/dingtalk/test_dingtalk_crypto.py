"""DingTalk callback crypto: the published test vector, round trips and every rejection."""

from __future__ import annotations

import base64

import pytest

from lifeline_hub.connectors.dingtalk.crypto import CallbackRejected, DingTalkCrypto, signature, timestamp_seconds

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OWNER = "dingappkey0001"

# DingTalk's own sample (open-dingtalk/DingTalk-Callback-Crypto, DingCallbackCrypto3.py): public test data.
VECTOR = {
    "token": "mryue",
    "aes_key": "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7",
    "owner": "ding6ccabc44d2c8d38b",
    "msg_signature": "03044561471240d4a14bb09372dfcfd4fd0e40cb",
    "timestamp": "1608001896814",
    "nonce": "WL4PK6yA",
    "encrypt": "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYx"
    "xOK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3",
}


@pytest.fixture
def crypto() -> DingTalkCrypto:
    return DingTalkCrypto("token-1", AES_KEY, OWNER)


def test_published_vector_decrypts_to_check_url() -> None:
    crypto = DingTalkCrypto(VECTOR["token"], VECTOR["aes_key"], VECTOR["owner"])
    text = crypto.decrypt(VECTOR["encrypt"], VECTOR["msg_signature"], VECTOR["timestamp"], VECTOR["nonce"])
    assert text == '{"EventType":"check_url"}'
    assert timestamp_seconds(VECTOR["timestamp"]) == pytest.approx(1608001896.814)


MESSAGES = ["", "success", '{"EventType":"bpms_instance_change","title":"张三的面试"}', "x" * 100]


@pytest.mark.parametrize("message", MESSAGES)
def test_round_trip_pads_to_32_byte_blocks(crypto: DingTalkCrypto, message: str) -> None:
    sealed = crypto.encrypt(message, nonce="n0nce", timestamp="1700000000000")
    assert set(sealed) == {"encrypt", "msg_signature", "timestamp", "nonce"}
    assert sealed["msg_signature"] == signature("token-1", "1700000000000", "n0nce", sealed["encrypt"])
    assert len(base64.b64decode(sealed["encrypt"])) % 32 == 0
    assert crypto.decrypt(sealed["encrypt"], sealed["msg_signature"], sealed["timestamp"], sealed["nonce"]) == message


def test_signature_sorts_the_four_strings() -> None:
    assert signature("b", "a", "d", "c") == signature("a", "b", "c", "d")


def test_forged_signature_is_rejected(crypto: DingTalkCrypto) -> None:
    sealed = crypto.encrypt("hello")
    with pytest.raises(CallbackRejected) as info:
        crypto.decrypt(sealed["encrypt"], "0" * 40, sealed["timestamp"], sealed["nonce"])
    assert info.value.reason == "signature"
    assert info.value.code == 900005


def test_replayed_body_with_other_timestamp_fails_signature(crypto: DingTalkCrypto) -> None:
    sealed = crypto.encrypt("hello")
    with pytest.raises(CallbackRejected, match="signature"):
        crypto.decrypt(sealed["encrypt"], sealed["msg_signature"], "1", sealed["nonce"])


def test_wrong_owner_is_rejected(crypto: DingTalkCrypto) -> None:
    other = DingTalkCrypto("token-1", AES_KEY, "dingsomeoneelse")
    sealed = other.encrypt("hello")
    with pytest.raises(CallbackRejected) as info:
        crypto.decrypt(sealed["encrypt"], sealed["msg_signature"], sealed["timestamp"], sealed["nonce"])
    assert info.value.reason == "owner"


def test_tampered_ciphertext_is_rejected(crypto: DingTalkCrypto) -> None:
    sealed = crypto.encrypt("hello world")
    raw = bytearray(base64.b64decode(sealed["encrypt"]))
    raw[-1] ^= 0x01
    tampered = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(CallbackRejected, match="signature"):
        crypto.decrypt(tampered, sealed["msg_signature"], sealed["timestamp"], sealed["nonce"])
    # Even re-signed (a leaked token), the broken plaintext does not pass.
    resigned = signature("token-1", sealed["timestamp"], sealed["nonce"], tampered)
    with pytest.raises(CallbackRejected) as info:
        crypto.decrypt(tampered, resigned, sealed["timestamp"], sealed["nonce"])
    assert info.value.reason in {"padding", "length", "owner", "decrypt"}


@pytest.mark.parametrize("encrypt", ["not base64!", base64.b64encode(b"short").decode()])
def test_garbage_ciphertext_is_rejected(crypto: DingTalkCrypto, encrypt: str) -> None:
    resigned = signature("token-1", "1", "n", encrypt)
    with pytest.raises(CallbackRejected) as info:
        crypto.decrypt(encrypt, resigned, "1", "n")
    assert info.value.reason == "decrypt"


def test_success_reply_decrypts_to_success(crypto: DingTalkCrypto) -> None:
    reply = crypto.reply_success(timestamp="1700000000000", nonce="abc")
    assert set(reply) == {"msg_signature", "timeStamp", "nonce", "encrypt"}
    assert reply["timeStamp"] == "1700000000000"
    assert crypto.decrypt(reply["encrypt"], reply["msg_signature"], reply["timeStamp"], reply["nonce"]) == "success"
    assert crypto.open_reply(reply) == "success"


def test_bad_aes_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="43"):
        DingTalkCrypto("t", "short", OWNER)
    with pytest.raises(ValueError, match="base64"):
        DingTalkCrypto("t", "!" * 43, OWNER)


def test_timestamps_in_seconds_or_milliseconds() -> None:
    assert timestamp_seconds("1700000000") == 1700000000.0
    assert timestamp_seconds("1700000000500") == 1700000000.5
    with pytest.raises(CallbackRejected) as info:
        timestamp_seconds("yesterday")
    assert info.value.reason == "timestamp"
