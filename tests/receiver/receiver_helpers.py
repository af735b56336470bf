"""Shared set-up for the links, receiver and aiplatform tests: plugins, config, seeded store, receiver."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from lifeline_hub.connectors.aiplatform import plugin as aiplatform_plugin
from lifeline_hub.core.config import Config, load
from lifeline_hub.core.conformance.callbacks import stored_rows as stored_rows  # re-exported for the tests
from lifeline_hub.core.conformance.callbacks import toml_value
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.models import (
    AppointmentThread,
    Candidate,
    Interview,
    InterviewKind,
    InterviewStatus,
    Record,
    canonical_id,
    utcnow,
)
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.receiver.app import create_app
from lifeline_hub.core.receiver.conformance import CallbackKit, accepts_callbacks, load_kit
from lifeline_hub.core.store import Store

TENANT = "acme"
SOURCE = f"{TENANT}.ats"
JOIN_URL = "https://meet.example.com/room/42?pwd=s3cret"
NOW = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
"""A fixed instant for receivers on a fixed clock (tests never depend on today's date)."""


def plugin_host() -> PluginHost:
    """The installed plugins, plus aiplatform registered in-process until its entry point is installed."""
    host = PluginHost().load_entry_points()
    if "aiplatform" not in host.connectors:
        host.register(aiplatform_plugin, "aiplatform")
    return host


def write_config(directory: Path, body: str = "", locale: str = "zh-CN") -> Path:
    """A plugins.toml with tenant `acme` (zone Asia/Shanghai) plus `body` (more TOML tables)."""
    path = directory / "plugins.toml"
    path.write_text(textwrap.dedent(f"""\
        [tenants.{TENANT}]
        timezone = "Asia/Shanghai"
        locale = "{locale}"
        """) + textwrap.dedent(body), encoding="utf-8")
    return path


def load_config(directory: Path, body: str = "", host: PluginHost | None = None, locale: str = "zh-CN") -> Config:
    return load(write_config(directory, body, locale), host or plugin_host())


def interview(remote_id: str = "iv1", *, start: datetime | None = None, minutes: int = 45, sequence: int = 0,
              kind: InterviewKind = InterviewKind.video, join_url: str | None = JOIN_URL,
              status: InterviewStatus = InterviewStatus.scheduled, candidate: str | None = "cand1",
              thread: str = "thread-1") -> Interview:
    start = start or utcnow() + timedelta(hours=1)
    return Interview(
        source=SOURCE, remote_id=remote_id, kind=kind, start_at=start, end_at=start + timedelta(minutes=minutes),
        timezone="Asia/Shanghai", status=status, thread=AppointmentThread(thread_id=thread, ical_uid=f"{thread}@t",
                                                                          sequence=sequence),
        candidate_id=canonical_id(SOURCE, candidate) if candidate else None, join_url=join_url, platform="meet",
    )


def candidate(remote_id: str = "cand1", locale: str = "zh-CN", timezone: str = "Asia/Shanghai") -> Candidate:
    return Candidate(source=SOURCE, remote_id=remote_id, name="张三", locale=locale, timezone=timezone)


def seed(store: Store, *records: Record) -> None:
    store.write(TENANT, records or (candidate(), interview()))


@contextmanager
def running_receiver(config: Config, store: Store, host: PluginHost | None = None,
                     clock: Callable[[], datetime] = utcnow) -> Iterator[str]:
    """The receiver on loopback; yields its base URL."""
    with LoopbackServer(create_app(config, store, host or plugin_host(), clock)) as server:
        yield server.url


def instance_table(name: str, plugin: str, settings: Mapping[str, object], connection_id: str | None = None,
                   base_urls: Mapping[str, str] | None = None) -> str:
    """A `[tenants.acme.connectors.<name>]` table."""
    lines = [f"[tenants.{TENANT}.connectors.{name}]", f'plugin = "{plugin}"']
    if connection_id:
        lines.append(f'connection_id = "{connection_id}"')
    if base_urls:
        lines.append(f"base_urls = {toml_value(base_urls)}")
    lines += [f"{key} = {toml_value(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def callback_connectors(host: PluginHost) -> list[str]:
    """Every registered connector that accepts callbacks."""
    return sorted(name for name, cls in host.connectors.items() if accepts_callbacks(cls))


def callback_instances(host: PluginHost, monkeypatch: pytest.MonkeyPatch,
                       names: list[str] | None = None) -> tuple[str, dict[str, CallbackKit]]:
    """`[tenants.acme.connectors.<name>]` tables, one instance per callback connector (named after it,
    served at `/callbacks/acme.<name>`), their kits' connections set in the environment; and the kits."""
    tables, kits = "", {}
    for name in names or callback_connectors(host):
        kit = kits[name] = load_kit(host.connector(name))
        conn_id = f"conformance_{name}" if kit.connection else None
        if kit.connection:
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id}".upper(), kit.connection)
        tables += instance_table(name, name, kit.settings, conn_id)
    return tables, kits


class Client:
    """A keep-alive HTTP client of a running receiver; header values go out as the Latin-1 bytes they are."""

    def __init__(self, url: str) -> None:
        self.url, self.session = url, requests.Session()

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=10, allow_redirects=False, **kwargs)  # type: ignore[arg-type]

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("POST", path, **kwargs)


@contextmanager
def callback_client(store: Store, directory: Path, monkeypatch: pytest.MonkeyPatch, names: list[str] | None = None,
                    clock: Callable[[], datetime] = lambda: NOW) -> Iterator[tuple[Client, dict[str, CallbackKit]]]:
    """A client of a receiver on loopback (on `clock`) serving `callback_instances`; and their kits."""
    host = plugin_host()
    tables, kits = callback_instances(host, monkeypatch, names)
    with running_receiver(load_config(directory, tables, host), store, host, clock) as url:
        client = Client(url)
        yield client, kits
        client.session.close()
