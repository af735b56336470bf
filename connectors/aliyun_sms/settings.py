"""Settings of an `aliyun_sms` instance (inline in its `plugins.toml` table)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.core.models import NotificationPurpose


class AliyunSmsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sign_name: str = Field(min_length=1, description="the approved general signature (签名)")
    templates: dict[NotificationPurpose, str] = Field(
        default_factory=dict, description="purpose -> approved notification TemplateCode (one template per purpose)"
    )
    signature_version: Literal["v3", "v2"] = Field("v3", description="ACS3-HMAC-SHA256 (SDK default) or HMAC-SHA1")
    receipt_window_hours: int = Field(72, ge=1, le=720, description="poll a send this long before giving up")
    report_lag_seconds: int = Field(60, ge=0, description="watermark margin for receipts not yet listed")
    push_max_age_minutes: int = Field(30, ge=1, description="receipt pushes older than this are refused")
    http_timeout_seconds: float = Field(10.0, gt=0)
