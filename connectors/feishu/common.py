"""Settings of a Feishu instance and the small conversions every module shares.

Staff ids in canonical records carry the configured ID type as a prefix — `open_id:ou_…`,
`union_id:on_…`, `user_id:5f3c9a1e` — so records from instances with different `id_type`s never
collide and a reader always knows how to address the person again. Action payloads take either
that form or a bare id (read as the instance's `id_type`).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.core.models import from_epoch_millis

IdType = Literal["open_id", "union_id", "user_id"]
ID_TYPES: tuple[IdType, ...] = ("open_id", "union_id", "user_id")


class FeishuSettings(BaseModel):
    """Inline settings of a `feishu` instance in plugins.toml."""

    model_config = ConfigDict(extra="forbid")

    host: Literal["feishu", "lark"] = Field("feishu", description="open.feishu.cn or open.larksuite.com")
    id_type: IdType = Field("open_id", description="user ID type for requests and canonical records")
    calendar_id: str | None = Field(None, description="interview calendar (events, RSVPs, meetings)")
    tasklist_guid: str | None = Field(None, description="tasklist Lifeline's tasks go in (polled for state)")
    approval_codes: tuple[str, ...] = Field((), description="approval definitions polled for instance state")
    approval_approver_node: str | None = Field(None, description="node key that takes the payload's approvers")
    urgent_sms_allowed: bool = Field(False, description="urgent messages may use the paid SMS quota")
    urgent_phone_allowed: bool = Field(False, description="urgent messages may use the paid phone-call quota")
    meeting_attendance: bool = Field(False, description="app holds the VC report scope (vc:room:readonly)")
    card_callbacks: bool = Field(True, description=(
        "the app's callback URL takes card.action.trigger: answer buttons call back (off: they open Lifeline's page)"))
    interview_lookback_days: int = Field(3, ge=1, le=30)
    interview_horizon_days: int = Field(30, ge=1, le=180)
    history_days: int = Field(14, ge=1, le=90, description="how far back tasks, approvals and meetings are read")
    receipt_workers: int = Field(8, ge=1, le=64, description="concurrent read_users calls (50/s x RTT)")
    http_timeout_seconds: float = Field(10.0, gt=0, le=60)
    callback_max_age_seconds: int = Field(300, ge=10, description="older signed callbacks are rejected")


def staff_id(id_type: str, value: str) -> str:
    """`open_id:ou_…`: a platform user id with its type."""
    return f"{id_type}:{value}"


def split_staff_id(value: str, default: IdType) -> tuple[IdType, str]:
    """(`id_type`, id) of a payload recipient: `type:id` or a bare id of the default type."""
    prefix, sep, rest = value.partition(":")
    for id_type in ID_TYPES:
        if sep and prefix == id_type and rest:
            return id_type, rest
    return default, value


def millis(value: object) -> datetime:
    """A positive epoch-ms number or numeric string (Feishu's 64-bit times) as UTC."""
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit() or int(value) <= 0:
        raise ValueError(f"not an epoch-milliseconds time: {value!r}")
    return from_epoch_millis(int(value))


_VC_TIME = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2}) (\d{2}):(\d{2}):(\d{2}) \(GMT([+-])(\d{2}):(\d{2})\)$")


def vc_time(text: object) -> datetime:
    """VC report times, e.g. `2022.12.23 11:16:59 (GMT+08:00)`, as UTC."""
    found = _VC_TIME.match(str(text).strip())
    if not found:
        raise ValueError(f"not a VC report time: {text!r}")
    y, mo, d, h, mi, s, sign, oh, om = found.groups()
    offset = timedelta(hours=int(oh), minutes=int(om)) * (1 if sign == "+" else -1)
    local = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=timezone(offset))
    return local.astimezone(UTC)


def bounded_key(key: str, low: int, high: int) -> str:
    """`key` when its length is within [low, high], else a deterministic `ll-<sha256>` of it that is."""
    if low <= len(key) <= high:
        return key
    digest = "ll-" + hashlib.sha256(key.encode()).hexdigest()
    return digest[: max(low, min(high, len(digest)))]
