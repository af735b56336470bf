"""`lifeline reminders plan|dispatch --tenant T`: plan the tenant's reminders, or send the due ones.

Heavy imports happen inside the commands: the CLI imports this module on every start.
"""

from __future__ import annotations

import dataclasses
import json

import click
from rich.markup import escape

from lifeline_hub.core.cli import Context, err, out, require_hash_key


@click.group("reminders")
def reminders() -> None:
    """Interview reminders to candidates and interviewers."""


@reminders.command("plan")
@click.option("--tenant", required=True, help="tenant name from plugins.toml")
@click.option("--now", "now_text", help="plan as of this instant (ISO 8601 with offset) [default: now]")
@click.option("--json", "as_json", is_flag=True, help="machine-readable summary")
@click.pass_obj
def plan(ctx: Context, tenant: str, now_text: str | None, as_json: bool) -> None:
    """Plan (and withdraw) reminders from the schedule; `reminders dispatch` sends them."""
    from lifeline_hub.core.models import parse_instant, utcnow
    from lifeline_hub.core.reminders.plan import plan_reminders
    from lifeline_hub.core.store import Store

    cfg = ctx.config()
    cfg.tenant(tenant)
    try:
        now = parse_instant(now_text) if now_text else utcnow()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from None
    summary = plan_reminders(Store(cfg.store_url), tenant, now, cfg)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
        return
    out.print(summary.line(), soft_wrap=True, markup=False, highlight=False)
    for problem in summary.problems:
        err.print(f"[yellow]warning:[/] {escape(problem)}", soft_wrap=True)


@reminders.command("dispatch")
@click.option("--tenant", required=True, help="tenant name from plugins.toml")
@click.option("--json", "as_json", is_flag=True, help="machine-readable summary")
@click.pass_obj
def dispatch(ctx: Context, tenant: str, as_json: bool) -> None:
    """Send the tenant's due outbox rows (reminders and everything else due)."""
    from lifeline_hub.core.outbox import dispatch as run
    from lifeline_hub.core.store import Store

    cfg = ctx.config()
    require_hash_key(cfg, [tenant])  # everything due goes out, HR's tasks and their signed links too
    summary = run(Store(cfg.store_url), cfg, tenant)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(summary), indent=2))
        return
    out.print(summary.line(), soft_wrap=True, markup=False, highlight=False)
    for problem in summary.problems:
        err.print(f"[yellow]warning:[/] {escape(problem)}", soft_wrap=True)
