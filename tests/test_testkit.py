"""The cassette kit: credentials in any header stay out of a cassette, and the kit loads without vcrpy."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from fastapi import FastAPI, Request

from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.testkit import cassette

KEY = "sk-live-0123456789abcdef"


@pytest.fixture
def url() -> Iterator[str]:
    app = FastAPI()

    @app.get("/echo")
    def echo(request: Request) -> dict[str, bool]:
        return {"keyed": request.headers.get("x-api-key") == KEY}

    with LoopbackServer(app) as server:
        yield server.url


def test_a_key_in_any_credential_header_is_scrubbed_from_the_cassette(url: str, tmp_path: Path) -> None:
    with cassette(tmp_path, "keyed", record=True):
        answer = requests.get(f"{url}/echo", headers={"X-Api-Key": KEY, "X-Auth-Token": KEY}, timeout=5)
    assert answer.json() == {"keyed": True}
    text = (tmp_path / "keyed.yaml").read_text(encoding="utf-8")
    assert "X-Api-Key" in text and KEY not in text


def test_the_conformance_plugin_loads_where_vcrpy_is_not_installed() -> None:
    """pytest loads the `lifeline_conformance` plugin in every environment with Lifeline installed
    (an Airflow image running its own DAG tests, too): it must not need a dev dependency."""
    probe = "import sys; sys.modules['vcr'] = None; import lifeline_hub.core.conformance.plugin"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-500:]
