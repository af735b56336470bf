"""Settings of a `wecom_notify` instance: the keys of its table in `plugins.toml` (the app Secret never goes here)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class WeComSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    corp_id: str = Field(min_length=1, description="the corp's id (企业ID, corpid)")
    agent_id: int = Field(ge=1, description="AgentId of the self-built app that sends (its Secret is the connection's "
                                            "password)")
    message_type: Literal["textcard", "text"] = Field(
        "textcard", description="textcard: a card opening the message's first link (text when it has none); "
                                "text: the links inline")
    duplicate_check_interval: int = Field(
        14400, ge=1, le=14400, description="seconds WeCom drops a repeat of the same content to the same people "
                                           "(max 4 h): a retried send within it reaches nobody twice")
    member_per_minute: int = Field(
        20, ge=1, le=30, description="messages per member per minute this instance sends at most (WeCom silently "
                                     "drops what goes over 30/min or 1000/h)")
    http_timeout_seconds: float = Field(10.0, gt=0, description="read timeout of one WeCom call")
