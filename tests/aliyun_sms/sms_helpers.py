"""Helpers of the Aliyun SMS tests: candidates, the connector, actions, emulator driving."""

from __future__ import annotations

from typing import Any

import requests

from lifeline_hub.connectors.aliyun_sms.emulator import SmsWorld
from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector
from lifeline_hub.connectors.aliyun_sms.settings import AliyunSmsSettings
from lifeline_hub.core import Credentials, Instance
from lifeline_hub.core.models import Action, Candidate, ContactPoint, utcnow
from lifeline_hub.core.store import Store

KEY_ID, SECRET = "LTAI5tEmulatorKeyId00001", "emulator-access-key-secret-00001"
PUSH_TOKEN = "push-token-for-tests"
TENANT, SOURCE, ATS = "acme", "acme.sms", "acme.ats"
MAINLAND, HONG_KONG = "+86 138-1234-5678", "+852 6123 4567"
RAW_NUMBERS = ("13812345678", "8613812345678", "85261234567", "61234567")
"""Forms of the candidates' numbers that must never show up in logs."""
REMINDER = "SMS_900000001"


def candidates() -> list[Candidate]:
    return [
        Candidate(source=ATS, remote_id="cand1", name="张三", contacts=(ContactPoint.phone(MAINLAND),)),
        Candidate(source=ATS, remote_id="cand2", name="Chan", contacts=(ContactPoint.phone(HONG_KONG),)),
        Candidate(source=ATS, remote_id="cand3", name="李四", contacts=(ContactPoint.email("li.si@example.org"),)),
    ]


def seed(store: Store) -> Store:
    store.write(TENANT, candidates())
    return store


def make_connector(url: str, contacts: Store | None, *, key_id: str = KEY_ID, secret: str = SECRET,
                   **settings: Any) -> AliyunSmsConnector:
    config = AliyunSmsSettings.model_validate({
        "sign_name": "面试助手", "templates": {"reminder_t1d": REMINDER}, "http_timeout_seconds": 2.0, **settings,
    })
    creds = Credentials("sms", login=key_id, password=secret, extra={"push_token": PUSH_TOKEN})
    return AliyunSmsConnector(Instance(TENANT, SOURCE, base_urls={"api": url}), config, creds, contacts=contacts)


def send_action(key: str, recipient: str = "cand1", *, attempts: int = 1, **payload: Any) -> Action:
    """A `send_sms` row at its `attempts`-th try (after the first, an earlier try handed it to the gateway)."""
    body = {"recipient": f"{ATS}/{recipient}", "purpose": "reminder_t1d",
            "params": {"name": "张三", "time": "2026-03-02 10:00"}, "interview_id": f"{ATS}/iv1", **payload}
    return Action(idempotency_key=key, tenant=TENANT, connector=SOURCE, kind="send_sms", payload=body,
                  due_at=utcnow(), attempts=attempts, maybe_sent=attempts > 1)


def drive(url: str, verb: str, **kwargs: Any) -> Any:
    """Drive the emulator through its control endpoint, as another process would."""
    answer = requests.post(f"{url}/_emulator/drive/{verb}", json=kwargs, timeout=10)
    answer.raise_for_status()
    return answer.json()["result"]


def calls(world: SmsWorld, api: str) -> int:
    return sum(n for key, n in world.quota.calls.items() if key.endswith(f" {api}"))
