"""Callback cases, for a connector that accepts vendor callbacks (it overrides `handle_callback` and names
its `callback_kit`, see `core.receiver.conformance`): the receiver, on loopback, serving one instance of it.

Unsigned, forged, stale and replayed deliveries are refused and store nothing; a valid event delivered
several times, one after the other or all at once, is stored once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from lifeline_hub.core.conformance.cases import case
from lifeline_hub.core.connector import Connector
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.hookspecs import hookimpl
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.receiver.conformance import CallbackKit, SignedRequest, accepts_callbacks, load_kit
from lifeline_hub.core.store import Store

STORED_TABLES = ("evidence", "interviews", "candidates", "inbound_events", "quarantine")
EMPTY = dict.fromkeys(STORED_TABLES, 0)
REFUSED = (401, 403)


def stored_rows(store: Store) -> dict[str, int]:
    """Rows per record table (what a callback may have written)."""
    return {table: store.count(table) for table in STORED_TABLES}


class OneConnector:
    """A plugin object registering just `cls` (the suite's host knows no other connector)."""

    def __init__(self, cls: type[Connector]) -> None:
        self.cls = cls

    @hookimpl
    def lifeline_register_connectors(self, register: Callable[[type[Connector]], None]) -> None:
        register(self.cls)


def toml_value(value: object) -> str:
    """A TOML literal for settings values (strings, numbers, booleans, lists, tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def plugins_toml(tenant: str, name: str, settings: dict[str, Any], connection_id: str | None) -> str:
    """The config file of one tenant with one instance `<tenant>.<name>` of connector `name`."""
    table = {"plugin": name, **({"connection_id": connection_id} if connection_id else {}), **settings}
    lines = [f"[tenants.{tenant}]", 'timezone = "Asia/Shanghai"', "",
             f"[tenants.{tenant}.connectors.{name}]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Endpoint:
    """The instance's callback URL on a running receiver, the kit, and the receiver's clock offset."""

    url: str
    kit: CallbackKit
    shift: list[timedelta] = field(default_factory=lambda: [timedelta(0)])

    def now(self) -> datetime:
        return utcnow() + self.shift[0]

    def send(self, request: SignedRequest) -> requests.Response:
        return requests.post(self.url, data=request.body, headers=dict(request.headers), params=dict(request.query),
                             timeout=10)


def takes_callbacks(suite: Any) -> bool:
    return accepts_callbacks(suite.connector)


class CallbackCases:
    connector: ClassVar[type[Connector]]
    tenant: ClassVar[str]

    @pytest.fixture
    def callback_endpoint(self, conformance_store: Store, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
        """The receiver on loopback (its clock: now plus `shift`) serving `/callbacks/<tenant>.<name>`."""
        from lifeline_hub.core.config import load
        from lifeline_hub.core.receiver.app import create_app

        name = self.connector.name
        kit = load_kit(self.connector)
        conn_id = f"conformance_{name}" if kit.connection else None
        if kit.connection:
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id}".upper(), kit.connection)
        host = PluginHost()
        host.register(OneConnector(self.connector), name)
        path = tmp_path / "plugins.toml"
        path.write_text(plugins_toml(self.tenant, name, dict(kit.settings), conn_id), encoding="utf-8")
        endpoint = Endpoint("", kit)
        app = create_app(load(path, host), conformance_store, host, lambda: utcnow() + endpoint.shift[0])
        with LoopbackServer(app) as server:
            endpoint.url = f"{server.url}/callbacks/{self.tenant}.{name}"
            yield endpoint

    @case(applies=takes_callbacks)
    def callback_unsigned_or_forged_is_refused(self, callback_endpoint: Endpoint, conformance_store: Store) -> None:
        """A delivery without its signature, or signed with a wrong secret, is refused (401/403); nothing is
        stored."""
        for signature in ("missing", "forged"):
            answer = callback_endpoint.send(callback_endpoint.kit.event("forgery1", callback_endpoint.now(),
                                                                        signature))
            assert answer.status_code in REFUSED, (signature, answer.status_code)
        assert stored_rows(conformance_store) == EMPTY

    @case(applies=takes_callbacks)
    def callback_stale_or_future_is_refused(self, callback_endpoint: Endpoint, conformance_store: Store) -> None:
        """A properly signed delivery stamped a day early or a day late is refused; nothing is stored (the
        connector checks the timestamp against `CallbackRequest.received_at`)."""
        for skew in (timedelta(days=-1), timedelta(days=1)):
            answer = callback_endpoint.send(callback_endpoint.kit.event("stale1", callback_endpoint.now() + skew))
            assert answer.status_code in REFUSED, (skew, answer.status_code)
        assert stored_rows(conformance_store) == EMPTY

    @case(applies=takes_callbacks)
    def callback_delivered_several_times_is_stored_once(self, callback_endpoint: Endpoint,
                                                         conformance_store: Store) -> None:
        """A valid event is accepted (200) and stored with at least one record; delivered three times more it
        is acknowledged the same way and stored no more (the connector gives the event id)."""
        delivery = callback_endpoint.kit.event("once1", callback_endpoint.now())
        first = callback_endpoint.send(delivery)
        assert first.status_code == 200, first.text
        after_first = stored_rows(conformance_store)
        assert after_first["inbound_events"] == 1 and after_first["evidence"] + after_first["interviews"] >= 1
        for _ in range(3):  # acknowledged the same way (an encrypted reply may differ byte for byte)
            again = callback_endpoint.send(delivery)
            assert again.status_code == first.status_code
            assert again.headers.get("content-type") == first.headers.get("content-type")
        assert stored_rows(conformance_store) == after_first

    @case(applies=takes_callbacks)
    def callback_concurrent_duplicates_are_stored_once(self, callback_endpoint: Endpoint,
                                                        conformance_store: Store) -> None:
        """Six copies of one event delivered at once are all acknowledged and stored once."""
        delivery = callback_endpoint.kit.event("burst1", callback_endpoint.now())
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(lambda _: callback_endpoint.send(delivery), range(6)))
        assert [a.status_code for a in answers] == [200] * 6
        after_burst = stored_rows(conformance_store)
        assert after_burst["inbound_events"] == 1 and after_burst != EMPTY
        assert callback_endpoint.send(delivery).status_code == 200
        assert stored_rows(conformance_store) == after_burst

    @case(applies=takes_callbacks)
    def callback_replayed_after_the_tolerance_is_refused(self, callback_endpoint: Endpoint,
                                                          conformance_store: Store) -> None:
        """A delivery accepted once and replayed an hour later is refused; nothing more is stored."""
        delivery = callback_endpoint.kit.event("replay1", callback_endpoint.now())
        assert callback_endpoint.send(delivery).status_code == 200
        stored = stored_rows(conformance_store)
        callback_endpoint.shift[0] = timedelta(hours=1)
        assert callback_endpoint.send(delivery).status_code in REFUSED
        assert stored_rows(conformance_store) == stored
