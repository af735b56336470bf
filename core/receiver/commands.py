"""CLI commands of the receiver: `lifeline serve` (uvicorn) and `lifeline link` (a candidate's join link).

Imports happen inside the commands: the CLI imports this module on every start (and it imports us).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import click
from rich.markup import escape

if TYPE_CHECKING:
    from lifeline_hub.core.cli import Context


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="interface to listen on")
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True,
              help="proxies trusted for X-Forwarded-For (client IPs are hashed for link events)")
@click.pass_obj
def serve(ctx: Context, host: str, port: int, forwarded_allow_ips: str) -> None:
    """Serve join links (/j/...) and vendor callbacks (/callbacks/<instance>) until interrupted."""
    import uvicorn

    from lifeline_hub.core.cli import err, out, require_hash_key
    from lifeline_hub.core.receiver.app import create_app
    from lifeline_hub.core.receiver.conformance import accepts_callbacks
    from lifeline_hub.core.store import Store

    cfg = ctx.config()
    require_hash_key(cfg, list(cfg.data.tenants))  # it verifies every tenant's HR links and stores contacts
    store = Store(cfg.store_url)
    current, head = store.revision(), store.head()
    if current != head:
        err.print(f"[red]error:[/] the store is at revision {current} (head {head}): run `lifeline db upgrade`")
        raise SystemExit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(cfg, store, ctx.host)
    callbacks = [s.instance.name for s in cfg.instances() if accepts_callbacks(s.connector_class)]
    out.print(f"receiver on http://{host}:{port}: /j/<token>, /healthz, "
              f"callbacks: {', '.join(f'/callbacks/{n}' for n in callbacks) or 'none'}", soft_wrap=True, markup=False)
    uvicorn.run(app, host=host, port=port, access_log=False, proxy_headers=True,
                forwarded_allow_ips=forwarded_allow_ips, log_level="info")


@click.command()
@click.argument("interview_id")
@click.option("--reissue", is_flag=True, help="rotate: a new link; earlier ones now show 'replaced'")
@click.option("--base-url", help="public URL of `lifeline serve` [default: $LIFELINE_PUBLIC_URL or "
                                 "http://127.0.0.1:8080]")
@click.pass_obj
def link(ctx: Context, interview_id: str, reissue: bool, base_url: str | None) -> None:
    """Print the candidate's join link for a stored interview (issued on first use)."""
    from lifeline_hub.core.cli import err
    from lifeline_hub.core.links import join_link
    from lifeline_hub.core.store import Store

    store = Store(ctx.config().store_url)
    try:
        click.echo(join_link(store, interview_id, reissue=reissue, base_url=base_url))
    except (LookupError, ValueError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise SystemExit(1) from None
