"""E-mail emulator: the loopback SMTP and IMAP servers (`MailWorld`) behind the common HTTP control app.

SMTP and IMAP have no HTTP API, so the app only serves `/_emulator/*`: `GET /state` (counts and the
`smtp` and `imap` `host`/`port`/`url` to point the connector's base URLs at), `GET /state/messages`
(everything received, raw included), `GET /state/sent` (the accounts' Sent folders), `PUT /faults`
(the common `Faults` knobs, as `lifeline emulate` sets them) and `POST /drive/{reject|accept|clear|advance}`.
Creating the app starts the servers (SMTP on `port`, else `smtp_port`, else a free port; IMAP on
`imap_port`, else the settings', else a free one); `app.state.world.close()` stops them.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from lifeline_hub.connectors.email.emulator_state import MailSettings, MailWorld
from lifeline_hub.core.emulator import control_router

__all__ = ["MailSettings", "MailWorld", "create_app"]


def control(world: MailWorld) -> APIRouter:
    """`/_emulator/*`: the servers' state (`/state/messages`: everything received; `/state/sent`: the Sent
    folders) and drive actions."""
    return control_router(world, ("reject", "accept", "clear", "advance"),
                          {"messages": world.messages, "sent": world.sent_messages})


def create_app(settings: MailSettings | None = None, world: MailWorld | None = None,
               port: int | None = None, imap_port: int | None = None) -> FastAPI:
    """The control app; `app.state.world` is the running SMTP (on `port`) and IMAP (on `imap_port`) servers.

    A given `world` brings its own settings (and ports).
    """
    if world is None:
        settings = settings or MailSettings()
        ports = {"smtp_port": port, "imap_port": imap_port}
        world = MailWorld(settings.model_copy(update={k: v for k, v in ports.items() if v}))
    world.start()
    app = FastAPI(title="E-mail (SMTP and IMAP) emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.world = world
    app.include_router(control(world))
    return app
