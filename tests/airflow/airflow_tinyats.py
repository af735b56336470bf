"""A tiny ATS for the Airflow tests: a vendor emulator served over real HTTP and its connector plugin.

The emulator pages interviews behind a bearer token and records every request; `faults` makes
the next requests answer with an HTTP status instead (401, 429 with Retry-After, 503).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import requests
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from lifeline_hub.core import Checkpoint, Connector, StreamInfo, hookimpl
from lifeline_hub.core.connector import StreamItem
from lifeline_hub.core.http.errors import AuthFailed, RateLimited, TransientError
from lifeline_hub.core.models import Interview, utcnow
from lifeline_hub.core.plugins import PluginHost

SECRET = "tinyats-secret-value-1"
APP_KEY = "tinyats-app-key-42"
PAGE = 2
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@dataclass
class World:
    interviews: int = 5
    faults: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def item(self, n: int) -> dict[str, Any]:
        start = T0 + timedelta(hours=n)
        return {"id": f"iv{n}", "start": start.isoformat(), "end": (start + timedelta(minutes=45)).isoformat()}


def create_app(world: World) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/interviews")
    def listing(request: Request, after: int = 0) -> JSONResponse:
        world.requests.append({"after": after})
        if world.faults:
            status = world.faults.pop(0)
            return JSONResponse({"error": status}, status_code=status, headers={"Retry-After": "0.2"})
        if request.headers.get("authorization") != f"Bearer {SECRET}":
            return JSONResponse({"error": "bad token"}, status_code=401)
        page = [world.item(n) for n in range(after, min(after + PAGE, world.interviews))]
        return JSONResponse({"items": page, "next": after + len(page)})

    return app


class TinyATS(Connector):
    name = "tinyats"
    streams = (StreamInfo("interviews", (Interview,), "interview windows"),)
    default_base_urls: ClassVar[Mapping[str, str]] = {"api": "https://tinyats.invalid/v1"}

    def read(self, stream: str, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
        assert self.credentials is not None
        after = int(cursor.get("after", 0))
        while True:
            response = requests.get(f"{self.base_url('api')}/interviews", params={"after": after}, timeout=10,
                                    headers={"Authorization": f"Bearer {self.credentials.require('password')}"})
            _raise_for(response)
            body = response.json()
            if not body["items"]:
                return
            for item in body["items"]:
                yield self.parse(Interview, item, remote_id=item["id"], kind="video", start_at=item["start"],
                                 end_at=item["end"], thread={"thread_id": item["id"], "ical_uid": item["id"]})
            after = body["next"]
            yield Checkpoint({"after": after}, utcnow())


def _raise_for(response: requests.Response) -> None:
    fields: dict[str, Any] = {"vendor": "tinyats", "http_status": response.status_code}
    if response.status_code == 401:
        raise AuthFailed("token rejected", **fields)
    if response.status_code == 429:
        raise RateLimited("slow down", retry_after=float(response.headers["Retry-After"]), **fields)
    if response.status_code >= 500:
        raise TransientError("vendor down", **fields)


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(TinyATS)


def host() -> PluginHost:
    """A plugin host with only this test plugin, registered the way entry points are."""
    plugin_host = PluginHost()
    plugin_host.register(sys.modules[__name__], "tinyats")
    return plugin_host


def write_config(directory: Path, url: str, tenants: tuple[str, ...] = ("acme",)) -> Path:
    """A plugins.toml with one tinyats instance per tenant, pointed at the emulator on `url`."""
    lines = [f'[lifeline]\nstore = "sqlite:///{directory / "lifeline.db"}"\n']
    for tenant in tenants:
        lines.append(f'[tenants.{tenant}.connectors.ats]\nplugin = "tinyats"\nconnection_id = "tinyats_{tenant}"\n'
                     f'base_urls = {{api = "{url}/v1"}}\n')
    path = directory / "plugins.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def connection(app_key: str = APP_KEY) -> str:
    """The AIRFLOW_CONN_* value: the token as password, an app key Airflow's own list would not mask."""
    return json.dumps({"conn_type": "http", "login": "tinyats-client", "password": SECRET,
                       "extra": {"app_key": app_key, "region": "cn"}})
