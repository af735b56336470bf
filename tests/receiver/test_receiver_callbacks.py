"""Callbacks: every built-in connector that accepts them runs the kit's callback cases in its conformance
module (tests/conformance); what is the receiver's own, not a connector's, stays here."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import requests

from lifeline_hub.core.conformance import ConnectorSuite
from lifeline_hub.core.store import Store
from tests.receiver.receiver_helpers import (
    TENANT,
    callback_connectors,
    callback_instances,
    load_config,
    plugin_host,
    running_receiver,
)

CALLBACK_CONNECTORS = callback_connectors(plugin_host())


@pytest.mark.parametrize("name", CALLBACK_CONNECTORS)
def test_every_callback_connector_runs_the_callback_cases(name: str) -> None:
    module = importlib.import_module(f"tests.conformance.test_{name}_conformance")
    suites = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, ConnectorSuite)
              and getattr(v, "connector", None) is plugin_host().connector(name)]
    assert suites, f"tests/conformance/test_{name}_conformance.py runs no ConnectorSuite for {name}"
    generated = [attr for attr in dir(suites[0]) if attr.startswith("test_callback_")]
    assert len(generated) == 5


def test_unknown_instances_have_no_endpoint(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = plugin_host()
    tables, _ = callback_instances(host, monkeypatch, ["aiplatform"])
    with running_receiver(load_config(tmp_path, tables, host), store, host) as url:
        assert requests.post(f"{url}/callbacks/{TENANT}.nope", data=b"{}", timeout=10).status_code == 404
        assert requests.post(f"{url}/callbacks/{TENANT}.aiplatform", data=b"{}", timeout=10).status_code in (401, 403)
