"""`lifeline dispatch --tenant T`: perform due outbox rows; `--dead` lists the parked ones, `--requeue` retries them.

Heavy imports happen inside the command: the CLI imports this module on every start.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.table import Table

from lifeline_hub.core.cli import Context, err, out, require_hash_key

if TYPE_CHECKING:
    from lifeline_hub.core.outbox import Row


@click.command("dispatch")
@click.option("--tenant", required=True, help="tenant name from plugins.toml")
@click.option("--limit", type=int, default=50, show_default=True, help="rows claimed at a time")
@click.option("--dead", "list_dead", is_flag=True, help="list the dead rows (with their errors) instead")
@click.option("--requeue", "requeue_keys", multiple=True, metavar="KEY|all",
              help="plan dead rows again (after fixing their cause), then dispatch")
@click.option("--json", "as_json", is_flag=True, help="machine-readable summary")
@click.pass_obj
def dispatch(ctx: Context, tenant: str, limit: int, list_dead: bool, requeue_keys: tuple[str, ...],
             as_json: bool) -> None:
    """Perform the tenant's due actions (tasks, messages, approvals...) exactly once each."""
    from dataclasses import asdict

    from lifeline_hub.core.models import ActionStatus, utcnow
    from lifeline_hub.core.outbox import dispatch as run
    from lifeline_hub.core.outbox import requeue, rows
    from lifeline_hub.core.store import Store

    cfg = ctx.config()
    cfg.tenant(tenant)
    store = Store(cfg.store_url)
    if list_dead:
        _show_dead(rows(store, tenant, status=ActionStatus.dead), as_json)
        return
    require_hash_key(cfg, [tenant])  # what goes out carries HR links signed with it
    if requeue_keys:
        keys = None if "all" in requeue_keys else list(requeue_keys)
        out.print(f"{tenant}: {requeue(store, tenant, keys, utcnow())} dead rows planned again")
    summary = run(store, cfg, tenant, limit=limit)
    if as_json:
        click.echo(json.dumps(asdict(summary), indent=2))
    else:
        out.print(summary.line(), soft_wrap=True, markup=False, highlight=False)
        for problem in summary.problems:
            err.print(f"[red]dead:[/] {escape(problem)}", soft_wrap=True)
    parked = len(rows(store, tenant, status=ActionStatus.dead))
    if parked:
        err.print(f"[yellow]{parked} dead actions[/]: `lifeline dispatch --tenant {tenant} --dead` shows them; "
                  f"fix the cause, then `--requeue KEY` (or `--requeue all`)", soft_wrap=True)
    if summary.dead:
        raise SystemExit(1)


def _show_dead(found: list[Row], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([{**r.action.model_dump(mode="json", exclude={"payload"}),
                                "updated_at": r.updated_at.isoformat()} for r in found], indent=2))
        return
    table = Table(title=f"dead actions ({len(found)})")
    for col in ("key", "connector", "kind", "interview", "tries", "since", "error"):
        table.add_column(col, overflow="fold")
    for r in found:
        a = r.action
        cells = (a.idempotency_key, a.connector, a.kind, a.interview_id or "-", str(a.attempts),
                 r.updated_at.strftime("%Y-%m-%d %H:%M"), a.last_error or "")
        table.add_row(*(escape(cell) for cell in cells))
    out.print(table)
