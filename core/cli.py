"""The `lifeline` command: a thin driver over the functions in `core/` (Airflow is the other).

Whatever came from the user (config values, paths, problems, vendor messages) is printed escaped
(`rich.markup.escape`) or with `markup=False`: a `[/x]` in a value is text, not markup. A
`ConfigError` from any command is its `file: key: problem` lines and exit status 2.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lifeline_hub import DISTRIBUTION
from lifeline_hub.core import config as config_mod
from lifeline_hub.core.api import PLUGIN_API, PLUGIN_API_ATTRIBUTE
from lifeline_hub.core.http.redact import install_lifeline_redaction
from lifeline_hub.core.models.contact import hash_key_problem
from lifeline_hub.core.plugins import PluginHost, UnknownConnector, get_host, settings_schema

out: Console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err: Console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)


class Context:
    """Lazily loaded plugin host and config for one command invocation."""

    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path

    @property
    def host(self) -> PluginHost:
        host = get_host()
        for failure in host.failures:
            err.print(f"[yellow]warning:[/] {escape(failure.describe_failure())}", soft_wrap=True)
        return host

    def config(self) -> config_mod.Config:
        return config_mod.load(self.config_path, self.host)


def show_problems(exc: config_mod.ConfigError) -> None:
    for problem in exc.problems:
        err.print(f"[red]error:[/] {escape(problem)}", soft_wrap=True)


def require_hash_key(cfg: config_mod.Config, tenants: list[str]) -> None:
    """Stop (exit 2, one line) before anything of `tenants` is published or stored under a key anyone can
    know; a sandbox tenant runs with a one-line notice."""
    notice = cfg.require_hash_key(tenants)
    if notice:
        err.print(f"notice: {notice}", soft_wrap=True, markup=False)


pass_ctx = click.make_pass_decorator(Context)


class Commands(click.Group):
    """The `lifeline` group: a `ConfigError` from any of its commands is reported, exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except config_mod.ConfigError as exc:
            show_problems(exc)
            ctx.exit(2)


@click.group(cls=Commands)
@click.option("--config", "config_path", type=click.Path(path_type=Path), envvar=config_mod.CONFIG_ENV,
              default=None, help="plugins.toml to use [default: ./plugins.toml, or $LIFELINE_CONFIG]")
@click.version_option(package_name=DISTRIBUTION)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Lifeline: keep interviews from falling through the cracks."""
    install_lifeline_redaction()
    ctx.obj = Context(config_path)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--manifest", is_flag=True,
              help="also write the plugin manifest the Airflow DAG file checks plugins.toml against "
                   "[$LIFELINE_PLUGIN_MANIFEST, else $AIRFLOW_HOME/lifeline-plugins.json]")
@click.option("--schema", "schema_of", metavar="NAME",
              help="print connector NAME's settings (its plugins.toml table) as JSON Schema, with defaults")
@pass_ctx
def plugins(ctx: Context, as_json: bool, manifest: bool, schema_of: str | None) -> None:
    """List plugins, their versions, plugin API, connectors and hooks (failed and disabled ones too)."""
    host = ctx.host
    if schema_of is not None:
        print_settings_schema(host, schema_of)
        return
    described = host.describe()
    if manifest:
        from lifeline_hub.core.airflow import manifest as manifest_mod

        written = manifest_mod.write(host)
        failed = [p["name"] for p in described if p["status"] != "loaded"]
        err.print(f"plugin manifest written to {written} ({len(described) - len(failed)} loaded"
                  f"{', not loaded: ' + ', '.join(failed) if failed else ''})", soft_wrap=True, markup=False)
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    table = Table(title=f"Lifeline plugins (plugin API {'.'.join(map(str, PLUGIN_API))})")
    for col in ("plugin", "distribution", "version", "api", "status", "connectors (streams / actions)", "hooks"):
        table.add_column(col)
    for p in described:
        conns = "\n".join(
            f"{c['name']} ({', '.join(c['streams']) or '-'} / {', '.join(c['actions']) or '-'})"
            for c in p["connectors"]
        )
        status = {"loaded": "[green]loaded[/]", "disabled": "[yellow]disabled[/]"}.get(p["status"], "[red]failed[/]")
        name, dist, version, api = (escape(str(p[k] or "-")) for k in ("name", "distribution", "version", "api"))
        table.add_row(name, dist, version, api, status, escape(conns) or "-", escape("\n".join(p["hooks"])))
    out.print(table)
    for p in described:
        if p["error"]:
            out.print(f"{p['name']}: {p['status']}: {p['error']}", soft_wrap=True, markup=False)
        elif p["status"] == "loaded" and p["api"] is None:
            out.print(f"{p['name']}: declares no {PLUGIN_API_ATTRIBUTE}; loaded as built for plugin API 1.0",
                      soft_wrap=True, markup=False)


def print_settings_schema(host: PluginHost, name: str) -> None:
    """Connector `name`'s settings model as JSON Schema; an unknown connector is one line, exit status 2."""
    try:
        connector = host.connector(name)
    except UnknownConnector as exc:
        err.print(f"error: {exc}", soft_wrap=True, markup=False)
        raise SystemExit(2) from None
    try:
        schema = settings_schema(connector)
    except Exception as exc:  # a plugin's model pydantic cannot describe: say so, no traceback
        err.print(f"error: connector {name!r}: its settings model has no JSON Schema: {type(exc).__name__}: {exc}",
                  soft_wrap=True, markup=False)
        raise SystemExit(1) from None
    click.echo(json.dumps(schema, indent=2, ensure_ascii=False))


@cli.command()
@click.option("--offline", is_flag=True, help="validate the config only; do not call the connectors")
@pass_ctx
def check(ctx: Context, offline: bool) -> None:
    """Validate plugins.toml and call each connector's check(), one line per connector."""
    from lifeline_hub.core.sync import build_connector

    cfg = ctx.config()
    out.print(f"{escape(str(cfg.path))}: ok ({len(cfg.data.tenants)} tenants, {len(cfg.setups)} connector instances)",
              soft_wrap=True)
    key_problem = hash_key_problem()
    if key_problem:
        real = [name for name, tenant in cfg.data.tenants.items() if not tenant.sandbox]
        then = f"serve, sync and dispatch refuse tenant {', '.join(real)}" if real else "fine for sandbox tenants only"
        err.print(f"[yellow]warning:[/] {escape(key_problem)} (contact look-up hashes too); {then}", soft_wrap=True)
    failed = 0
    for setup in cfg.instances():
        label = f"{setup.instance.name} ({setup.connector_class.name})"
        if offline:
            out.print(f"  {label}: settings valid")
            continue
        try:
            result = build_connector(setup).check()
            ok, message = result.ok, result.message
        except Exception as exc:  # one broken connector must not hide the others
            ok, message = False, f"{type(exc).__name__}: {exc}"
        failed += not ok
        mark = "[green]ok[/]" if ok else "[red]FAILED[/]"
        out.print(f"  {label}: {mark} {escape(message)}", soft_wrap=True)
    for tenant in cfg.data.tenants:
        reach = ", ".join(f"{channel} ({setup.instance.name})" for channel, setup in cfg.candidate_channels(tenant))
        staff = ", ".join(setup.instance.name for setup in cfg.staff_instances(tenant))
        out.print(f"  {tenant}: candidates reachable on: {reach or 'nothing (no reminders can go out)'}; "
                  f"staff on: {staff or 'nothing'}", soft_wrap=True, markup=False, highlight=False)
    if failed:
        raise SystemExit(1)


@cli.group()
def db() -> None:
    """The store's schema."""


def _store(ctx: Context, url: str | None) -> Any:
    from lifeline_hub.core.store import Store

    problem = config_mod.store_url_problem(url) if url else None
    if problem:
        raise click.BadParameter(problem, param_hint="--url")
    return Store(url or ctx.config().store_url)


@db.command("upgrade")
@click.option("--url", help="database URL [default: the config's store]")
@pass_ctx
def db_upgrade(ctx: Context, url: str | None) -> None:
    """Apply the store's migrations."""
    store = _store(ctx, url)
    revision = store.upgrade()
    out.print(f"store {store.engine.url.render_as_string(hide_password=True)} is at revision {revision}",
              markup=False)


@db.command("status")
@click.option("--url", help="database URL [default: the config's store]")
@pass_ctx
def db_status(ctx: Context, url: str | None) -> None:
    """Show the store's revision and what it holds."""
    store = _store(ctx, url)
    current, head = store.revision(), store.head()
    out.print(f"store {store.engine.url.render_as_string(hide_password=True)}: revision {current} (head {head})",
              markup=False)
    if current != head:
        err.print("run `lifeline db upgrade` to bring the schema up to date")
        raise SystemExit(1)
    for table in ("interviews", "candidates", "evidence", "quarantine", "outcomes", "actions", "health"):
        seen = f" (bad records, met {store.quarantine_seen()} times)" if table == "quarantine" else ""
        out.print(f"  {table}: {store.count(table)} rows{seen}")


@cli.command()
@click.option("--tenant", "tenants", multiple=True, help="only this tenant (repeatable) [default: every tenant]")
@pass_ctx
def health(ctx: Context, tenants: tuple[str, ...]) -> None:
    """Stale streams, dead outbox rows, open circuit breakers and incidents, one line each; exit 1 if any."""
    from lifeline_hub.core.health import report
    from lifeline_hub.core.models import utcnow
    from lifeline_hub.core.store import Store

    cfg = ctx.config()
    names = list(tenants) or list(cfg.data.tenants)
    for name in names:
        cfg.tenant(name)
    store = Store(cfg.store_url)
    reports = [report(store, cfg, name, utcnow()) for name in names]
    for found in reports:
        for line in found.lines():
            out.print(line, soft_wrap=True, markup=False, highlight=False)
    if not all(found.ok for found in reports):
        raise SystemExit(1)


@cli.command()
@click.option("--source", help="only this connector instance, e.g. acme.wecom")
@click.option("--stream", help="only this stream (`callbacks`: callback events Lifeline does not handle)")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="the most recent N")
@click.option("--json", "as_json", is_flag=True, help="whole rows, payloads included (redacted)")
@click.option("--url", help="database URL [default: the config's store]")
@pass_ctx
def quarantine(ctx: Context, source: str | None, stream: str | None, limit: int, as_json: bool,
               url: str | None) -> None:
    """Show what was kept instead of stored: vendor records that did not fit, callback events not handled."""
    rows = _store(ctx, url).quarantined(source=source, stream=stream, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    table = Table("last seen", "source", "stream", "remote id", "reason", "seen", box=None)
    for row in rows:
        table.add_row(f"{row['last_seen_at']:%Y-%m-%d %H:%M}", row["source"], row["stream"], row["remote_id"] or "-",
                      row["reason"], str(row["seen_count"]))
    out.print(table if rows else "nothing quarantined")


@cli.command()
@click.option("--tenant", required=True, help="tenant name from plugins.toml")
@click.option("--connector", "connector_key", help="only this connector instance")
@click.option("--stream", help="only this stream")
@pass_ctx
def sync(ctx: Context, tenant: str, connector_key: str | None, stream: str | None) -> None:
    """Read the tenant's connector streams into the store (incremental)."""
    from lifeline_hub.core.store import Store
    from lifeline_hub.core.sync import build_connector, sync_stream

    cfg = ctx.config()
    require_hash_key(cfg, [tenant])  # contacts are stored under the key's look-up hashes
    store = Store(cfg.store_url)
    failed = 0
    for setup in cfg.instances(tenant):
        if connector_key and setup.key != connector_key:
            continue
        connector = build_connector(setup)
        for name in setup.streams:
            if stream and name != stream:
                continue
            try:
                summary = sync_stream(store, setup, name, connector)
            except Exception as exc:
                failed += 1
                err.print(f"{setup.instance.name}:{name}: [red]FAILED[/] {type(exc).__name__}: {escape(str(exc))}",
                          soft_wrap=True)
                continue
            out.print(summary.line(), soft_wrap=True, markup=False)
    if failed:
        raise SystemExit(1)


@cli.command()
@click.argument("name")
@click.option("--port", type=int, default=0, help="port on 127.0.0.1 [default: a free one]")
@click.option("--faults", type=float, default=0.0, help="probability of each injected fault")
@click.option("--seed", type=int, default=0)
@pass_ctx
def emulate(ctx: Context, name: str, port: int, faults: float, seed: int) -> None:
    """Serve a connector's vendor emulator on loopback until interrupted."""
    import importlib
    import time

    import requests

    from lifeline_hub.core.emulator import Faults, LoopbackServer

    try:
        cls = ctx.host.connector(name)
    except UnknownConnector as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    if not cls.emulator:
        raise click.UsageError(f"connector {name!r} ships no emulator")
    module, _, factory = cls.emulator.partition(":")
    app = getattr(importlib.import_module(module), factory)()
    with LoopbackServer(app, port) as server:
        # every emulator takes its fault knobs on the same control endpoint
        requests.put(f"{server.url}/_emulator/faults", json=Faults.uniform(faults, seed).model_dump(),
                     timeout=10).raise_for_status()
        out.print(f"{name} emulator listening on {server.url} (faults {faults}); Ctrl-C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def _instant(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    from lifeline_hub.core.models import parse_instant

    try:
        return parse_instant(value) if value else None
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 instant with an offset, e.g. 2026-03-02T00:00:00Z"
                                 ) from None


@cli.command()
@click.option("--interviews", "n", type=click.IntRange(1, 5000), default=60, show_default=True,
              help="simulated interviews (AI interviews and Feishu Hire video interviews)")
@click.option("--days", type=click.IntRange(2, 60), default=4, show_default=True,
              help="simulated days: interviews start on days 1 to D-1, the last day is for following up")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--start", callback=_instant, metavar="INSTANT",
              help="simulated start, ISO 8601 with an offset (e.g. 2026-03-02T00:00:00Z) [default: now]; the same "
                   "start, seed, size and faults give the same run")
@click.option("--faults", type=click.FloatRange(0, 1), default=0.02, show_default=True,
              help="probability of each vendor fault")
@click.option("--free-ports", is_flag=True,
              help="serve the emulators on free loopback ports, not those plugins.toml names (to run beside "
                   "`make airflow` or another demo)")
@click.option("--store", "store_path", type=click.Path(path_type=Path), default=Path("var/demo.db"), show_default=True,
              help="SQLite file for the demo (recreated)")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="also write the figures as JSON")
@click.option("--tenant", metavar="NAME", help="the sandbox tenant to run (`sandbox_wecom`: staff on WeCom, "
                                               "candidates also on WeChat) [default: the config's first]")
@click.option("--events", type=click.Choice(["http", "stream"]),
              help="how Feishu's events reach Lifeline: HTTP callbacks, or the long connection (`lifeline listen` "
                   "inside the demo) [default: each instance's `events` in the config]")
@pass_ctx
def demo(ctx: Context, n: int, days: int, seed: int, start: datetime | None, faults: float, free_ports: bool,
         store_path: Path, json_path: Path | None, tenant: str | None, events: str | None) -> None:
    """Run the whole pipeline over simulated days against the vendor emulators and a simulated population."""
    from lifeline_hub.core import demo as demo_mod
    from lifeline_hub.core.models import utcnow

    cfg = ctx.config()
    again = f" --tenant {tenant}" if tenant else ""
    tenant = tenant or next(iter(cfg.data.tenants))
    cfg = demo_mod.sandbox_tenant(cfg, tenant)
    if free_ports:
        cfg = demo_mod.on_free_ports(cfg)
    start = start or utcnow().replace(microsecond=0)
    stamp = start.isoformat().replace("+00:00", "Z")
    out.print(f"Lifeline demo of tenant {tenant}: {n} interviews over {days} simulated days from {stamp} on the "
              f"emulators named in {cfg.path}{' (on free ports)' if free_ports else ''}, faults {faults}, seed {seed} "
              f"(the same run again: --seed {seed} --start {stamp}{again})", soft_wrap=True, markup=False)
    try:
        report = demo_mod.run(cfg, ctx.host, store_path, n, days, seed, faults, start, out, tenant, events)
    except demo_mod.PortInUse as exc:
        raise click.ClickException(str(exc)) from None
    demo_mod.show(report, out)
    if json_path:
        demo_mod.write_json(report, json_path)
    if report.duplicates or report.false_missed:
        raise SystemExit(1)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except BrokenPipeError:
        sys.exit(0)


# Command groups contributed by core modules are added below, one `cli.add_command(...)` line each.
from lifeline_hub.core.receiver.commands import link, serve  # noqa: E402 - they import `cli`'s helpers above

cli.add_command(serve)
cli.add_command(link)
from lifeline_hub.core.reconcile.cli import evidence, reconcile  # noqa: E402

cli.add_command(reconcile)
cli.add_command(evidence)
from lifeline_hub.core.remediation.cli import remediate  # noqa: E402

cli.add_command(remediate)
from lifeline_hub.core.outbox.cli import dispatch  # noqa: E402

cli.add_command(dispatch)
from lifeline_hub.core.reminders.cli import reminders  # noqa: E402

cli.add_command(reminders)
from lifeline_hub.core.scaffold.cli import new  # noqa: E402

cli.add_command(new)
from lifeline_hub.core.airflow.setup import airflow  # noqa: E402

cli.add_command(airflow)
from lifeline_hub.core.listen.commands import listen  # noqa: E402

cli.add_command(listen)
