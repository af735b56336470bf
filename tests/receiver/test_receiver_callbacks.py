"""Callback conformance, run for every registered connector that accepts callbacks (via its kit).

Unsigned, forged, stale and replayed deliveries are refused and store nothing; a valid event
delivered several times, one after the other or all at once, is stored once.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from lifeline_hub.core.models import utcnow
from lifeline_hub.core.receiver.conformance import CallbackKit, Signature, SignedRequest
from lifeline_hub.core.store import Store
from tests.receiver.receiver_helpers import (
    TENANT,
    callback_connectors,
    callback_instances,
    load_config,
    plugin_host,
    running_receiver,
    stored_rows,
)

CALLBACK_CONNECTORS = callback_connectors(plugin_host())
EMPTY = {"evidence": 0, "interviews": 0, "candidates": 0, "inbound_events": 0}


@dataclass
class Endpoint:
    url: str
    kit: CallbackKit
    shift: list[timedelta]
    """The receiver's clock offset (to replay a delivery later)."""

    def now(self) -> datetime:
        return utcnow() + self.shift[0]

    def send(self, request: SignedRequest) -> requests.Response:
        return requests.post(self.url, data=request.body, headers=dict(request.headers), params=dict(request.query),
                             timeout=10)


def test_every_callback_connector_is_covered() -> None:
    assert "aiplatform" in CALLBACK_CONNECTORS


@pytest.fixture(params=CALLBACK_CONNECTORS)
def endpoint(request: pytest.FixtureRequest, store: Store, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    name = str(request.param)
    host = plugin_host()
    tables, kits = callback_instances(host, monkeypatch, [name])
    shift = [timedelta(0)]
    with running_receiver(load_config(tmp_path, tables, host), store, host, clock=lambda: utcnow() + shift[0]) as url:
        yield Endpoint(f"{url}/callbacks/{TENANT}.{name}", kits[name], shift)


@pytest.mark.parametrize("signature", ["missing", "forged"])
def test_unsigned_and_forged_deliveries_are_refused(endpoint: Endpoint, store: Store, signature: Signature) -> None:
    answer = endpoint.send(endpoint.kit.event("forgery1", endpoint.now(), signature))
    assert answer.status_code in (401, 403)
    assert stored_rows(store) == EMPTY


@pytest.mark.parametrize("skew", [timedelta(days=-1), timedelta(days=1)])
def test_stale_and_future_deliveries_are_refused(endpoint: Endpoint, store: Store, skew: timedelta) -> None:
    answer = endpoint.send(endpoint.kit.event("stale1", endpoint.now() + skew))
    assert answer.status_code in (401, 403)
    assert stored_rows(store) == EMPTY


def test_a_valid_event_delivered_several_times_is_stored_once(endpoint: Endpoint, store: Store) -> None:
    delivery = endpoint.kit.event("once1", endpoint.now())
    first = endpoint.send(delivery)
    assert first.status_code == 200, first.text
    after_first = stored_rows(store)
    assert after_first["inbound_events"] == 1 and after_first["evidence"] + after_first["interviews"] >= 1
    for _ in range(3):  # acknowledged the same way (an encrypted reply may differ byte for byte)
        again = endpoint.send(delivery)
        assert again.status_code == first.status_code
        assert again.headers.get("content-type") == first.headers.get("content-type")
    assert stored_rows(store) == after_first


def test_concurrent_duplicates_are_stored_once(endpoint: Endpoint, store: Store) -> None:
    delivery = endpoint.kit.event("burst1", endpoint.now())
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: endpoint.send(delivery), range(6)))
    assert [a.status_code for a in answers] == [200] * 6
    after_burst = stored_rows(store)
    assert after_burst["inbound_events"] == 1 and after_burst != EMPTY
    assert endpoint.send(delivery).status_code == 200
    assert stored_rows(store) == after_burst


def test_a_replay_after_the_tolerance_is_refused(endpoint: Endpoint, store: Store) -> None:
    delivery = endpoint.kit.event("replay1", endpoint.now())
    assert endpoint.send(delivery).status_code == 200
    stored = stored_rows(store)
    endpoint.shift[0] = timedelta(hours=1)
    assert endpoint.send(delivery).status_code in (401, 403)
    assert stored_rows(store) == stored


def test_unknown_instances_have_no_endpoint(endpoint: Endpoint) -> None:
    base = endpoint.url.rsplit("/", 1)[0]
    assert requests.post(f"{base}/{TENANT}.nope", data=b"{}", timeout=10).status_code == 404
