"""DingTalk HTTP event-callback crypto (reference §10a; DingTalk's official DingCallbackCrypto).

WeCom's WXBizMsgCrypt scheme (core.receiver.msgcrypt): AES-256-CBC with key = base64(aes_key + "="),
IV = key[:16], PKCS#7 padding to 32-byte blocks; plaintext = 16 random ASCII bytes | 4-byte big-endian
byte length | message | owner key; signature = sha1("".join(sorted([token, timestamp, nonce, encrypt])))
as lower-case hex. DingTalk's envelope is JSON, its timestamps milliseconds, its error codes its own.
"""

from __future__ import annotations

import time
from typing import Literal

from lifeline_hub.core.receiver.msgcrypt import SealedBox, SealReason, random_text, signature
from lifeline_hub.core.receiver.untrusted import ascii_digits, same_digest

__all__ = ["CallbackRejected", "DingTalkCrypto", "random_text", "signature", "timestamp_seconds"]

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

_REASONS: dict[SealReason, RejectReason] = {
    "base64": "decrypt", "decrypt": "decrypt", "padding": "padding", "length": "length", "receive_id": "owner"}
"""The shared box's reasons in DingTalk's terms."""


class CallbackRejected(Exception):
    """A callback that must not be trusted; `reason` says why (never echoes the payload)."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: RejectReason = reason
        self.code = REASON_CODES[reason]


def now_millis() -> str:
    return str(int(time.time() * 1000))


def timestamp_seconds(timestamp: str) -> float:
    """A callback timestamp (milliseconds; older variants seconds: ASCII digits only) as epoch seconds."""
    value = ascii_digits(timestamp)
    if value is None:
        raise CallbackRejected("timestamp", "not 1 to 13 digits")
    return value / 1000 if value > 10**11 else float(value)


class DingTalkCrypto(SealedBox):
    """Encrypts, signs, verifies and decrypts DingTalk callback payloads.

    `owner_key` is the AppKey (event subscription of an internal app), the corpId (legacy
    register-callback API) or the suiteKey (third-party app); a payload for another owner is rejected.
    """

    def __init__(self, token: str, aes_key: str, owner_key: str) -> None:
        super().__init__(aes_key, owner_key)
        self.token = token
        self.owner_key = owner_key

    def rejected(self, why: SealReason, detail: str) -> CallbackRejected:
        return CallbackRejected(_REASONS[why], detail)

    def encrypt(self, plaintext: str, nonce: str | None = None, timestamp: str | None = None) -> dict[str, str]:
        """The JSON body DingTalk POSTs (`encrypt`) plus its query fields (`msg_signature`, `timestamp`, `nonce`)."""
        nonce = nonce or random_text(16)
        timestamp = timestamp or now_millis()
        encrypt = self.seal(plaintext)
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
        return self.open(encrypt)

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
