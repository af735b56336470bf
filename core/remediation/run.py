"""`remediate`: one pass of the remediation step, as the CLI and the Airflow task run it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lifeline_hub.core.config import Config
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.remediation.planner import PlanSummary, plan
from lifeline_hub.core.remediation.reschedule import adopt, apply_decisions, finish
from lifeline_hub.core.store import Store


@dataclass
class RemediationSummary:
    plan: PlanSummary
    requests: list[str] = field(default_factory=list)
    decided: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [self.plan.line(),
                f"{self.plan.tenant}: reschedule requests: {len(self.requests)} opened from evidence, "
                f"{len(self.decided)} decided, {len(self.applied)} applied"]

    def as_dict(self) -> dict[str, Any]:
        p = self.plan
        return {"tenant": p.tenant, "cases": p.cases, "planned": len(p.planned), "cancelled": p.cancelled,
                "incidents": p.incidents, "requests": self.requests, "decided": self.decided,
                "applied": self.applied, "problems": [*p.problems, *self.problems]}


def remediate(store: Store, tenant: str, now: datetime | None, config: Config, host: PluginHost) -> RemediationSummary:
    """Plan remediation for new outcomes, take up reschedule requests and apply approval decisions."""
    now = now or utcnow()
    summary = RemediationSummary(plan(store, config, host, tenant, now))
    summary.requests, problems = adopt(store, config, tenant, now)
    summary.problems += problems
    summary.decided = [d.request_id for d in apply_decisions(store, tenant, now)]
    finished = finish(store, config, tenant, now)
    summary.applied, summary.problems = finished.applied, summary.problems + finished.problems
    summary.plan.planned += finished.planned
    return summary
