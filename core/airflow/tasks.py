"""Run-time bodies of the DAG tasks: thin calls into `core/`, the same functions the CLI drives.

Imported by the task callables when they run, never at parse time: loading the config here loads
the plugins. Every function takes the config path the DAG was generated from and returns a
JSON-able summary (the task's XCom). Exceptions propagate: `lifeline_hub.core.airflow.retry` decides. The tasks
that store contact hashes or sign and send HR links (sync, remediate, dispatch) run a tenant that is
not a sandbox only with a real LIFELINE_HASH_KEY, and fail at once otherwise.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any

from lifeline_hub.core import plugins
from lifeline_hub.core.airflow.masking import mask_credentials
from lifeline_hub.core.config import Config, load
from lifeline_hub.core.connections import ConnectionNotFound, resolve
from lifeline_hub.core.http.redact import install_lifeline_redaction
from lifeline_hub.core.store import Store

log = logging.getLogger(__name__)


def _config(path: str, tenant: str, instance: str | None = None) -> Config:
    """The tenant's config alone: another tenant's problems (the DAG file gave it a failing placeholder) do
    not stop this tenant's tasks, nor a sibling connector block's those of `instance` (a key). Every task starts
    here, so here its logs get Lifeline's redaction (the vendors' tokens are not Airflow connection secrets)."""
    install_lifeline_redaction()
    return load(path, plugins.get_host(), tenant, instance)


def _keyed_config(path: str, tenant: str, instance: str | None = None) -> Config:
    """The config, once the tenant's contact hashes and HR links rest on a real key (`ConfigError` if not)."""
    config = _config(path, tenant, instance)
    notice = config.require_hash_key([tenant])
    if notice:
        log.warning("%s", notice)
    return config


@contextmanager
def _store(config: Config) -> Iterator[Store]:
    store = Store(config.store_url)
    try:
        yield store
    finally:
        store.engine.dispose()


def _mask_tenant(config: Config, tenant: str) -> None:
    """Mask every credential the tenant's connectors may use (dispatch builds them lazily)."""
    for conn_id in {s.config.connection_id for s in config.instances(tenant) if s.config.connection_id}:
        try:
            mask_credentials(resolve(conn_id))
        except ConnectionNotFound:
            continue  # the connector that needs it fails with this error itself


def plan_sync(path: str, tenant: str, keys: list[str],
              promised: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    """The (instance, stream) pairs of these connector instances, from the loaded plugins' stream lists.

    Fails at once (`PoolNotSetUp`, naming `lifeline airflow setup`) when the pool of the sync tasks it
    plans was never set up: Airflow would leave them scheduled for ever. `promised` is what the plugin
    manifest said at parse time; the loaded plugins win, and a
    difference is logged: the manifest is stale (plugins changed since `lifeline plugins --manifest`).
    """
    from lifeline_hub.core.airflow.setup import require_pools

    config = _config(path, tenant)
    config.tenant(tenant)
    require_pools({setup.config.plugin for setup in config.instances(tenant) if setup.key in keys})
    pairs = [{"instance": setup.instance.name, "stream": stream}
             for setup in config.instances(tenant) if setup.key in keys for stream in setup.streams]
    if promised is not None and _set(pairs) != _set(promised):
        from lifeline_hub.core.airflow import manifest

        log.warning("the plugin manifest %s is stale: it promised streams %s, the loaded plugins give %s; "
                    "run `%s` again", manifest.path(), _pairs(promised), _pairs(pairs), manifest.COMMAND)
    return pairs


def _set(pairs: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(p["instance"], p["stream"]) for p in pairs}


def _pairs(pairs: list[dict[str, str]]) -> str:
    return ", ".join(f"{p['instance']}:{p['stream']}" for p in pairs) or "none"


def sync(path: str, instance: str, stream: str, budget: float | None = None) -> dict[str, Any]:
    """Sync one stream within a retry budget (`budget` seconds from the DAG's schedule, lowered by the
    instance's `retry_budget_seconds`), through the instance's circuit breaker, kept in the store."""
    from lifeline_hub.core.health import StoreBreakers
    from lifeline_hub.core.http.breaker import Breaker, use_breaker
    from lifeline_hub.core.http.budget import retry_budget
    from lifeline_hub.core.sync import build_connector, sync_stream

    tenant, _, key = instance.partition(".")
    config = _keyed_config(path, tenant, key)
    setup = config.setups[instance]
    policy = config.tenant(tenant).policy
    seconds = min(s for s in (budget, setup.config.retry_budget_seconds, float("inf")) if s is not None)
    connector = build_connector(setup)
    if connector.credentials is not None:
        mask_credentials(connector.credentials)
    with _store(config) as store, ExitStack() as guards:
        guards.enter_context(use_breaker(Breaker(instance, StoreBreakers(store, tenant),
                                                 failures=policy.breaker_failures,
                                                 cooldown=policy.breaker_cooldown_seconds)))
        if seconds != float("inf"):
            guards.enter_context(retry_budget(seconds))
        summary = sync_stream(store, setup, stream, connector)
    written = summary.written
    return {
        "instance": instance, "stream": stream, "inserted": written.inserted, "updated": written.updated,
        "quarantined": written.quarantined, "checkpoints": summary.checkpoints,
        "watermark": summary.watermark.isoformat() if summary.watermark else None,
    }


def reconcile(path: str, tenant: str, now: datetime) -> dict[str, Any]:
    from lifeline_hub.core.reconcile import reconcile as run

    config = _config(path, tenant)
    with _store(config) as store:
        return run(store, tenant, now, config, plugins.get_host()).as_dict()


def remediate(path: str, tenant: str, now: datetime) -> dict[str, Any]:
    from lifeline_hub.core.remediation import remediate as run

    config = _keyed_config(path, tenant)
    with _store(config) as store:
        return run(store, tenant, now, config, plugins.get_host()).as_dict()


def plan_reminders(path: str, tenant: str, now: datetime) -> dict[str, Any]:
    from lifeline_hub.core.reminders import plan_reminders as run  # the reminder planner's entry point (being written)

    config = _config(path, tenant)
    with _store(config) as store:
        return dict(run(store, tenant, now, config).as_dict())


def dispatch(path: str, tenant: str) -> dict[str, Any]:
    """Perform the tenant's due outbox rows on the wall clock (a late retry must see what is due now)."""
    from lifeline_hub.core.outbox import dispatch as run

    config = _keyed_config(path, tenant)
    _mask_tenant(config, tenant)
    with _store(config) as store:
        return dataclasses.asdict(run(store, config, tenant))


def notify_ops(path: str, tenant: str, facts: dict[str, Any]) -> str | None:
    """Send the ops alert `facts` describe (`notify.describe`) with the tenant's health; return its outbox key.

    A failure is one alert per task of a run (its mapped instances share it); a failure because a breaker
    is open, one per opening of that breaker (every task it stops shares it); a missed deadline, one per run.
    """
    from lifeline_hub.core import health, ops
    from lifeline_hub.core.models import utcnow

    config = _config(path, tenant)
    _mask_tenant(config, tenant)
    now = utcnow()
    run = f"{facts['dag_id']} run {facts['run_id']}"
    with _store(config) as store:
        report = health.report(store, config, tenant, now)
        if facts["event"] == "deadline":
            about, title = f"deadline:{facts['dag_id']}:{facts['run_id']}", f"{tenant}: {run} is late"
            detail = f"still running at its deadline {facts['deadline']}"
        else:
            where = f"{facts['dag_id']}.{facts['task_id']}"
            about, title = f"failed:{where}:{facts['run_id']}", f"{tenant}: {where} failed"
            if facts.get("breaker"):
                opened = health.open_breaker(store, facts["breaker"])
                about = f"breaker:{opened}" if opened is not None else about
            index = f" [{facts['mapped']}]" if facts.get("mapped") else ""
            detail = f"{run}{index}, try {facts['try_number']}: {facts['error'][:500]}"
        return ops.alert(store, config, tenant, about, title, f"{detail}\n{report.short()}", now)
