"""Feishu event-callback crypto (event schema 2.0, also the v1 envelope).

With an Encrypt Key configured the platform posts `{"encrypt": base64(iv + AES-256-CBC(json))}` where
the AES key is SHA-256 of the Encrypt Key and the IV the first 16 decoded bytes, PKCS#7 padded. The
request is signed with `X-Lark-Signature = sha256_hex(timestamp + nonce + encrypt_key + raw body)`
over the `X-Lark-Request-Timestamp`/`X-Lark-Request-Nonce` headers. The verification token travels
inside the (decrypted) envelope. The url_verification challenge is not signed and must be echoed.
Freshness and replay checks (timestamp age, seen `event_id`s) belong to the receiver.

A signed request is verified on its raw bytes before anything of it is parsed; only an unsigned one
is opened first, and it is accepted only as a url_verification with the right token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from lifeline_hub.core.connector import CallbackRejected
from lifeline_hub.core.receiver.untrusted import ascii_digits, load_json, same_digest

__all__ = ["CallbackRejected", "FeishuEventCrypto", "challenge_answer", "event_id", "request_timestamp"]

TIMESTAMP_HEADER = "X-Lark-Request-Timestamp"
NONCE_HEADER = "X-Lark-Request-Nonce"
SIGNATURE_HEADER = "X-Lark-Signature"
URL_VERIFICATION = "url_verification"


class FeishuEventCrypto:
    """Seals callbacks (the emulator's side) and opens them (the receiver's side)."""

    def __init__(self, encrypt_key: str | None, verification_token: str) -> None:
        self.encrypt_key = encrypt_key or None
        self.verification_token = verification_token
        self._key = hashlib.sha256(encrypt_key.encode()).digest() if encrypt_key else None

    def encrypt_body(self, payload: Mapping[str, Any]) -> bytes:
        """The raw request body for `payload`: `{"encrypt": ...}` with a key, plain JSON without."""
        plain = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        if self._key is None:
            return plain
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plain) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(iv)).encryptor()
        sealed = iv + encryptor.update(padded) + encryptor.finalize()
        return json.dumps({"encrypt": base64.b64encode(sealed).decode()}).encode()

    def sign(self, timestamp: str, nonce: str, body: bytes) -> str:
        """`X-Lark-Signature` for a raw body; needs the Encrypt Key."""
        if self.encrypt_key is None:
            raise ValueError("signing needs an Encrypt Key")
        return hashlib.sha256((timestamp + nonce + self.encrypt_key).encode() + body).hexdigest()

    def open(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """Verify, decrypt and check the token of one callback; returns the plaintext envelope.

        Raises `CallbackRejected` for an unparsable, undecryptable, unsigned or forged request and
        for a wrong verification token. A url_verification challenge may come without a signature
        (the platform does not sign it) but still needs the right token.
        """
        signed = self.encrypt_key is not None and self._verify_signature(headers, body)
        outer = _json_object(body, "body is not a JSON object")
        if "encrypt" in outer:
            envelope = _json_object(self._decrypt(outer["encrypt"]), "decrypted body is not a JSON object")
        elif self._key is not None:
            raise CallbackRejected("body is not encrypted")
        else:
            envelope = outer
        if self.encrypt_key is not None and not signed and envelope.get("type") != URL_VERIFICATION:
            raise CallbackRejected("missing signature headers")
        if not same_digest(self.verification_token, _token_of(envelope)):
            raise CallbackRejected("wrong verification token")
        return envelope

    def _decrypt(self, sealed: object) -> bytes:
        if self._key is None:
            raise CallbackRejected("body is encrypted but no Encrypt Key is configured")
        try:
            raw = base64.b64decode(str(sealed), validate=True)
            iv, ciphertext = raw[:16], raw[16:]
            decryptor = Cipher(algorithms.AES(self._key), modes.CBC(iv)).decryptor()
            padded = decryptor.update(ciphertext) + decryptor.finalize()
            unpadder = padding.PKCS7(128).unpadder()
            return unpadder.update(padded) + unpadder.finalize()
        except (binascii.Error, ValueError) as exc:
            raise CallbackRejected("undecryptable body") from exc

    def _verify_signature(self, headers: Mapping[str, str], body: bytes) -> bool:
        """False when the request carries no signature; `CallbackRejected` when it carries a wrong one."""
        lowered = {key.lower(): value for key, value in headers.items()}
        timestamp = lowered.get(TIMESTAMP_HEADER.lower())
        nonce = lowered.get(NONCE_HEADER.lower())
        signature = lowered.get(SIGNATURE_HEADER.lower())
        if not (timestamp and nonce and signature):
            return False
        if not same_digest(self.sign(timestamp, nonce, body), signature):
            raise CallbackRejected("bad signature")
        return True


def challenge_answer(envelope: Mapping[str, Any]) -> dict[str, str] | None:
    """`{"challenge": ...}` to answer a url_verification request with, else None."""
    if envelope.get("type") != URL_VERIFICATION:
        return None
    return {"challenge": _text(envelope.get("challenge"))}


def event_id(envelope: Mapping[str, Any]) -> str | None:
    """The dedupe id: `header.event_id` (schema 2.0) or `uuid` (v1); None for a challenge."""
    header = envelope.get("header")
    if isinstance(header, Mapping) and header.get("event_id"):
        return _text(header["event_id"]) or None
    return _text(envelope.get("uuid")) or None


def request_timestamp(headers: Mapping[str, str]) -> int | None:
    """`X-Lark-Request-Timestamp` (epoch seconds, ASCII digits) for the receiver's freshness check."""
    lowered = {key.lower(): value for key, value in headers.items()}
    return ascii_digits(lowered.get(TIMESTAMP_HEADER.lower(), ""))


def _token_of(envelope: Mapping[str, Any]) -> str:
    header = envelope.get("header")
    if isinstance(header, Mapping) and "token" in header:
        return _text(header["token"])
    return _text(envelope.get("token"))


def _text(value: object) -> str:
    """A string field of the envelope ("" for anything else: a sender's nested value is never rendered)."""
    return value if isinstance(value, str) else ""


def _json_object(raw: bytes, reason: str) -> dict[str, Any]:
    try:
        value = load_json(raw)
    except ValueError as exc:
        raise CallbackRejected(reason) from exc
    if not isinstance(value, dict):
        raise CallbackRejected(reason)
    return value
