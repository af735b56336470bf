"""`lifeline remediate --tenant T`: plan remediation for new outcomes, take up requests and decisions.

Heavy imports happen inside the command: the CLI imports this module on every start.
"""

from __future__ import annotations

import json

import click
from rich.markup import escape

from lifeline_hub.core.cli import Context, err, out


@click.command("remediate")
@click.option("--tenant", required=True, help="tenant name from plugins.toml")
@click.option("--now", "now_text", help="plan as of this instant (ISO 8601 with offset) [default: now]")
@click.option("--json", "as_json", is_flag=True, help="machine-readable summary")
@click.pass_obj
def remediate(ctx: Context, tenant: str, now_text: str | None, as_json: bool) -> None:
    """Turn new outcomes into planned actions (run `lifeline dispatch` to perform them)."""
    from lifeline_hub.core.models import parse_instant
    from lifeline_hub.core.remediation import remediate as run
    from lifeline_hub.core.store import Store

    cfg = ctx.config()
    cfg.tenant(tenant)
    try:
        now = parse_instant(now_text) if now_text else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from None
    summary = run(Store(cfg.store_url), tenant, now, cfg, ctx.host)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
        return
    for line in summary.lines():
        out.print(line, soft_wrap=True, markup=False, highlight=False)
    for incident in summary.plan.incidents:
        err.print(f"[red]incident opened:[/] {escape(incident)}", soft_wrap=True)
    for problem in [*summary.plan.problems, *summary.problems]:
        err.print(f"[yellow]warning:[/] {escape(problem)}", soft_wrap=True)
