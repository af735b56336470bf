"""`lifeline listen`: the Airflow-independent service that keeps the event connections open."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from lifeline_hub.core.cli import Context


@click.command()
@click.option("--tenant", help="only this tenant's instances [default: every tenant]")
@click.pass_obj
def listen(ctx: Context, tenant: str | None) -> None:
    """Receive vendor events over outbound connections (instances with events = "stream") until interrupted.

    Exit 0 when interrupted, 1 when no instance could keep listening (refused credentials, no event stream)."""
    from lifeline_hub.core.cli import err, out, require_hash_key
    from lifeline_hub.core.listen.listener import REFUSED, STOPPED, stream_instances
    from lifeline_hub.core.listen.listener import listen as run
    from lifeline_hub.core.store import Store

    cfg = ctx.config()
    if tenant is not None:
        cfg.tenant(tenant)
    names = [s.instance.name for s in stream_instances(cfg, tenant)]
    if not names:
        err.print('error: no connector instance with events = "stream"' + (f" in tenant {tenant}" if tenant else ""),
                  markup=False)
        raise SystemExit(2)
    require_hash_key(cfg, [tenant] if tenant else list(cfg.data.tenants))
    store = Store(cfg.store_url)
    current, head = store.revision(), store.head()
    if current != head:
        err.print(f"error: the store is at revision {current} (head {head}): run `lifeline db upgrade`", markup=False)
        raise SystemExit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out.print(f"listening for events: {', '.join(names)}", soft_wrap=True, markup=False)

    async def main() -> dict[str, str]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run(cfg, store, tenant, stop)

    ended = asyncio.run(main())
    failed = {name: why for name, why in ended.items() if why != STOPPED}
    for name, why in failed.items():
        err.print(f"{name}: {'stopped: ' + why if why == REFUSED else why}", soft_wrap=True, markup=False)
    if failed and len(failed) == len(ended):
        raise SystemExit(1)
