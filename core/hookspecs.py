"""Hook specifications of the `lifeline` pluggy project (entry-point group `lifeline`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from lifeline_hub.core.connector import Connector
    from lifeline_hub.core.models import Action, Evidence, Interview, Outcome

hookspec = pluggy.HookspecMarker("lifeline")
hookimpl = pluggy.HookimplMarker("lifeline")


@hookspec
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    """Register connector classes by calling `register(ConnectorClass)` once per class."""


@hookspec
def lifeline_register_policies(register: Callable[[str, Any], None]) -> None:
    """Register remediation playbooks by calling `register(outcome_class, playbook)`."""


@hookspec(firstresult=True)
def lifeline_classify(interview: Interview, evidence: Sequence[Evidence]) -> Outcome | None:
    """Override the built-in classification of one interview; return None to keep it."""


@hookspec(firstresult=True)
def lifeline_render_task(action: Action, interview: Interview, evidence: Sequence[Evidence]) -> str | None:
    """Replace the text of an HR task or message; return None to keep the built-in text."""


@hookspec
def lifeline_on_outcome(outcome: Outcome) -> None:
    """Observe every new outcome (audit, metrics, custom alerts)."""
