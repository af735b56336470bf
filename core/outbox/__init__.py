"""The one outbox: every action Lifeline takes goes through it and is done exactly once.

Planners (remediation, the reminder planner) write rows inside their own transaction:

    with store.begin() as conn:
        enqueue(conn, [Action(idempotency_key=idempotency_key(iv, 0, "send_message/reminder_t1d", seq),
                              tenant=t, connector="acme.sms", kind="send_message", interview_id=iv,
                              payload=SendMessage(...).model_dump(mode="json"), due_at=when)], now)

`dispatch(store, config, tenant)` (the `lifeline dispatch` command and the DAG task) performs due
rows through their connector's `perform`; `cancel` withdraws rows not yet dispatched.
"""

from lifeline_hub.core.outbox.dispatch import DispatchSummary, Probe, Sinks, dispatch
from lifeline_hub.core.outbox.queue import (
    DEAD_HEALTH_KIND,
    LEASE,
    Row,
    bury,
    cancel,
    cancel_superseded,
    claim,
    complete,
    enqueue,
    get,
    requeue,
    retry,
    rows,
)

__all__ = [
    "DEAD_HEALTH_KIND", "LEASE", "DispatchSummary", "Probe", "Row", "Sinks", "bury", "cancel",
    "cancel_superseded", "claim", "complete", "dispatch", "enqueue", "get", "requeue", "retry", "rows",
]
