"""The WXBizMsgCrypt sealed box: WeCom's callback encryption, which the WeChat Official Account and DingTalk share.

AES-256-CBC with key = base64(EncodingAESKey + "="), IV = key[:16], PKCS#7 padding to 32-byte blocks (pad values
1 to 32); plaintext = 16 random bytes | 4-byte big-endian byte length | message | receive id (WeCom: the corpid,
suite id or ""; WeChat: the AppID; DingTalk: the AppKey, corpId or suiteKey). The signature is
sha1("".join(sorted([token, timestamp, nonce, encrypt]))) in lower-case hex. Each vendor's module adds its
envelope, timestamps and error codes (connectors.wecom.crypto, connectors.dingtalk.crypto) and names its
rejection (`SealedBox.rejected`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import string
import struct
from typing import Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SealReason = Literal["base64", "decrypt", "padding", "length", "receive_id"]

BLOCK = 32
_ALPHABET = string.ascii_letters + string.digits


class SealBroken(Exception):
    """A ciphertext that does not open; `why` says which check failed (never echoes the payload)."""

    def __init__(self, why: SealReason, detail: str) -> None:
        super().__init__(f"{why}: {detail}")
        self.why: SealReason = why


def random_text(size: int) -> str:
    """Random ASCII letters and digits, as the vendors' samples use for nonces and the plaintext prefix."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(size))


def signature(token: str, timestamp: str, nonce: str, *more: str) -> str:
    """sha1 over the lexicographically sorted [token, timestamp, nonce, *more], lower-case hex (any text hashes,
    lone surrogates too: an offered value is then merely wrong)."""
    joined = "".join(sorted([token, timestamp, nonce, *more]))
    return hashlib.sha1(joined.encode("utf-8", "surrogatepass")).hexdigest()  # noqa: S324 - mandated by the protocol


class SealedBox:
    """Seals and opens messages for one EncodingAESKey and receive id; a message sealed for another receive id
    does not open (`why == "receive_id"`)."""

    def __init__(self, encoding_aes_key: str, receive_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise ValueError("the EncodingAESKey must be 43 characters")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except ValueError as exc:  # binascii.Error, or not even ASCII
            raise ValueError("the EncodingAESKey is not base64") from exc
        self.receive_id = receive_id
        self._key = key

    def rejected(self, why: SealReason, detail: str) -> Exception:
        """The exception `open` raises; vendors name theirs (with their error codes)."""
        return SealBroken(why, detail)

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def seal(self, message: str, prefix: bytes | None = None) -> str:
        """The base64 ciphertext of `message`; `prefix` (16 bytes, random when None) only for fixed test vectors."""
        prefix = random_text(16).encode() if prefix is None else prefix
        if len(prefix) != 16:
            raise ValueError("the random prefix is 16 bytes")
        body = message.encode()
        raw = prefix + struct.pack(">I", len(body)) + body + self.receive_id.encode()
        pad = BLOCK - len(raw) % BLOCK
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(raw + bytes([pad]) * pad) + encryptor.finalize()).decode()

    def open(self, encrypt: str) -> str:
        """The message inside a base64 ciphertext (its signature is the caller's check)."""
        try:
            sealed = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:  # ValueError: not even ASCII
            raise self.rejected("base64", "not base64") from exc
        if not sealed or len(sealed) % 16:
            raise self.rejected("decrypt", "ciphertext is not whole AES blocks")
        decryptor = self._cipher().decryptor()
        raw = decryptor.update(sealed) + decryptor.finalize()
        pad = raw[-1]
        if not 1 <= pad <= BLOCK or len(raw) < pad or raw[-pad:] != bytes([pad]) * pad:
            raise self.rejected("padding", "bad PKCS#7 padding")
        raw = raw[:-pad]
        if len(raw) < 20:
            raise self.rejected("length", "plaintext too short")
        (size,) = struct.unpack(">I", raw[16:20])
        if 20 + size > len(raw):
            raise self.rejected("length", "message length exceeds the plaintext")
        if raw[20 + size:] != self.receive_id.encode():
            raise self.rejected("receive_id", "sealed for another receive id")
        try:
            return raw[20:20 + size].decode()
        except UnicodeDecodeError as exc:
            raise self.rejected("decrypt", "message is not UTF-8") from exc
