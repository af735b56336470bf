"""The reschedule loop: offer -> page -> request -> approval -> new window in the same thread (or a polite no)."""

from lifeline_hub.core.remediation.reschedule.decisions import (
    REMINDER_PLANNER,
    Decided,
    DecisionSummary,
    apply_decisions,
    finish,
    record_decision,
)
from lifeline_hub.core.remediation.reschedule.requests import Submitted, adopt, offered_slots, submit

__all__ = [
    "REMINDER_PLANNER",
    "Decided",
    "DecisionSummary",
    "Submitted",
    "adopt",
    "apply_decisions",
    "finish",
    "offered_slots",
    "record_decision",
    "submit",
]
