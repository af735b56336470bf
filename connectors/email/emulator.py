"""E-mail emulator: the loopback SMTP server (`MailWorld`) behind the common HTTP control app.

SMTP has no HTTP API, so the app only serves `/_emulator/*`: `GET /state` (counts and the SMTP
`host`/`port`/`url` to point the connector's `smtp` base URL at), `GET /state/messages` (everything
received, raw included), `PUT /faults` (the common `Faults` knobs, as `lifeline emulate` sets them)
and `POST /drive/{reject|accept|clear}`. Creating the app starts the SMTP server (on a free port
unless `smtp_port` is set); `app.state.world.close()` stops it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, HTTPException
from pydantic import ValidationError, validate_call

from connectors.email.emulator_state import Json, MailSettings, MailWorld
from core.emulator import Faults

__all__ = ["MailSettings", "MailWorld", "create_app"]


def control(world: MailWorld) -> APIRouter:
    router = APIRouter(prefix="/_emulator")
    actions: dict[str, Callable[..., Any]] = {
        name: validate_call(getattr(world, name)) for name in ("reject", "accept", "clear")
    }

    @router.get("/state")
    def state() -> Json:
        return world.summary()

    @router.get("/state/messages")
    def messages() -> list[Json]:
        return world.messages()

    @router.put("/faults")
    def faults(knobs: Faults) -> Faults:
        return world.configure_faults(knobs)

    @router.post("/drive/{action}")
    def drive(action: str, kwargs: Annotated[Json | None, Body()] = None) -> Json:
        if action not in actions:
            raise HTTPException(404, f"unknown action {action!r}; one of {sorted(actions)}")
        try:
            return {"result": actions[action](**(kwargs or {}))}
        except ValidationError as exc:
            raise HTTPException(422, exc.errors(include_url=False, include_context=False)) from exc
        except ValueError as exc:
            raise HTTPException(400, f"{action}: {exc}") from exc

    return router


def create_app(settings: MailSettings | None = None, world: MailWorld | None = None) -> FastAPI:
    """The control app; `app.state.world` is the running SMTP server. A given `world` brings its own settings."""
    world = (world or MailWorld(settings)).start()
    app = FastAPI(title="E-mail (SMTP) emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.world = world
    app.include_router(control(world))
    return app
