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
from contextlib import contextmanager
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


def sync(path: str, instance: str, stream: str) -> dict[str, Any]:
    from lifeline_hub.core.sync import build_connector, sync_stream

    tenant, _, key = instance.partition(".")
    config = _keyed_config(path, tenant, key)
    setup = config.setups[instance]
    connector = build_connector(setup)
    if connector.credentials is not None:
        mask_credentials(connector.credentials)
    with _store(config) as store:
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
