"""E-mail emulator: the loopback SMTP server (`MailWorld`) behind the common HTTP control app.

SMTP has no HTTP API, so the app only serves `/_emulator/*`: `GET /state` (counts and the SMTP
`host`/`port`/`url` to point the connector's `smtp` base URL at), `GET /state/messages` (everything
received, raw included), `PUT /faults` (the common `Faults` knobs, as `lifeline emulate` sets them)
and `POST /drive/{reject|accept|clear|advance}`. Creating the app starts the SMTP server (on `port`,
else `smtp_port`, else a free port); `app.state.world.close()` stops it.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from connectors.email.emulator_state import MailSettings, MailWorld
from core.emulator import control_router

__all__ = ["MailSettings", "MailWorld", "create_app"]


def control(world: MailWorld) -> APIRouter:
    """`/_emulator/*`: the SMTP server's state (`/state/messages`: everything received) and drive actions."""
    return control_router(world, ("reject", "accept", "clear", "advance"), {"messages": world.messages})


def create_app(settings: MailSettings | None = None, world: MailWorld | None = None,
               port: int | None = None) -> FastAPI:
    """The control app; `app.state.world` is the running SMTP server, listening on `port` when given.

    A given `world` brings its own settings (and port).
    """
    if world is None:
        settings = settings or MailSettings()
        world = MailWorld(settings.model_copy(update={"smtp_port": port}) if port else settings)
    world.start()
    app = FastAPI(title="E-mail (SMTP) emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.world = world
    app.include_router(control(world))
    return app
