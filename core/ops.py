"""Ops alerts: a failed task or a missed deadline, told to the tenant's ops channel through its own connector.

`policy.ops_connector` names an instance that performs `send_message` (DingTalk, Feishu, WeCom) and
`policy.ops_recipients` the people on it. An alert is an outbox row (`send_message`, staff audience) whose
key derives from what it is about, so a callback that runs twice plans it once, and it is sent as every
row is: exactly once, its text redacted. It is dispatched at once (that row only); when the vendor fails,
the tenant's next dispatch retries it like any row. Without an ops connector an alert is only logged.
"""

from __future__ import annotations

import logging
from datetime import datetime

from lifeline_hub.core.actions import SendMessage
from lifeline_hub.core.config import Config
from lifeline_hub.core.http.redact import redact
from lifeline_hub.core.models import Action, Audience, NotificationPurpose, idempotency_key
from lifeline_hub.core.outbox import dispatch, enqueue
from lifeline_hub.core.store import Store

log = logging.getLogger("lifeline.ops")


def alert_key(tenant: str, about: str) -> str:
    """The outbox key of the one alert about `about` (a DAG run's task, a deadline, a breaker's opening)."""
    return idempotency_key(f"ops:{tenant}:{about}", 0, "send_message/ops", 0)


def alert(store: Store, config: Config, tenant: str, about: str, title: str, text: str, now: datetime) -> str | None:
    """Plan and send the alert about `about` once; return its outbox key (None: no ops connector set)."""
    policy = config.tenant(tenant).policy
    title, text = redact(title), redact(text)
    if not policy.ops_connector:
        log.warning("%s: no policy.ops_connector, alert not sent: %s: %s", tenant, title, text)
        return None
    key = alert_key(tenant, about)
    payload = SendMessage(recipients=tuple(policy.ops_recipients), title=title, text=text,
                          purpose=NotificationPurpose.hr_task, audience=Audience.staff)
    with store.begin() as conn:
        enqueue(conn, [Action(idempotency_key=key, tenant=tenant, connector=f"{tenant}.{policy.ops_connector}",
                              kind="send_message", due_at=now, payload=payload.model_dump(mode="json",
                                                                                         exclude_none=True))], now)
    summary = dispatch(store, config, tenant, keys=[key])
    for problem in summary.problems:
        log.warning("%s: ops alert not sent: %s", tenant, problem)
    return key
