"""DingTalk HTTP event-callback crypto (reference §10a; DingTalk's official DingCallbackCrypto).

AES-256-CBC with key = base64(aes_key + "="), IV = key[:16], PKCS#7 padding to 32-byte blocks;
plaintext = 16 random ASCII bytes | 4-byte big-endian byte length | message | owner key;
signature = sha1("".join(sorted([token, timestamp, nonce, encrypt]))) as lower-case hex.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import string
import struct
import time
from typing import Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from lifeline_hub.core.receiver.untrusted import ascii_digits, same_digest

RejectReason = Literal["signature", "decrypt", "padding", "length", "owner", "timestamp"]

# Error codes of DingTalk's reference crypto libraries, for logs and receiver replies.
REASON_CODES: dict[RejectReason, int] = {
    "timestamp": 900002,
    "signature": 900005,
    "decrypt": 900008,
    "padding": 900008,
    "length": 900009,
    "owner": 900010,
}

BLOCK = 32
_ALPHABET = string.ascii_letters + string.digits


class CallbackRejected(Exception):
    """A callback that must not be trusted; `reason` says why (never echoes the payload)."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: RejectReason = reason
        self.code = REASON_CODES[reason]


def random_text(size: int) -> str:
    """Random ASCII letters and digits, as DingTalk uses for nonces and the plaintext prefix."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(size))


def now_millis() -> str:
    return str(int(time.time() * 1000))


def timestamp_seconds(timestamp: str) -> float:
    """A callback timestamp (milliseconds; older variants seconds: ASCII digits only) as epoch seconds."""
    value = ascii_digits(timestamp)
    if value is None:
        raise CallbackRejected("timestamp", "not 1 to 13 digits")
    return value / 1000 if value > 10**11 else float(value)


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """sha1 over the lexicographically sorted [token, timestamp, nonce, encrypt], lower-case hex."""
    joined = "".join(sorted([token, timestamp, nonce, encrypt]))
    return hashlib.sha1(joined.encode()).hexdigest()  # noqa: S324 - the protocol mandates SHA-1


class DingTalkCrypto:
    """Encrypts, signs, verifies and decrypts DingTalk callback payloads.

    `owner_key` is the AppKey (event subscription of an internal app), the corpId (legacy
    register-callback API) or the suiteKey (third-party app); a payload for another owner is rejected.
    """

    def __init__(self, token: str, aes_key: str, owner_key: str) -> None:
        if len(aes_key) != 43:
            raise ValueError("aes_key must be the 43-character EncodingAESKey")
        try:
            key = base64.b64decode(aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise ValueError("aes_key is not base64") from exc
        self.token = token
        self.owner_key = owner_key
        self._key = key
        self._iv = key[:16]

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._iv))

    def encrypt(self, plaintext: str, nonce: str | None = None, timestamp: str | None = None) -> dict[str, str]:
        """The JSON body DingTalk POSTs (`encrypt`) plus its query fields (`msg_signature`, `timestamp`, `nonce`)."""
        nonce = nonce or random_text(16)
        timestamp = timestamp or now_millis()
        message = plaintext.encode()
        raw = random_text(16).encode() + struct.pack(">I", len(message)) + message + self.owner_key.encode()
        pad = BLOCK - len(raw) % BLOCK
        encryptor = self._cipher().encryptor()
        sealed = encryptor.update(raw + bytes([pad]) * pad) + encryptor.finalize()
        encrypt = base64.b64encode(sealed).decode()
        return {
            "encrypt": encrypt,
            "msg_signature": signature(self.token, timestamp, nonce, encrypt),
            "timestamp": timestamp,
            "nonce": nonce,
        }

    def decrypt(self, encrypt: str, msg_signature: str, timestamp: str, nonce: str) -> str:
        """Verify the signature and owner, return the plaintext message; raise `CallbackRejected`."""
        expected = signature(self.token, timestamp, nonce, encrypt)
        if not same_digest(expected, msg_signature.lower()):
            raise CallbackRejected("signature", "msg_signature does not match")
        try:
            sealed = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:  # ValueError: not even ASCII
            raise CallbackRejected("decrypt", "encrypt is not base64") from exc
        if not sealed or len(sealed) % 16:
            raise CallbackRejected("decrypt", "ciphertext is not whole AES blocks")
        decryptor = self._cipher().decryptor()
        raw = decryptor.update(sealed) + decryptor.finalize()
        pad = raw[-1]
        if not 1 <= pad <= BLOCK or raw[-pad:] != bytes([pad]) * pad:
            raise CallbackRejected("padding", "bad PKCS#7 padding")
        raw = raw[:-pad]
        if len(raw) < 20:
            raise CallbackRejected("length", "plaintext too short")
        (size,) = struct.unpack(">I", raw[16:20])
        if 20 + size > len(raw):
            raise CallbackRejected("length", "message length exceeds plaintext")
        if raw[20 + size :] != self.owner_key.encode():
            raise CallbackRejected("owner", "payload is for another corpId/appKey")
        try:
            return raw[20 : 20 + size].decode()
        except UnicodeDecodeError as exc:
            raise CallbackRejected("decrypt", "message is not UTF-8") from exc

    def reply_success(self, timestamp: str | None = None, nonce: str | None = None) -> dict[str, str]:
        """The encrypted "success" reply a receiver answers with: {msg_signature, timeStamp, nonce, encrypt}."""
        sealed = self.encrypt("success", nonce=nonce, timestamp=timestamp)
        return {
            "msg_signature": sealed["msg_signature"],
            "timeStamp": sealed["timestamp"],
            "nonce": sealed["nonce"],
            "encrypt": sealed["encrypt"],
        }

    def open_reply(self, reply: dict[str, str]) -> str:
        """Decrypt a receiver's reply (accepts `timeStamp` or `timestamp`)."""
        timestamp = reply.get("timeStamp") or reply.get("timestamp") or ""
        return self.decrypt(reply.get("encrypt", ""), reply.get("msg_signature", ""), timestamp, reply.get("nonce", ""))
