"""Redaction of secrets and personal data in text, structured data and log records.

Masks the values of sensitive query parameters, headers and JSON keys (tokens, secrets, passwords,
signatures, encryption keys), `Bearer …` credentials, phone numbers (`138****1234`) and e-mail
addresses (`a***@example.com`). Over-masking is preferred to leaking.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import phonenumbers

MASK = "***"

# Key names whose values are secret, matched case-insensitively as whole keys.
_KEY = (
    r"(?:[\w-]*?(?:(?:access|refresh|verification|auth|session|id|security|x)[_-]?token|secret|password|passwd"
    r"|signature|aes[_-]?key|encrypt[_-]?key|api[_-]?key|private[_-]?key)|token|sign|authorization|cookie"
    r"|secrit)"  # (sic): Weaver e-cology's regist answer
)
_KEY_RE = re.compile(_KEY, re.IGNORECASE)
# "key": "value" / 'key': 'value' / \"key\":\"value\" (JSON inside a JSON string).
_QUOTED = re.compile(rf"(?<![\w-])({_KEY})(\\?[\"']\s*[:=]\s*)(\\?[\"'])((?:\\.|[^\\])*?)\3", re.IGNORECASE)
# key=value (query, form), key: value (headers), "key": 123 (unquoted JSON values).
_UNQUOTED = re.compile(
    rf"(?<![\w-])({_KEY})(\\?[\"']?\s*[:=]\s*)(?![\s\"'\\])((?:(?:Bearer|Basic)\s+)?[^\s\"'\\&,;}}\])]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(Bearer)\s+(?!\*\*\*)[\w.~+/=-]+", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.%+-])([\w.%+-]+)@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})\b")
_MAYBE_PHONE = re.compile(r"\d(?:[\s().-]?\d){6,}")
_E164 = re.compile(r"(?<![\w+])\+[1-9]\d{6,14}(?!\d)")


def _mask_digits(digits: str) -> str:
    if len(digits) >= 9:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    keep = 2 if len(digits) >= 6 else 0
    return "*" * (len(digits) - keep) + digits[len(digits) - keep :]


def _mask_number(number: phonenumbers.PhoneNumber) -> str:
    national = _mask_digits(phonenumbers.national_significant_number(number))
    return national if number.country_code == 86 else f"+{number.country_code} {national}"


def mask_phone(national_or_e164: str) -> str:
    """`13812341234` or `+8613812341234` -> `138****1234`; other countries keep `+CC `."""
    try:
        return _mask_number(phonenumbers.parse(national_or_e164, "CN"))
    except phonenumbers.NumberParseException:
        return _mask_digits(re.sub(r"\D", "", national_or_e164))


def mask_email(address: str) -> str:
    """`alice@example.com` -> `a***@example.com`; anything without `@` is masked whole."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return MASK
    return f"{local[0]}{MASK}@{domain}"


def _mask_phones(text: str) -> str:
    if not _MAYBE_PHONE.search(text):
        return text
    spans = [(m.start, m.end, _mask_number(m.number)) for m in phonenumbers.PhoneNumberMatcher(text, "CN")]
    spans += [(m.start(), m.end(), mask_phone(m.group())) for m in _E164.finditer(text)]
    out, pos = [], 0
    for start, end, masked in sorted(spans):
        if start >= pos:
            out += [text[pos:start], masked]
            pos = end
    return "".join([*out, text[pos:]])


def redact(text: str) -> str:
    """Mask secrets, bearer credentials, e-mail addresses and phone numbers in free text."""
    text = _BEARER.sub(rf"\1 {MASK}", text)
    text = _QUOTED.sub(rf"\1\2\3{MASK}\3", text)
    text = _UNQUOTED.sub(rf"\1\2{MASK}", text)
    text = _EMAIL.sub(lambda m: mask_email(m.group()), text)
    return _mask_phones(text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


def redact_json(value: Any) -> Any:
    """A copy of a JSON-like value with secret keys masked, strings redacted and numbers that are phone
    numbers masked: what the store keeps of vendor data that is no canonical record (quarantine)."""
    if isinstance(value, Mapping):
        return {key: MASK if _KEY_RE.fullmatch(str(key)) else redact_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(item) for item in value]
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int) and not isinstance(value, bool):
        masked = redact(str(value))
        return value if masked == str(value) else masked
    return value


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `data` (nested dicts/lists too) with secret keys masked and strings redacted."""
    return {key: MASK if _KEY_RE.fullmatch(str(key)) else _redact_value(value) for key, value in data.items()}


class RedactingFilter(logging.Filter):
    """Redacts a record's message, arguments and traceback in place; never drops a record.

    Attach it to a logger (records logged there) or to a handler (everything it emits).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not turn logging into a crash
            message = f"{record.msg!s} {record.args!s}"
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


LOGGERS = ("lifeline", "lifeline_hub", "urllib3")
"""Lifeline's named loggers (`lifeline.http`), its module loggers (`__name__`), and urllib3's, whose DEBUG request
lines carry the query string (`?access_token=` of DingTalk's oapi, WeCom and WeChat)."""


def install_redaction(logger_name: str = "lifeline") -> RedactingFilter:
    """Redact every record from `logger_name` and its child loggers, whichever handler emits it.

    Logger filters do not see records of child loggers, so this hooks the log-record factory, once per
    logger name however often it is called (the CLI and the DAGs call it at start-up). Records made
    without a name (`logging.makeLogRecord`, as structlog's formatter does) pass through untouched.
    """
    redacting = RedactingFilter()
    previous = logging.getLogRecordFactory()
    covered: frozenset[str] = getattr(previous, "redacted_loggers", frozenset())
    if logger_name in covered:
        return redacting
    prefix = f"{logger_name}."

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        name = record.name
        if isinstance(name, str) and (name == logger_name or name.startswith(prefix)):
            redacting.filter(record)
        return record

    factory.redacted_loggers = covered | {logger_name}  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
    return redacting


def install_lifeline_redaction() -> None:
    """Redact every logger in `LOGGERS`: what the CLI and each DAG task do at start-up."""
    for name in LOGGERS:
        install_redaction(name)
