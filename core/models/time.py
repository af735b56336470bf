"""Instants: timezone-aware, stored in UTC, with converters for vendor formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def _require_aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: instants must carry a time zone (they are stored in UTC)")
    return value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_require_aware_utc)]
"""A pydantic field type: rejects naive datetimes and normalises aware ones to UTC."""


_offset = timedelta(0)
_frozen: datetime | None = None


def utcnow() -> datetime:
    """The current instant: the wall clock (or the instant `freeze_clock` stopped it at), moved by
    `advance_clock` (only the sandbox moves or stops it)."""
    return (datetime.now(UTC) if _frozen is None else _frozen) + _offset


def advance_clock(delta: timedelta) -> datetime:
    """Move this process's `utcnow` by `delta` (the sandbox's virtual days); returns the new now."""
    global _offset
    _offset += delta
    return utcnow()


def freeze_clock(at: datetime) -> datetime:
    """Stop this process's clock at `at`: `utcnow` returns it until `advance_clock` moves it, so no wall-clock
    time leaks into what happens (`lifeline demo`: the same start, the same run). Returns `at` in UTC."""
    global _frozen, _offset
    _frozen, _offset = _require_aware_utc(at), timedelta(0)
    return _frozen


def reset_clock() -> None:
    """Back to the wall clock."""
    global _frozen, _offset
    _frozen, _offset = None, timedelta(0)


def from_epoch_seconds(value: int | float | str) -> datetime:
    """Vendor epoch seconds (DingTalk `expires_in`-style numbers, Feishu strings) to UTC; ValueError when the
    number is no instant (out of range, not finite)."""
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, OSError) as exc:
        raise ValueError(f"epoch time {value!r} is out of range") from exc


def from_epoch_millis(value: int | float | str) -> datetime:
    """Vendor epoch milliseconds (Feishu Hire, DingTalk v1.0) to UTC; ValueError when out of range."""
    try:
        return from_epoch_seconds(float(value) / 1000.0)
    except ValueError:
        raise ValueError(f"epoch time {value!r} ms is out of range") from None


def from_epoch(value: int | float | str) -> datetime:
    """Epoch seconds or milliseconds, told apart by magnitude (ms after 1973 exceed 1e11)."""
    number = float(value)
    return from_epoch_millis(number) if abs(number) >= 1e11 else from_epoch_seconds(number)


def parse_instant(value: str, zone: str | None = None) -> datetime:
    """An ISO 8601 string to UTC; a string without an offset is read in `zone` (an IANA name).

    Vendors document some fields as local wall time ("2024-05-01 14:00:00", Beijing time): pass the
    zone explicitly; a bare local time without one is an error, never a silent guess.
    """
    text = value.strip().replace("Z", "+00:00") if value.strip().endswith("Z") else value.strip()
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        if zone is None:
            raise ValueError(f"instant {value!r} has no UTC offset and no zone was given")
        parsed = parsed.replace(tzinfo=zone_info(zone))
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # a wall time at the ends of the calendar (year 1, year 9999)
        raise ValueError(f"instant {value!r} is out of range") from None


def zone_info(name: str) -> ZoneInfo:
    """An IANA zone, with an error message that names the bad zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name like Asia/Shanghai)") from exc


def to_epoch_millis(value: datetime) -> int:
    return int(_require_aware_utc(value).timestamp() * 1000)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
