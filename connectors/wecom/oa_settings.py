"""Settings of a `wechat` instance: the keys of its `plugins.toml` table (secrets live in the connection).

Connection: `password` = the Official Account's AppSecret (`login`, when set, must be the AppID); extras
`callback_token` and `callback_aes_key` (the account's server settings: Token and 43-character
EncodingAESKey, message encryption in safe mode).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.connectors.wecom.oa_client import TokenApi
from lifeline_hub.connectors.wecom.oa_templates import TemplateSpec
from lifeline_hub.core.models import NotificationPurpose


class WeChatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: str = Field(min_length=1, description="the Official Account's AppID (the receive id of its callbacks)")
    original_id: str | None = Field(None, description=(
        "the account's original id (gh_...): when set, callbacks addressed to another account are rejected"))
    mode: Literal["template", "subscribe"] = Field("template", description=(
        "template: template messages to followers; subscribe: one-time subscription notifications (a credit each)"))
    templates: dict[NotificationPurpose, TemplateSpec] = Field(default_factory=dict, description=(
        "purpose -> the approved template (of the mode's kind) and what fills its keywords"))
    token_api: TokenApi = Field("stable_token", description=(
        "stable_token (normal mode: shares the AppID's token with other callers) or token (classic: this instance "
        "must be the AppID's only token owner)"))
    http_timeout_seconds: float = Field(10.0, gt=0, description="read timeout of one WeChat call")
    callback_max_skew_seconds: int = Field(300, ge=1, description="callbacks older or newer than this are rejected")
