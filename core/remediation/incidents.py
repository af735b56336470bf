"""Incidents: technical misses clustering on one platform are a platform fault, not candidates.

When at least `incident_threshold` interviews on one platform starting within
`incident_window_minutes` of each other are currently decided `missed_technical`, a health record
(kind `incident`, subject `platform:<name>`) is opened and the incident recipients are told, once:
the notice's key derives from the health record, written in the same transaction. While an
incident of the platform is open (unresolved, raised within a day), no second one is opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from lifeline_hub.core.config import Config
from lifeline_hub.core.models import Action, Audience, NotificationPurpose, OutcomeClass, idempotency_key
from lifeline_hub.core.outbox import enqueue
from lifeline_hub.core.remediation.case import Case
from lifeline_hub.core.remediation.payloads import payload_of
from lifeline_hub.core.remediation.render import incident_text
from lifeline_hub.core.remediation.routes import Unroutable, hr_people, staff
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import health, interviews, outcomes

KIND = "incident"
COOLDOWN = timedelta(days=1)


def subject(platform: str) -> str:
    return f"platform:{platform}"[:255]


def check(store: Store, config: Config, tenant: str, technical: Sequence[Case], now: datetime) -> list[str]:
    """Open an incident for each platform of `technical` where misses cluster; return the subjects opened."""
    policy = config.tenant(tenant).policy
    width = timedelta(minutes=policy.incident_window_minutes)
    opened: list[str] = []
    for platform in sorted({c.interview.platform for c in technical if c.interview.platform}):
        latest = max(c.interview.start_at for c in technical if c.interview.platform == platform)
        with store.begin() as conn:
            starts = _cluster(conn, tenant, platform, latest - width, latest)
            if len(starts) < policy.incident_threshold or _open(conn, tenant, platform, now):
                continue
            title, text = incident_text(platform, len(starts), policy.incident_window_minutes, min(starts),
                                        config.tenant(tenant).timezone, config.tenant(tenant).locale)
            inserted = conn.execute(sa.insert(health).values(
                tenant=tenant, kind=KIND, subject=subject(platform), message=title, raised_at=now,
            )).inserted_primary_key
            assert inserted is not None
            raised = inserted[0]
            try:
                people = policy.incident_recipients or hr_people(config, tenant, "send_message")
                where = staff(config, tenant, "send_message", people)
            except Unroutable:
                opened.append(subject(platform))  # recorded for `lifeline remediate`; nobody to tell
                continue
            enqueue(conn, [Action(
                idempotency_key=idempotency_key(f"incident:{tenant}:{platform}", raised, "send_message/incident", 0),
                tenant=tenant, connector=where.connector, kind="send_message", due_at=now,
                payload=payload_of("send_message", recipients=where.recipients, title=title, text=text, urgent=True,
                                   purpose=NotificationPurpose.hr_task, audience=Audience.staff),
            )], now)
            opened.append(subject(platform))
    return opened


def _cluster(conn: sa.Connection, tenant: str, platform: str, low: datetime, high: datetime) -> list[datetime]:
    query = (sa.select(interviews.c.start_at).join(outcomes, outcomes.c.interview_id == interviews.c.id)
             .where(interviews.c.tenant == tenant, interviews.c.platform == platform,
                    interviews.c.start_at.between(low, high), outcomes.c.superseded_at.is_(None),
                    outcomes.c.outcome == OutcomeClass.missed_technical.value))
    return [start for (start,) in conn.execute(query)]


def _open(conn: sa.Connection, tenant: str, platform: str, now: datetime) -> bool:
    found = conn.execute(sa.select(health.c.id).where(
        health.c.tenant == tenant, health.c.kind == KIND, health.c.subject == subject(platform),
        health.c.resolved_at.is_(None), health.c.raised_at > now - COOLDOWN,
    ).limit(1)).first()
    return found is not None
