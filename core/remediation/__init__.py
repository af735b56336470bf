"""Remediation: from outcomes to actions (playbooks and caps, HR texts with evidence, the reschedule loop).

    remediate(store, tenant, now, config, host)   # new outcomes -> outbox rows, requests, decisions
    remediation_router(store, config, host)       # core.remediation.web: the reschedule and HR pages

Names are imported on first use, so the CLI (which imports the command module) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lifeline_hub.core.remediation.planner import PlanSummary, plan
    from lifeline_hub.core.remediation.policies import DEFAULTS, STEPS, Playbook, PolicyError, Step
    from lifeline_hub.core.remediation.run import RemediationSummary, remediate

_WHERE = {
    "PlanSummary": "planner", "plan": "planner", "DEFAULTS": "policies", "STEPS": "policies",
    "Playbook": "policies", "PolicyError": "policies", "Step": "policies", "RemediationSummary": "run",
    "remediate": "run",
}
__all__ = ["DEFAULTS", "STEPS", "PlanSummary", "Playbook", "PolicyError", "RemediationSummary", "Step", "plan",
           "remediate"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'lifeline_hub.core.remediation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"lifeline_hub.core.remediation.{_WHERE[name]}"), name)
