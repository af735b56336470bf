"""Interview reminders: planned from the schedule into the outbox, on the candidate's channels.

    plan_reminders(store, tenant, now, config).as_dict()    # the DAG task, `lifeline reminders plan`
    replan_interview(store, config, tenant, interview_id, now)   # after a reschedule (remediation)
    app.include_router(confirm_router(store, config))        # the confirm page (`/c/{token}`)
"""

from lifeline_hub.core.reminders.plan import PlanSummary, plan_reminders, replan_interview
from lifeline_hub.core.reminders.web import confirm_router

__all__ = ["PlanSummary", "confirm_router", "plan_reminders", "replan_interview"]
