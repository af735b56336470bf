"""HR's one-click next steps behind the signed links of their tasks: done once, whoever clicks twice.

- `attended`: HR confirms the candidate took part; recorded as attendance evidence (source
  `<tenant>.hr`), which reconciliation takes up and which supersedes the miss.
- `reissue`: a fresh join link to the candidate (a person decided: no re-invite cap).
- `offer`: the reschedule page offered to the candidate.

HR finished the case: its tasks still open in the vendor are closed (`closing`, once per task).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa

from lifeline_hub.core.config import Config
from lifeline_hub.core.models import Attendance, Role
from lifeline_hub.core.outbox import enqueue
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.remediation.build import Builder, action_key
from lifeline_hub.core.remediation.case import load_case, outcome_of
from lifeline_hub.core.remediation.closing import closings
from lifeline_hub.core.remediation.links import HrLink
from lifeline_hub.core.remediation.policies import Step
from lifeline_hub.core.remediation.routes import Unroutable, route
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import outcomes

STEPS = {
    "reissue": Step("hr_reissue", "send_message", "candidate", "reissued_link"),
    "offer": Step("hr_offer", "send_message", "candidate", "reschedule_offer"),
}
FINISHED = {"reissue": "HR re-issued the link on Lifeline's page", "offer": "HR offered a new time on Lifeline's page"}
"""The reason HR's task is closed when HR finished the case through `STEPS`."""


class Result(StrEnum):
    done = "done"
    already = "already"
    stale = "stale"
    """The interview changed (or is gone) since the link was made."""
    unroutable = "unroutable"


def source_of(tenant: str) -> str:
    return f"{tenant}.hr"


def perform(store: Store, config: Config, host: PluginHost, link: HrLink, now: datetime) -> Result:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(outcomes).where(outcomes.c.interview_id == link.interview_id,
                                                     outcomes.c.superseded_at.is_(None))).first()
        case = load_case(conn, link.tenant, outcome_of(row)) if row is not None else None
    if case is None or case.sequence != link.sequence or link.tenant not in config.data.tenants:
        return Result.stale
    if link.action == "attended":
        mark = Attendance(source=source_of(link.tenant), remote_id=f"attended:{case.interview.id}:{case.sequence}",
                          interview_id=case.interview.id, occurred_at=case.interview.start_at,
                          left_at=case.interview.end_at, role=Role.candidate, completed=True,
                          status_raw="confirmed_by_hr")
        return Result.done if store.write(link.tenant, [mark]).inserted else Result.already
    step = STEPS[link.action]
    builder = Builder(store, config, host, now)
    if builder.settled([action_key(case, step)]):
        return Result.already
    try:
        action = builder.action(case, step, route(config, case, step))
    except Unroutable:
        return Result.unroutable
    with store.begin() as conn:
        done = FINISHED[link.action]
        planned = enqueue(conn, [action, *closings(conn, config, link.tenant, case.interview.id, done, now)], now)
    return Result.done if action.idempotency_key in planned else Result.already
