"""WeCom and WeChat callback crypto (WXBizMsgCrypt, reference wecom-wechat.md §5.4 and §9.5), and a safe XML reader.

The sealed box (AES-256-CBC, 32-byte PKCS#7, receive id after the message; sha1 signature over the sorted
token/timestamp/nonce/encrypt) is core.receiver.msgcrypt's, shared with DingTalk; this module adds WeCom's
envelope (XML `<Encrypt>`, or JSON `encrypt`), the official samples' error codes and the two URL checks.
The receive id is the corpid for a self-built WeCom app, the AppID for a WeChat Official Account, "" for a
WeCom AI bot.

WeCom verifies a callback URL with a GET whose `echostr` is encrypted (answer: its plaintext); the Official
Account signs its GET with sha1 of the sorted [token, timestamp, nonce] only and wants `echostr` back as
received (`OfficialAccountCrypto`). Encrypted POSTs are the same for both.
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal, TypeAlias

from lifeline_hub.core.connector import CallbackRejected
from lifeline_hub.core.receiver.msgcrypt import SealedBox, SealReason, random_text, signature
from lifeline_hub.core.receiver.untrusted import ascii_digits, load_json, same_digest

__all__ = ["CryptoRejected", "OfficialAccountCrypto", "Sealed", "WXBizMsgCrypt", "XmlValue", "envelope_encrypt",
           "parse_xml", "random_text", "signature", "timestamp_seconds"]

RejectReason = Literal[SealReason, "signature", "envelope", "timestamp"]

REASON_CODES: dict[RejectReason, int | None] = {
    "signature": -40001,  # ValidateSignature_Error
    "envelope": -40002,  # ParseXml_Error
    "receive_id": -40005,  # ValidateCorpid_Error
    "decrypt": -40007,  # DecryptAES_Error
    "padding": -40007,
    "length": -40008,  # IllegalBuffer
    "base64": -40010,  # DecodeBase64_Error
    "timestamp": None,  # not a WXBizMsgCrypt check: the receiver's freshness rule
}
"""Error codes of the official WXBizMsgCrypt samples, for logs and emulator answers."""

XML_MAX_DEPTH = 8
"""Callback XML nests at most 3 levels (SubscribeMsgSentEvent/List/...); deeper input is refused."""


class CryptoRejected(CallbackRejected):
    """A callback that must not be trusted (401 at the receiver); `why` names the check, `code` the sample's code.

    The message never echoes the payload."""

    def __init__(self, why: RejectReason, detail: str = "") -> None:
        code = REASON_CODES[why]
        super().__init__(f"{why}{f' ({code})' if code else ''}{f': {detail}' if detail else ''}")
        self.why: RejectReason = why
        self.code = code


def timestamp_seconds(timestamp: str) -> int:
    """A callback `timestamp` (epoch seconds: 1 to 10 ASCII digits), else `CryptoRejected("timestamp")`."""
    value = ascii_digits(timestamp, max_digits=10)
    if value is None:
        raise CryptoRejected("timestamp", "not 1 to 10 digits")
    return value


@dataclass(frozen=True)
class Sealed:
    """One encrypted message: the `Encrypt` value and what signs it."""

    encrypt: str
    msg_signature: str
    timestamp: str
    nonce: str

    @property
    def query(self) -> dict[str, str]:
        """The query a callback POST carries (`?msg_signature&timestamp&nonce`)."""
        return {"msg_signature": self.msg_signature, "timestamp": self.timestamp, "nonce": self.nonce}

    def event_xml(self, to_user_name: str, agent_id: str = "") -> str:
        """The body WeCom POSTs to a callback URL (§5.3); `agent_id` empty for corp-level callbacks."""
        return (f"<xml><ToUserName><![CDATA[{to_user_name}]]></ToUserName><Encrypt><![CDATA[{self.encrypt}]]>"
                f"</Encrypt><AgentID><![CDATA[{agent_id}]]></AgentID></xml>")

    def reply_xml(self) -> str:
        """A passive reply's envelope (§5.6)."""
        return (f"<xml><Encrypt><![CDATA[{self.encrypt}]]></Encrypt><MsgSignature><![CDATA[{self.msg_signature}]]>"
                f"</MsgSignature><TimeStamp>{self.timestamp}</TimeStamp><Nonce><![CDATA[{self.nonce}]]></Nonce></xml>")


class WXBizMsgCrypt(SealedBox):
    """Encrypts, signs, verifies and decrypts WeCom callback payloads for one app (Token, EncodingAESKey).

    A payload sealed for another receive id (corp, suite or AppID) is rejected (`why == "receive_id"`)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        super().__init__(encoding_aes_key, receive_id)
        self.token = token

    def rejected(self, why: SealReason, detail: str) -> CryptoRejected:
        return CryptoRejected(why, detail)

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return signature(self.token, timestamp, nonce, encrypt)

    def decrypt(self, encrypt: str, msg_signature: str, timestamp: str, nonce: str) -> str:
        """Check `msg_signature` over the ciphertext, then open it."""
        if not same_digest(self.sign(timestamp, nonce, encrypt), msg_signature.lower()):
            raise CryptoRejected("signature", "msg_signature does not match")
        return self.open(encrypt)

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """WeCom's URL check (GET, §5.2): the plaintext of `echostr` to answer with (query values URL-decoded)."""
        return self.decrypt(echostr, msg_signature, timestamp, nonce)

    def decrypt_message(self, body: bytes | str, msg_signature: str, timestamp: str, nonce: str) -> str:
        """The plaintext of a callback POST: XML `<Encrypt>` (or a JSON body's `encrypt`), signature checked."""
        return self.decrypt(envelope_encrypt(body), msg_signature, timestamp, nonce)

    def encrypt_message(self, message: str, timestamp: str | None = None, nonce: str | None = None,
                        prefix: bytes | None = None) -> Sealed:
        """Seal and sign `message` (an event an emulator pushes, or a passive reply)."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        encrypt = self.seal(message, prefix)
        return Sealed(encrypt, self.sign(timestamp, nonce, encrypt), timestamp, nonce)


class OfficialAccountCrypto(WXBizMsgCrypt):
    """The WeChat Official Account (and mini program) variant (§9.5): receive id = AppID; the GET check and the
    plain `signature` of every request cover [token, timestamp, nonce] only, and `echostr` goes back as is."""

    def check_signature(self, sig: str, timestamp: str, nonce: str) -> None:
        """The `signature` query value of an Official Account request, else `CryptoRejected("signature")`."""
        if not same_digest(signature(self.token, timestamp, nonce), sig.lower()):
            raise CryptoRejected("signature", "signature does not match")

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The Official Account's URL check: `echostr` itself once the signature holds (nothing to decrypt)."""
        self.check_signature(msg_signature, timestamp, nonce)
        return echostr


def envelope_encrypt(body: bytes | str) -> str:
    """The `Encrypt` of a callback body: XML `<xml><Encrypt>` or JSON `{"encrypt": ...}` (AI bots, JSON callbacks)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    value: object = None
    if text.lstrip().startswith("{"):
        try:
            found = load_json(text)
        except ValueError:
            raise CryptoRejected("envelope", "body is neither XML nor JSON") from None
        value = found.get("encrypt") if isinstance(found, dict) else None
    else:
        try:
            value = parse_xml(text).get("Encrypt")
        except ValueError:
            raise CryptoRejected("envelope", "body is not readable XML") from None
    if not isinstance(value, str) or not value:
        raise CryptoRejected("envelope", "no Encrypt in the body")
    return value


XmlValue: TypeAlias = "str | dict[str, XmlValue] | list[XmlValue]"


def parse_xml(text: bytes | str) -> dict[str, XmlValue]:
    """The children of the document's root element (`<xml>`), by tag.

    A leaf's value is its text ("" when empty; CDATA read as text, surrounding whitespace kept); an element with
    children is a dict of the same shape (`SubscribeMsgSentEvent` -> {"List": {...}}); a tag that repeats among
    its siblings gives a list of those values, in order. Attributes and text beside child elements are ignored.
    Raises ValueError for non-UTF-8 bytes, a DOCTYPE or ENTITY declaration (no DTD, external entity or entity
    expansion is ever processed), nesting deeper than `XML_MAX_DEPTH`, and anything that is not well-formed XML.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("XML is not UTF-8") from None
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise ValueError("XML with a DOCTYPE or ENTITY declaration is refused")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD can reach it (checked above)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    value = _children(root, 1)
    return value if isinstance(value, dict) else {}


def _children(element: ET.Element, depth: int) -> XmlValue:
    if len(element) == 0:
        return element.text or ""
    if depth > XML_MAX_DEPTH:
        raise ValueError("XML nested too deeply")
    by_tag: dict[str, list[XmlValue]] = {}
    for child in element:
        by_tag.setdefault(child.tag, []).append(_children(child, depth + 1))
    return {tag: values[0] if len(values) == 1 else values for tag, values in by_tag.items()}
