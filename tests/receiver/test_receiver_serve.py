"""`lifeline serve` for real (console script, uvicorn) on SQLite and PostgreSQL, the health check with the store
up or down, and a bug that tells nobody anything."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import pytest
import requests

from lifeline_hub.core.emulator import LoopbackServer, free_port
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.receiver import join
from lifeline_hub.core.receiver.app import create_app
from lifeline_hub.core.store import Store
from tests.conftest import BIN, run_cli
from tests.receiver.receiver_helpers import load_config, plugin_host

SANDBOX = """\
[lifeline]
store = "{store}"

[tenants.sandbox]
display_name = "Sandbox"
sandbox = true
timezone = "Asia/Shanghai"
locale = "zh-CN"
"""
AIPLATFORM = """
[tenants.sandbox.connectors.aiplatform]
plugin = "aiplatform"
connection_id = "aiplatform_sandbox"
base_urls = { api = "http://127.0.0.1:8765/v1" }
"""


def wait_healthy(url: str, proc: subprocess.Popen[str]) -> requests.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"lifeline serve exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            return requests.get(f"{url}/healthz", timeout=2)
        except requests.ConnectionError:
            time.sleep(0.2)
    pytest.fail("lifeline serve did not answer /healthz within 30 s")


def serve(config: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen([str(BIN / "lifeline"), "--config", str(config), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    _, stderr = proc.communicate(timeout=20)
    return stderr


def test_serve_starts_with_the_sample_config(tmp_path: Path, db_url: str) -> None:
    assert "aiplatform" in PluginHost().load_entry_points().connectors
    config = tmp_path / "plugins.toml"
    config.write_text(SANDBOX.format(store=db_url) + AIPLATFORM, encoding="utf-8")
    assert run_cli("--config", str(config), "db", "upgrade").returncode == 0
    proc, url = serve(config)
    try:
        assert wait_healthy(url, proc).json() == {"status": "ok"}
        unsigned = requests.post(f"{url}/callbacks/sandbox.aiplatform", data=b"{}", timeout=5)
        assert unsigned.status_code in (401, 503)  # served; 503 while the connection is not configured
        assert requests.get(f"{url}/j/unknown", timeout=5).status_code == 404
    finally:
        logs = stop(proc)
    assert "GET /j/{token} -> 404" in logs and "/j/unknown" not in logs


def test_serve_without_connectors_and_with_an_old_schema(tmp_path: Path, db_url: str) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(SANDBOX.format(store=db_url), encoding="utf-8")
    behind = run_cli("--config", str(config), "serve", "--port", str(free_port()))
    assert behind.returncode == 2 and "lifeline db upgrade" in behind.stderr
    assert run_cli("--config", str(config), "db", "upgrade").returncode == 0
    proc, url = serve(config)
    try:
        assert wait_healthy(url, proc).status_code == 200
        assert requests.head(f"{url}/healthz", timeout=5).status_code == 200
    finally:
        stop(proc)


def test_health_and_link_pages_when_the_store_is_down(tmp_path: Path, db_url: str) -> None:
    down = Store(f"postgresql+psycopg://lifeline@127.0.0.1:{free_port()}/gone?connect_timeout=2")
    with LoopbackServer(create_app(load_config(tmp_path), down, plugin_host())) as server:
        health = requests.get(f"{server.url}/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["store"] == "unreachable"
        page = requests.get(f"{server.url}/j/some-token", headers={"Accept-Language": "en"}, timeout=10)
        assert page.status_code == 503 and "not ready" in page.text and "<script" not in page.text
    up = Store(db_url)
    up.upgrade()
    with LoopbackServer(create_app(load_config(tmp_path), up, plugin_host())) as server:
        assert requests.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok"}


def test_a_bug_answers_a_bare_500_and_logs_no_details(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("candidate 13812345678 token=s3cret")

    monkeypatch.setattr(join, "resolve", broken)  # a bug on the page path
    caplog.set_level(logging.INFO)
    with LoopbackServer(create_app(load_config(tmp_path), store, plugin_host())) as server:
        answer = requests.get(f"{server.url}/j/some-token", timeout=10)
    assert answer.status_code == 500 and answer.text == "internal error"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "GET /j/{token}: unhandled ValueError" in caplog.text
    printed = capfd.readouterr()
    for told in (caplog.text, printed.out, printed.err):  # uvicorn's own log goes to stderr
        assert "13812345678" not in told and "s3cret" not in told and "Traceback" not in told
