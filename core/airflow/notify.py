"""`OpsNotifier`: an Airflow 3 notifier telling the tenant's ops channel, through Lifeline's own connectors.

Every task of a tenant's DAGs has it as `on_failure_callback` (a task that failed for good: a retry is not
a failure); every DAG has a `DeadlineAlert` whose `SyncCallback` builds it with `event="deadline"` (a run
still going when it should be done: a sync run at its next schedule). `notify` hands the failure to
`tasks.notify_ops`, which sends it as an outbox row to `policy.ops_connector` (see `core.ops`) with the
tenant's health in short; one alert per failed task of a run, one per breaker opening, one per late run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseNotifier


def describe(event: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-able facts of a task failure or deadline miss, from the context Airflow passes."""
    if event == "deadline":
        run, deadline = context.get("dag_run") or {}, context.get("deadline") or {}
        return {"event": event, "dag_id": run.get("dag_id"), "run_id": run.get("dag_run_id") or run.get("run_id"),
                "deadline": str(deadline.get("deadline_time", ""))}
    ti = context.get("ti") or context.get("task_instance")
    error = context.get("exception")
    from lifeline_hub.core.http.breaker import CircuitOpen

    return {"event": event, "dag_id": getattr(ti, "dag_id", None), "run_id": getattr(ti, "run_id", None),
            "task_id": getattr(ti, "task_id", None), "mapped": _mapped(ti),
            "try_number": getattr(ti, "try_number", None),
            "error": f"{type(error).__name__}: {error}" if error is not None else "unknown error",
            "breaker": error.vendor if isinstance(error, CircuitOpen) else None}


def _mapped(ti: Any) -> str | None:
    """A mapped task instance's rendered index (`instance:stream`) or its number; None when not mapped."""
    index = getattr(ti, "map_index", -1)
    return None if index is None or index < 0 else str(getattr(ti, "rendered_map_index", None) or index)


class OpsNotifier(BaseNotifier):
    """Tell tenant `tenant` (of the config at `config`) that a task failed or a run missed its deadline."""

    def __init__(self, config: str, tenant: str, event: str = "failure") -> None:
        super().__init__()
        self.config, self.tenant, self.event = config, tenant, event

    def notify(self, context: Any) -> None:
        from lifeline_hub.core.airflow import tasks

        tasks.notify_ops(self.config, self.tenant, describe(self.event, context))
