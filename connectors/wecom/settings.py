"""Settings of a `wecom` instance: the keys of its `plugins.toml` table (secrets live in the connection).

Connection: `password` = the self-built app's Secret; extras `contact_secret` (the customer-contact Secret,
when the app is not one of its callable apps), `callback_token` and `callback_aes_key` (the app's receive-
message settings: Token and 43-character EncodingAESKey).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class WeComSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    corp_id: str = Field(min_length=1, description="the corp's id (企业ID, corpid); callbacks for another corp are "
                                                   "rejected")
    agent_id: int = Field(ge=1, description="AgentId of the self-built app that sends")
    message_type: Literal["template_card", "textcard", "text"] = Field(
        "template_card", description="staff messages with links: template_card (a text_notice card: the first link "
                                     "opens it, up to 3 more listed below), textcard (opens the first link, the "
                                     "others written out) or text (links inline); without links always text")
    duplicate_check_interval: int = Field(
        14400, ge=1, le=14400, description="seconds WeCom drops a repeat of the same content to the same people "
                                           "(max 4 h): a retried send within it reaches nobody twice")
    member_per_minute: int = Field(
        28, ge=1, le=30, description="app messages per member per minute this instance sends at most (WeCom "
                                     "silently drops what goes over 30/min)")
    member_per_hour: int = Field(
        950, ge=1, le=1000, description="app messages per member per hour this instance sends at most (WeCom "
                                        "silently drops what goes over 1000/h)")
    contact_sender: str | None = Field(
        None, description="userid of the recruiter whose WeCom sends customer-contact messages to candidates (the "
                          "candidate's own follow-up member when known)")
    contact_confirm_hours: float = Field(
        2.0, gt=0, le=72, description="a staged customer-contact send the recruiter has not confirmed after this "
                                      "long counts as failed, so the reminder falls back to another channel")
    contact_poll_hours: float = Field(
        72.0, gt=0, le=720, description="how long send results of a customer-contact message are polled")
    contact_welcome_text: str = Field(
        "您好，感谢添加！之后的面试通知和提醒会通过这里发给您。", max_length=1000,
        description="welcome message sent to a candidate who just added the contact sender (empty: none)")
    http_timeout_seconds: float = Field(10.0, gt=0, description="read timeout of one WeCom call")
    callback_max_skew_seconds: int = Field(300, ge=1, description="callbacks older or newer than this are rejected")
