"""`lifeline reconcile --tenant T` and `lifeline evidence <interview-id> [--json]`.

Heavy imports happen inside the commands: the CLI imports this module on every start.
"""

from __future__ import annotations

import json
from datetime import datetime

import click
from rich.markup import escape
from rich.table import Table

from lifeline_hub.core.cli import Context, err, out
from lifeline_hub.core.models import parse_instant, utcnow


@click.command("reconcile")
@click.option("--tenant", required=True, help="tenant name from plugins.toml")
@click.option("--now", "now_text", help="decide as of this instant (ISO 8601 with offset) [default: now]")
@click.option("--full", is_flag=True, help="re-decide every interview, not only those touched or due")
@click.option("--json", "as_json", is_flag=True, help="machine-readable summary")
@click.pass_obj
def reconcile(ctx: Context, tenant: str, now_text: str | None, full: bool, as_json: bool) -> None:
    """Decide which interviews happened, which were missed and why (incremental)."""
    from lifeline_hub.core.reconcile.run import reconcile as run
    from lifeline_hub.core.store import Store

    now = _instant(now_text) if now_text else utcnow()
    cfg = ctx.config()
    cfg.tenant(tenant)
    summary = run(Store(cfg.store_url), tenant, now, cfg, ctx.host, full=full)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        for line in summary.lines():
            out.print(line, soft_wrap=True, markup=False, highlight=False)
    for stale in summary.stale:
        err.print(f"[yellow]warning:[/] stale stream {escape(stale.subject)}", soft_wrap=True)


@click.command("evidence")
@click.argument("interview_id")
@click.option("--json", "as_json", is_flag=True, help="machine-readable trail")
@click.pass_obj
def evidence(ctx: Context, interview_id: str, as_json: bool) -> None:
    """Show an interview's evidence trail and outcome history, in the tenant's time zone."""
    import sqlalchemy as sa

    from lifeline_hub.core.reconcile.trail import evidence_trail, pending_because
    from lifeline_hub.core.store import Store
    from lifeline_hub.core.store.schema import interviews

    cfg = ctx.config()
    store = Store(cfg.store_url)
    with store.engine.connect() as conn:
        tenant = conn.execute(sa.select(interviews.c.tenant).where(interviews.c.id == interview_id)).scalar()
    configured = cfg.data.tenants.get(tenant) if tenant else None
    trail = evidence_trail(store, interview_id, configured.timezone if configured else None)
    if trail is None:
        err.print(f"[red]error:[/] no interview {escape(repr(interview_id))} in the store", soft_wrap=True)
        raise SystemExit(1)
    why = pending_because(store, trail, cfg) if configured else ()
    if as_json:
        click.echo(json.dumps({**trail.as_dict(), "pending_because": list(why)}, indent=2, ensure_ascii=False))
        return
    iv = trail.interview
    start, end = trail.local(iv["start_at"]), trail.local(iv["end_at"])
    out.print(f"{iv['id']} ({iv['kind']}, {iv['status']}, sequence {iv['sequence']}): "
              f"{start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} {trail.timezone} (UTC{start:%z})",
              soft_wrap=True, markup=False, highlight=False)
    table = Table(title=f"Evidence trail ({trail.timezone})")
    for col in ("time", "event", "channel", "detail", "source", "id"):
        table.add_column(col)
    for e in trail.entries:
        style = None if e.counted else "dim"
        cells = (f"{trail.local(e.at):%Y-%m-%d %H:%M:%S %z}", e.event, e.channel or "-", e.detail or "-", e.source,
                 str(e.evidence_id or "-"))
        table.add_row(*(escape(c) for c in cells), style=style)
    out.print(table)
    for line in why:
        out.print(f"pending: {line}", soft_wrap=True, markup=False, highlight=False)


def _instant(text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from None
