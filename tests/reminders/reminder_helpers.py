"""Helpers of the reminder tests: a tenant with SMS, e-mail and DingTalk instances, people and interviews."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lifeline_hub.connectors.aliyun_sms import plugin as sms_plugin
from lifeline_hub.connectors.aliyun_sms.emulator_state import Template
from lifeline_hub.connectors.dingtalk import plugin as dingtalk_plugin
from lifeline_hub.connectors.email import plugin as email_plugin
from lifeline_hub.core.config import Config, load
from lifeline_hub.core.models import (
    Action,
    AppointmentThread,
    Candidate,
    Channel,
    ContactPoint,
    Interview,
    InterviewKind,
    InterviewStatus,
    NotificationPurpose,
)
from lifeline_hub.core.outbox import rows
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.store import Store

TENANT, ATS = "acme", "acme.ats"
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
"""10:00 in Beijing: outside the default quiet hours."""
SIGN = "面试助手"
TEMPLATES = {p: f"SMS_93000000{i}" for i, p in enumerate(
    ("reminder_t3d", "reminder_t1d", "reminder_t1h", "confirm_request", "urgent"), start=1)}
SMS_TEXT = "${name}您好，您${time}的面试，进入：https://lifeline.example/j/${code} 确认：https://lifeline.example/c/${confirm}"
SMS_KEY = ("LTAI5tEmulatorKeyId00001", "emulator-access-key-secret-00001")


def sms_templates() -> dict[str, Template]:
    return {code: Template(content=SMS_TEXT) for code in TEMPLATES.values()}


def host() -> PluginHost:
    plugins = PluginHost()
    plugins.register(sms_plugin, "aliyun_sms")
    plugins.register(email_plugin, "email")
    plugins.register(dingtalk_plugin, "dingtalk")
    return plugins


def make_config(directory: Path, store_url: str, *, sms_url: str = "http://127.0.0.1:9",
                smtp_url: str = "smtp://127.0.0.1:9", **policy: Any) -> Config:
    def toml(value: Any) -> str:
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"
        return json.dumps(value, ensure_ascii=False)

    lines = [
        "[lifeline]", f"store = {toml(store_url)}", f"[tenants.{TENANT}]", 'timezone = "Asia/Shanghai"',
        f"[tenants.{TENANT}.policy]", *(f"{k} = {toml(v)}" for k, v in policy.items()),
        f"[tenants.{TENANT}.connectors.sms]", 'plugin = "aliyun_sms"', 'connection_id = "ll_rem_sms"',
        f"base_urls = {toml({'api': sms_url})}", f"sign_name = {toml(SIGN)}", f"templates = {toml(TEMPLATES)}",
        "http_timeout_seconds = 2.0",
        f"[tenants.{TENANT}.connectors.mail]", 'plugin = "email"', f"base_urls = {toml({'smtp': smtp_url})}",
        'from_address = "recruiting@hub.example.com"', "starttls = false", "timeout_seconds = 2.0",
        f"[tenants.{TENANT}.connectors.dt]", 'plugin = "dingtalk"', 'connection_id = "ll_rem_dt"',
        'corp_id = "dingemulatorcorp0001"', "agent_id = 3000000001", 'operator_union_id = "unionhr1"',
    ]
    path = directory / "plugins.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load(path, host())


def candidate(store: Store, remote_id: str = "c1", *, zone: str = "Asia/Shanghai", phone: str | None = "13812345678",
              email: str | None = "zhang.san@example.org", preferred: tuple[Channel, ...] = (),
              locale: str = "zh-CN") -> str:
    contacts = [*([ContactPoint.phone(phone)] if phone else []), *([ContactPoint.email(email)] if email else [])]
    store.write(TENANT, [Candidate(source=ATS, remote_id=remote_id, name="张三", locale=locale, timezone=zone,
                                   preferred_channels=preferred, contacts=tuple(contacts))])
    return f"{ATS}/{remote_id}"


def interview(store: Store, remote_id: str, start: datetime, *, sequence: int = 0, cand: str = "c1",
              status: InterviewStatus = InterviewStatus.scheduled, interviewers: tuple[str, ...] = ()) -> Interview:
    record = Interview(source=ATS, remote_id=remote_id, kind=InterviewKind.video, start_at=start,
                       end_at=start + timedelta(minutes=45), status=status,
                       thread=AppointmentThread(thread_id=f"t-{remote_id}", ical_uid=f"{remote_id}@lifeline.test",
                                                sequence=sequence),
                       candidate_id=f"{ATS}/{cand}", join_url=f"https://vc.example/{remote_id}",
                       interviewer_ids=interviewers)
    store.write(TENANT, [record])
    return record


def outbox(store: Store, interview_id: str, status: str | None = None) -> list[Action]:
    found = [r.action for r in rows(store, TENANT, interview_id=interview_id)]
    return sorted((a for a in found if status is None or a.status.value == status), key=lambda a: (a.due_at, a.kind))


def purposes(actions: list[Action]) -> list[tuple[str, str]]:
    """(purpose, kind) of each row, earliest first."""
    return [(str(a.payload["purpose"]), a.kind) for a in actions]


def purpose(action: Action) -> NotificationPurpose:
    return NotificationPurpose(action.payload["purpose"])
