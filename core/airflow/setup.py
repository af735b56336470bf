"""`lifeline airflow setup`: make an Airflow installation ready for the tenants' DAGs, one line per check.

Airflow leaves a task whose pool does not exist "scheduled" for ever, with an empty log (the
scheduler only logs it; the DAG gets a warning), and a scheduled task blocks the DAG's later runs
(`max_active_runs=1`). So the command creates the pools `lifeline_<plugin>` the config's plugins use
(`POOL_SLOTS` slots, or resizes them to `--slots`) and records them in the Airflow Variable
`lifeline_pools`, which each sync DAG's `plan_<plugin>` task reads to fail at once, naming this
command, when its pool was never set up (a task process may not query Airflow's metadata DB;
it can read Variables). It also checks that every connector instance's connection exists and
parses, writes the plugin manifest (`lifeline plugins --manifest`) and checks the store is at the
migrations' head. Exit status 1 when a check fails; each failing line says the fix.
Airflow is imported when the command runs, so `lifeline` itself stays free of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from lifeline_hub.core import config as config_mod
from lifeline_hub.core.airflow.dag_file import install_dags
from lifeline_hub.core.connections import ConnectionNotFound, resolve
from lifeline_hub.core.plugins import get_host

if TYPE_CHECKING:
    from lifeline_hub.core.cli import Context

COMMAND = "lifeline airflow setup"
POOL_SLOTS = 4
POOLS_VARIABLE = "lifeline_pools"


class PoolNotSetUp(config_mod.ConfigError):
    """A sync task's pool was not set up: its task would wait for ever (a configuration problem: no retry)."""


@dataclass(frozen=True)
class Check:
    ok: bool
    line: str


def ready_pools() -> set[str]:
    """The pools `lifeline airflow setup` created or verified, from the Airflow Variable it writes."""
    from airflow.sdk import Variable

    return set(json.loads(Variable.get(POOLS_VARIABLE, default="[]")))


def require_pools(plugins: Iterable[str]) -> None:
    """Raise `PoolNotSetUp` unless every plugin's pool was set up (read in the task process)."""
    from lifeline_hub.core.airflow.dags import pool

    known = ready_pools()
    missing = sorted(name for name in {pool(p) for p in plugins} if name not in known)
    if missing:
        raise PoolNotSetUp([f"Airflow pool {', '.join(missing)} was not set up: its sync tasks would wait "
                            f"for ever; run `{COMMAND}` where Airflow runs (it creates the pools)"])


def setup_pools(plugins: Iterable[str], slots: int | None, dry_run: bool) -> list[Check]:
    """Create each plugin's pool (`slots`, else `POOL_SLOTS`), resize it to `slots` when given; record them."""
    from airflow.models.pool import Pool
    from airflow.models.variable import Variable

    from lifeline_hub.core.airflow.dags import pool

    checks, ready = [], []
    for name in sorted({pool(p) for p in plugins}):
        existing = Pool.get_pool(name)
        size = slots if slots is not None else (existing.slots if existing else POOL_SLOTS)
        verb = "would be " if dry_run else ""
        if existing is None:
            what = f"pool {name}: missing, {verb}created with {size} slots"
        elif existing.slots != size:
            what = f"pool {name}: {existing.slots} slots, {verb}resized to {size}"
        else:
            checks.append(Check(True, f"pool {name}: {size} slots"))
            ready.append(name)
            continue
        if dry_run:
            checks.append(Check(existing is not None, what if existing else f"{what} (run `{COMMAND}`)"))
            if existing is not None:
                ready.append(name)
            continue
        Pool.create_or_update_pool(name, size, f"Lifeline: concurrent {name.removeprefix('lifeline_')} calls",
                                   include_deferred=False)
        checks.append(Check(True, what))
        ready.append(name)
    if not dry_run:
        known = set(json.loads(Variable.get(POOLS_VARIABLE, default_var="[]")))
        Variable.set(POOLS_VARIABLE, json.dumps(sorted(known | set(ready))),
                     description=f"pools `{COMMAND}` set up; the sync DAGs fail fast without theirs")
    return checks


def check_connections(cfg: config_mod.Config) -> list[Check]:
    """Every instance's connection id resolves the way its tasks will resolve it (`connections.resolve`:
    Airflow's secrets backends in Airflow's order, the environment's `AIRFLOW_CONN_*`, the metadata DB) and
    parses."""
    checks = []
    ids = sorted({(s.config.connection_id, s.instance.name) for s in cfg.setups.values() if s.config.connection_id})
    for conn_id, instance in ids:
        try:
            resolve(conn_id)
        except ConnectionNotFound as exc:
            checks.append(Check(False, f"connection {conn_id} ({instance}): {exc}; add or fix it in Airflow's "
                                       "Connections"))
        else:
            checks.append(Check(True, f"connection {conn_id} ({instance}): resolves"))
    return checks


def check_store(cfg: config_mod.Config) -> Check:
    """The store is at the migrations' head (what `lifeline db status` checks)."""
    from lifeline_hub.core.store import Store

    store = Store(cfg.store_url)
    where = store.engine.url.render_as_string(hide_password=True)
    try:
        current, head = store.revision(), store.head()
    except Exception as exc:  # unreachable server, bad URL: say so, the other checks still run
        return Check(False, f"store {where}: {type(exc).__name__}: {exc}; check [lifeline] store in plugins.toml")
    finally:
        store.engine.dispose()
    if current != head:
        return Check(False, f"store {where}: revision {current}, head {head}; run `lifeline db upgrade`")
    return Check(True, f"store {where}: at head {head}")


def write_manifest(dry_run: bool) -> Check:
    from lifeline_hub.core.airflow import manifest

    if dry_run:
        return Check(True, f"plugin manifest: would be written to {manifest.path()}")
    return Check(True, f"plugin manifest: written to {manifest.write(get_host())}")


def run(cfg: config_mod.Config, slots: int | None, dry_run: bool) -> list[Check]:
    plugins = {s.config.plugin for s in cfg.setups.values()}
    return [*setup_pools(plugins, slots, dry_run), *check_connections(cfg), write_manifest(dry_run),
            check_store(cfg)]


@click.group()
def airflow() -> None:
    """Prepare an Airflow installation for Lifeline's DAGs."""


airflow.add_command(install_dags)


@airflow.command("setup")
@click.option("--slots", type=click.IntRange(min=1), default=None,
              help=f"size every Lifeline pool to this many slots [default: keep, {POOL_SLOTS} for a new pool]")
@click.option("--dry-run", is_flag=True, help="check only: create, resize and write nothing")
@click.pass_obj
def setup(ctx: Context, slots: int | None, dry_run: bool) -> None:
    """Create or resize the vendor pools, check connections and the store, write the plugin manifest."""
    checks = run(ctx.config(), slots, dry_run)
    for check in checks:
        click.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.line}")
    if not all(c.ok for c in checks):
        raise SystemExit(1)
