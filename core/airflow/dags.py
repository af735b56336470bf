"""The per-tenant DAGs, built from the `plugins.toml` layout (`dags/lifeline_dags.py` calls `generate`).

For every tenant `t`:
- `lifeline__t__sync` (on the schedule of the tenant's first instance; `lifeline__t__sync_<key>` for
  each further schedule, `<key>` its first instance):
  per vendor plugin with streams (e-mail has none: no task that is always skipped), `plan_<plugin>`
  lists its (instance, stream) pairs at run time, from the plugins loaded then, and a `sync_<plugin>`
  task mapped over them runs in pool `lifeline_<plugin>`;
  every stream synced updates the asset `lifeline://t/evidence`. The streams the plugin manifest
  promised at parse time are in the DAG's doc; `plan` warns when the loaded plugins disagree.
- `lifeline__t__reconcile`, scheduled on that asset: reconcile -> remediate -> dispatch.
- `lifeline__t__reminders`, every 10 minutes: plan reminders -> dispatch.
Every DAG's description and doc name the tenant (its `display_name`) and its time zone.
A report DAG is one more entry in `_builders`. Task callables import `lifeline_hub.core.airflow.tasks` when they
run; nothing here loads a plugin, opens the store or calls a vendor: `generate` reads plugins.toml
and the plugin manifest, and raises `ConfigError` (the DAG file's import error) only for what stops
every tenant: a file that does not parse, a problem outside the tenants' tables, a missing manifest.

One bad tenant never takes the others down. A tenant with a problem of its own (a bad key or
schedule, a plugin that is unknown or failed to load, a policy its instances cannot carry out) gets
only `lifeline__t__config_error`: scheduled `@once` and created unpaused, so it runs at once and
shows red, its one task failing with the `file: key: problem` lines its doc also shows, and never
runs again; the tenant's DAGs come back when the file is fixed. A connector block that breaks its
settings schema (recorded in the manifest) fails only its own `config_error_<key>` task in the
sync DAG; the tenant's other instances keep their tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from itertools import pairwise
from pathlib import Path
from typing import Any

from airflow.sdk import (
    DAG,
    Asset,
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    get_current_context,
    get_parsing_context,
    task,
)
from airflow.sdk.bases.decorator import TaskDecorator
from airflow.sdk.definitions.callback import SyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference
from airflow.sdk.exceptions import AirflowFailException, AirflowTimetableInvalid
from croniter import croniter

from lifeline_hub.core.airflow.layout import Instance, SyncGroup, Tenant, read_checked
from lifeline_hub.core.airflow.notify import OpsNotifier
from lifeline_hub.core.airflow.retry import VendorRetryPolicy

START = datetime(2026, 1, 1, tzinfo=UTC)
REMINDERS_CRON = "*/10 * * * *"
REMINDERS_DEADLINE = timedelta(minutes=10)
RECONCILE_DEADLINE = timedelta(minutes=30)
CONFIG_ERROR = "config_error"
POLICY = VendorRetryPolicy()
SYNC_RETRIES = 2
MAX_SYNC_BUDGET = timedelta(minutes=10)
Summary = dict[str, Any]


@dataclass(frozen=True)
class SyncTiming:
    """How a sync DAG's tries fit in its schedule: `retries + 1` tries of at most `budget` of in-task HTTP
    retries each, `retry_delay` apart, take at most half the shortest `interval` between two runs (plus the
    time the calls that succeed take), so a dead vendor's task has failed for good before the next run."""

    interval: timedelta
    retries: int
    retry_delay: timedelta
    budget: timedelta

    @property
    def worst_case(self) -> timedelta:
        return self.budget * (self.retries + 1) + self.retry_delay * self.retries


def interval(schedule: str) -> timedelta:
    """The shortest gap between two runs of the cron `schedule` over its next 100 runs."""
    it = croniter(schedule, START)
    fires: list[datetime] = [it.get_next(datetime) for _ in range(101)]
    return min(b - a for a, b in pairwise(fires))


def sync_timing(schedule: str) -> SyncTiming:
    every = interval(schedule)
    delay = min(timedelta(minutes=1), every / 10)
    budget = min((every / 2 - delay * SYNC_RETRIES) / (SYNC_RETRIES + 1), MAX_SYNC_BUDGET)
    return SyncTiming(every, SYNC_RETRIES, delay, budget)


def dag_id(tenant: str, name: str) -> str:
    return f"lifeline__{tenant}__{name}"


def pool(plugin: str) -> str:
    """The Airflow pool capping concurrent calls to one vendor plugin (create it: `make airflow` does)."""
    return f"lifeline_{plugin}"


def evidence(tenant: str) -> Asset:
    return Asset(name=f"lifeline__{tenant}__evidence", uri=f"lifeline://{tenant}/evidence", group="lifeline")


def run_time(context: Mapping[str, Any]) -> datetime:
    """The run's instant: its interval end or logical date, else (manual, asset-triggered) `run_after`."""
    value = context.get("data_interval_end") or context.get("logical_date") or context["dag_run"].run_after
    return datetime.fromtimestamp(value.timestamp(), UTC)


def _default_args(config: str, tenant: str, retries: int, retry_delay: timedelta = timedelta(minutes=1),
                  max_retry_delay: timedelta = timedelta(minutes=30)) -> dict[str, Any]:
    return {
        "owner": "lifeline", "retries": retries, "retry_delay": retry_delay,
        "retry_exponential_backoff": 2.0, "max_retry_delay": max_retry_delay,
        "execution_timeout": timedelta(minutes=30), "retry_policy": POLICY,
        "on_failure_callback": OpsNotifier(config, tenant),
    }


def _deadline(config: str, tenant: str, late: timedelta) -> DeadlineAlert:
    """Tell the tenant's ops channel when a run is still going `late` after it was queued (only a tenant with
    an ops channel has it: `dag.test()`, so `airflow dags test`, of Airflow 3.3.2 fails at the end of a run of
    a DAG with a deadline alert)."""
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=late, callback=SyncCallback(
        OpsNotifier, kwargs={"config": config, "tenant": tenant, "event": "deadline"}))


def _details(tenant: Tenant, what: str, doc: str) -> dict[str, Any]:
    """The DAG's `description` (under its name in the UI) and `doc_md`, both naming the tenant and its time zone."""
    return {"description": f"{tenant.title}: {what} ({tenant.timezone})",
            "doc_md": f"**{tenant.title}** (tenant `{tenant.name}`, {tenant.timezone})\n\n{doc}"}


def _dag(config: str, tenant: Tenant, name: str, schedule: Any, default_args: dict[str, Any], late: timedelta,
         what: str, doc: str) -> DAG:
    return DAG(
        dag_id(tenant.name, name), schedule=schedule, start_date=START, catchup=False, max_active_runs=1,
        default_args=default_args, deadline=_deadline(config, tenant.name, late) if tenant.alerts else None,
        tags=["lifeline", tenant.name],
        **_details(tenant, what, doc),
    )


def _task(**kwargs: Any) -> TaskDecorator:
    """`@task` returning its summary dict as one XCom (a `dict` return would be split per key)."""
    return task(multiple_outputs=False, **kwargs)


@cache
def _cron_problem(schedule: str) -> str | None:
    try:
        CronDataIntervalTimetable(schedule, timezone="UTC").validate()
    except AirflowTimetableInvalid as exc:
        return str(exc)
    return None


def problems(tenant: Tenant) -> list[str]:
    """Why none of the tenant's DAGs can be built: its own problems, then any schedule Airflow refuses."""
    schedules = [f"{g.where}: {problem}" for g in tenant.groups if (problem := _cron_problem(g.schedule))]
    return [*tenant.problems, *schedules]


def _fail_task(task_id: str, lines: tuple[str, ...]) -> Any:
    """A task that fails at once, without retries, with `lines` (the `file: key: problem` lines) as its error."""

    @task(task_id=task_id, retries=0)
    def fail() -> None:
        raise AirflowFailException("\n".join(lines))

    return fail


def _fenced(lines: tuple[str, ...]) -> list[str]:
    return ["```", *lines, "```"]


def config_error_dag(config: str, tenant: Tenant, lines: tuple[str, ...]) -> DAG:
    """The failing placeholder of a tenant whose DAGs cannot be built."""
    doc = "\n".join([
        f"Tenant {tenant.name} is not running: {Path(config).name} has these problems (`lifeline check` lists "
        "them too). Its DAGs come back, and this one goes, once they are fixed.", "", *_fenced(lines)])
    with DAG(dag_id(tenant.name, CONFIG_ERROR), schedule="@once", start_date=START, catchup=False,
             is_paused_upon_creation=False, max_active_runs=1, default_args={"owner": "lifeline", "retries": 0},
             tags=["lifeline", tenant.name, CONFIG_ERROR], **_details(tenant, "not running: fix its config", doc)
             ) as dag:
        _fail_task(CONFIG_ERROR, lines)()
    return dag


def sync_dag(config: str, tenant: Tenant, group: SyncGroup) -> DAG:
    doc = "\n".join([
        f"Sync {', '.join(i.key for i in group.instances)} of tenant {tenant.name} "
        f"({group.schedule}, {tenant.timezone}). Streams, per the plugin manifest:", "",
        *(f"- `{i.key}` ({i.plugin}): {', '.join(i.streams) or 'no streams to sync'}"
          for i in group.instances if not i.problems),
        *(line for i in group.instances if i.problems
          for line in ["", f"`{i.key}` ({i.plugin}) is not synced: its block does not match the connector's "
                           f"settings (task `{CONFIG_ERROR}_{i.key}` fails with this):", "", *_fenced(i.problems)]),
    ])
    timetable = CronDataIntervalTimetable(group.schedule, timezone=tenant.timezone)
    timing = sync_timing(group.schedule)
    args = _default_args(config, tenant.name, timing.retries, timing.retry_delay, timing.retry_delay)
    with _dag(config, tenant, group.name, timetable, args, timing.interval, f"sync {', '.join(group.plugins)}",
              doc) as dag:
        runnable = [i for i in group.instances if not i.problems and i.streams]  # no streams: a task always skipped
        for plugin in sorted({i.plugin for i in runnable}):
            members = [i for i in runnable if i.plugin == plugin]
            plan = _plan_task(config, tenant.name, plugin, members)
            _sync_task(config, tenant.name, plugin, timing.budget).expand_kwargs(plan())
        for instance in group.instances:
            if instance.problems:
                _fail_task(f"{CONFIG_ERROR}_{instance.key}", instance.problems)()
    return dag


def _plan_task(config: str, tenant: str, plugin: str, members: list[Instance]) -> Any:
    keys = [i.key for i in members]
    promised = [{"instance": f"{tenant}.{i.key}", "stream": s} for i in members for s in i.streams]

    @_task(task_id=f"plan_{plugin}")
    def plan() -> list[dict[str, str]]:
        from lifeline_hub.core.airflow import tasks

        return tasks.plan_sync(config, tenant, keys, promised)

    return plan


def _sync_task(config: str, tenant: str, plugin: str, budget: timedelta) -> Any:
    asset = evidence(tenant)
    seconds = budget.total_seconds()

    @_task(task_id=f"sync_{plugin}", pool=pool(plugin), outlets=[asset],
          map_index_template="{{ instance }}:{{ stream }}")
    def sync(instance: str, stream: str) -> Summary:
        from lifeline_hub.core.airflow import tasks

        summary = tasks.sync(config, instance, stream, seconds)
        get_current_context()["outlet_events"][asset].extra = summary
        return summary

    return sync


def reconcile_dag(config: str, tenant: Tenant) -> DAG:
    name = tenant.name
    doc = f"Reconcile, remediate and dispatch for tenant {name}, after its connectors synced new evidence."
    with _dag(config, tenant, "reconcile", [evidence(name)], _default_args(config, name, 2), RECONCILE_DEADLINE,
              "reconcile, remediate, dispatch", doc) as dag:

        @_task()
        def reconcile() -> Summary:
            from lifeline_hub.core.airflow import tasks

            return tasks.reconcile(config, name, run_time(get_current_context()))

        @_task()
        def remediate() -> Summary:
            from lifeline_hub.core.airflow import tasks

            return tasks.remediate(config, name, run_time(get_current_context()))

        @_task()
        def dispatch() -> Summary:
            from lifeline_hub.core.airflow import tasks

            return tasks.dispatch(config, name)

        reconcile() >> remediate() >> dispatch()
    return dag


def reminders_dag(config: str, tenant: Tenant) -> DAG:
    name = tenant.name
    doc = f"Plan the reminders now due for tenant {name} and dispatch them."
    timetable = CronTriggerTimetable(REMINDERS_CRON, timezone=tenant.timezone)
    with _dag(config, tenant, "reminders", timetable, _default_args(config, name, 2), REMINDERS_DEADLINE,
              "plan and send the reminders due", doc) as dag:

        @_task()
        def plan_reminders() -> Summary:
            from lifeline_hub.core.airflow import tasks

            return tasks.plan_reminders(config, name, run_time(get_current_context()))

        @_task()
        def dispatch() -> Summary:
            from lifeline_hub.core.airflow import tasks

            return tasks.dispatch(config, name)

        plan_reminders() >> dispatch()
    return dag


def _builders(tenant: Tenant) -> list[tuple[str, Callable[[str, Tenant], DAG]]]:
    syncs = [(g.name, partial(sync_dag, group=g)) for g in tenant.groups]
    return [*syncs, ("reconcile", reconcile_dag), ("reminders", reminders_dag)]


def generate(path: Path) -> list[DAG]:
    """Build every tenant's DAGs (a broken tenant's placeholder), or only the one a task process is parsing for."""
    wanted = get_parsing_context().dag_id
    built = []
    for tenant in read_checked(path):
        lines = problems(tenant)
        builders = [(CONFIG_ERROR, partial(config_error_dag, lines=tuple(lines)))] if lines else _builders(tenant)
        for name, build in builders:
            if wanted in (None, dag_id(tenant.name, name)):
                built.append(build(str(path), tenant))
    return built
