"""Helpers of the WeChat Official Account tests: candidates, the connector, actions, emulator driving."""

from __future__ import annotations

from typing import Any

import requests

from lifeline_hub.connectors.wecom.oa_plugin import WeChatConnector
from lifeline_hub.connectors.wecom.oa_settings import WeChatSettings
from lifeline_hub.connectors.wecom.oa_state import EmulatorSettings
from lifeline_hub.core import Credentials, Instance
from lifeline_hub.core.models import Action, Candidate, Channel, ContactPoint, utcnow
from lifeline_hub.core.store import Store

TENANT, SOURCE, ATS = "acme", "acme.wechat", "acme.ats"
ACCOUNT = EmulatorSettings()
FOLLOWER1, FOLLOWER2, STRANGER = "oEmulatorFollower0001", "oEmulatorFollower0002", "oNotFollowingTheAccount01"
TEMPLATES = {
    "reminder_t1d": {"template_id": "TPL-interview-reminder",
                     "keywords": {"thing1": "title", "time2": "line1", "thing3": "line2"}},
    "reschedule_offer": {"template_id": "TPL-reschedule-offer", "keywords": {"thing1": "title", "time2": "text"}},
}
SUBSCRIBE_TEMPLATES = {"reminder_t1d": {"template_id": "SUB-interview-reminder",
                                        "keywords": {"thing1": "title", "time2": "line1"}}}


def candidates() -> list[Candidate]:
    def on_wechat(remote_id: str, openid: str) -> Candidate:
        return Candidate(source=ATS, remote_id=remote_id, name="张三",
                         contacts=(ContactPoint.im(Channel.wechat, openid), ContactPoint.phone("+86 138-1234-5678")))

    return [on_wechat("cand1", FOLLOWER1), on_wechat("cand2", FOLLOWER2), on_wechat("cand3", STRANGER),
            Candidate(source=ATS, remote_id="cand4", name="李四", contacts=(ContactPoint.phone("+86 139-8765-4321"),))]


def seed(store: Store) -> Store:
    store.write(TENANT, candidates())
    return store


def credentials(secret: str = ACCOUNT.app_secret, login: str | None = ACCOUNT.app_id) -> Credentials:
    return Credentials("wechat_test", login=login, password=secret,
                       extra={"callback_token": ACCOUNT.callback_token, "callback_aes_key": ACCOUNT.callback_aes_key})


def make_connector(url: str, contacts: Store | None, creds: Credentials | None = None,
                   **settings: Any) -> WeChatConnector:
    config = WeChatSettings.model_validate({"app_id": ACCOUNT.app_id, "original_id": ACCOUNT.original_id,
                                            "templates": TEMPLATES, "http_timeout_seconds": 2.0, **settings})
    return WeChatConnector(Instance(TENANT, SOURCE, base_urls={"api": url}), config, creds or credentials(),
                           contacts=contacts)


def send_action(key: str, *openids: str, attempts: int = 1, **payload: Any) -> Action:
    """A `send_message` row to candidates' openids (as the planner writes it) at its `attempts`-th try (after the
    first: `maybe_sent`)."""
    body = {"recipients": list(openids or (FOLLOWER1,)), "title": "Java 工程师面试",
            "text": "2026年3月3日 10:00\n线上面试", "purpose": "reminder_t1d", "audience": "candidate",
            "interview_id": f"{ATS}/iv1", "links": [{"label": "进入面试", "url": "https://lifeline.test/j/abc"}],
            **payload}
    return Action(idempotency_key=key, tenant=TENANT, connector=SOURCE, kind="send_message", payload=body,
                  due_at=utcnow(), attempts=attempts, maybe_sent=attempts > 1)


def drive(url: str, verb: str, **kwargs: Any) -> Any:
    """Drive the emulator through its control endpoint, as another process would."""
    answer = requests.post(f"{url}/_emulator/drive/{verb}", json=kwargs, timeout=10)
    answer.raise_for_status()
    return answer.json()["result"]
