"""Settings of a DingTalk connector instance (inline in its `plugins.toml` table; no secrets here).

Secrets live in the connection: login = AppKey, password = AppSecret, extras `callback_token` and
`callback_aes_key` (the event subscription's token and 43-character EncodingAESKey).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.core.models import InterviewKind


class DingTalkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    corp_id: str = Field(min_length=1, description="the org's corpId; callbacks about another org are rejected")
    agent_id: int = Field(description="the app's AgentId (work notifications)")
    robot_code: str | None = Field(None, description="the app's robot code; default: the AppKey")
    message_channel: Literal["work_notice", "robot"] = Field(
        "work_notice", description="send_message as a work notification (action card) or a robot 1:1 message")
    ding_remind_type: Literal[1, 2, 3] = Field(1, description="urgent messages: 1 in-app DING, 2 SMS, 3 phone")
    operator_union_id: str | None = Field(None, description="unionId that owns the todos Lifeline creates")
    todo_detail_url: str | None = Field(None, description="todo detail link when the action carries none")
    todo_due_hours: float = Field(24.0, gt=0, description="due time of todos whose action sets none")
    calendar_owners: list[str] = Field(default_factory=list, description="unionIds whose calendars hold interviews")
    interview_keywords: list[str] = Field(default_factory=lambda: ["面试", "interview"],
                                          description="an unmarked calendar event is an interview if its summary "
                                                      "contains one of these (case-insensitive)")
    ats_op_user_id: str | None = Field(None, description="userId the recruiting (ATS) queries run as")
    ats_biz_code: str = "ddats"
    ats_interview_kind: InterviewKind = InterviewKind.video
    approval_process_codes: list[str] = Field(default_factory=list, description="processCodes Lifeline starts")
    approval_marker_field: str = Field(
        "Lifeline-Ref", description="text field of those forms that carries `<idempotency key>|<interview id>`")
    approval_dept_id: int = Field(-1, description="deptId of started instances (-1: the root department)")
    attendance_user_ids: list[str] = Field(default_factory=list, description="interviewers' userIds (attendance)")
    attendance_days: int = Field(2, ge=0, le=6, description="days before today re-read by the attendance stream")
    lookback_days: int = Field(7, ge=1, le=30, description="how far back interviews, tasks and approvals are read")
    horizon_days: int = Field(30, ge=1, le=365, description="how far ahead interviews are read")
    receipts_window_hours: float = Field(
        24.0, gt=0, le=24, description="send results exist for about 24 h: poll receipts until then")
    qps_per_api: int = Field(20, ge=1, description="calls per second per API for this app (standard edition: 20)")
    poll_workers: int = Field(8, ge=1, le=64, description="concurrent receipt polls (the rate limiter paces them)")
    read_timeout_seconds: float = Field(30.0, gt=0)
    callback_max_skew_seconds: int = Field(300, ge=1, description="callbacks older or newer than this are rejected")
    callback_owner_key: str | None = Field(
        None, description="owner key in callback payloads: default the AppKey (event subscription); the corpId "
                          "for the legacy register-callback API")
