"""Contact points: phone numbers and e-mails normalised, masked for display, hashed for look-up.

The raw value stays inside the store (it is needed to send); everywhere else a contact point
shows only its mask (`138****1234`, `a***@example.com`) and is found by a keyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

import phonenumbers
from pydantic import BaseModel, ConfigDict, SecretStr

from lifeline_hub.core.http.redact import mask_email, mask_phone
from lifeline_hub.core.models.channels import Channel

HASH_KEY_ENV = "LIFELINE_HASH_KEY"
DEV_HASH_KEY = "lifeline-development-hash-key"
"""Used when LIFELINE_HASH_KEY is unset (the demo, sandbox tenants and tests); `lifeline check` warns about it,
and the commands and DAG tasks refuse it for tenants that are not sandboxes (`Config.require_hash_key`)."""
MIN_HASH_KEY_BYTES = 32


def hash_key() -> bytes:
    """The deployment's secret: it keys the contact look-up hashes and signs HR's links (`hr-link:` messages)."""
    return (os.environ.get(HASH_KEY_ENV) or DEV_HASH_KEY).encode()


def hash_key_problem() -> str | None:
    """Why the key protects nothing (None when it is a real secret): unset, the public development key, or short."""
    value = os.environ.get(HASH_KEY_ENV)
    if not value:
        return f"{HASH_KEY_ENV} is not set: HR links would be signed with the public development key"
    if value == DEV_HASH_KEY:
        return f"{HASH_KEY_ENV} is the public development key: anyone could sign HR links"
    if len(value.encode()) < MIN_HASH_KEY_BYTES:
        return f"{HASH_KEY_ENV} is shorter than {MIN_HASH_KEY_BYTES} bytes: HR links could be forged by guessing it"
    return None


def lookup_hash(channel: Channel, normalised: str) -> str:
    """Keyed hash (HMAC-SHA256) of a normalised value: equal contacts hash equal, nothing leaks."""
    digest = hmac.new(hash_key(), f"{channel.value}:{normalised}".encode(), hashlib.sha256)
    return digest.hexdigest()


def normalise_phone(raw: str, region: str = "CN") -> str:
    """E.164 form of a phone number, parsed by libphonenumber; ValueError when it is not valid."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number for its region")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    value = raw.strip()
    local, sep, domain = value.rpartition("@")
    if not sep or not local or "." not in domain or " " in value:
        raise ValueError("not an e-mail address")
    return f"{local}@{domain.lower()}"


class ContactPoint(BaseModel):
    """One way to reach a person. `value` is secret; `masked` and `lookup` are safe to show."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Channel
    value: SecretStr
    masked: str
    lookup: str

    @classmethod
    def phone(cls, raw: str, region: str = "CN", channel: Channel = Channel.sms) -> ContactPoint:
        e164 = normalise_phone(raw, region)
        national = str(phonenumbers.parse(e164).national_number)
        return cls(channel=channel, value=SecretStr(e164), masked=mask_phone(national),
                   lookup=lookup_hash(channel, e164))

    @classmethod
    def email(cls, raw: str, channel: Channel = Channel.email) -> ContactPoint:
        value = normalise_email(raw)
        return cls(channel=channel, value=SecretStr(value), masked=mask_email(value),
                   lookup=lookup_hash(channel, value))

    @classmethod
    def im(cls, channel: Channel, user_id: str) -> ContactPoint:
        """An IM account (DingTalk userId, Feishu open_id): not personal data in itself, shown as is."""
        return cls(channel=channel, value=SecretStr(user_id), masked=user_id,
                   lookup=lookup_hash(channel, user_id))

    @classmethod
    def parse(cls, channel: Channel, raw: str, region: str = "CN") -> ContactPoint:
        address = channel.info.address
        if address == "phone":
            return cls.phone(raw, region, channel)
        if address == "email":
            return cls.email(raw, channel)
        return cls.im(channel, raw)

    def __str__(self) -> str:
        return f"{self.channel.value}:{self.masked}"

    def __repr_args__(self) -> Any:
        return [("channel", self.channel), ("masked", self.masked)]
