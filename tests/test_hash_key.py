"""No real tenant runs on a key anyone can know: the commands that verify, sign, send or store under
LIFELINE_HASH_KEY refuse to start without a real one, in one line; a sandbox tenant starts with a notice."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from lifeline_hub.core.emulator import free_port
from lifeline_hub.core.models.contact import DEV_HASH_KEY
from tests.conftest import BIN, run_cli

CONFIG = """\
[lifeline]
store = "sqlite:///lifeline.db"

[tenants.acme]
timezone = "Asia/Shanghai"

[tenants.sandbox]
sandbox = true
"""
KEY = "a-real-secret-of-more-than-32-bytes-0123456789"
ADVICE = ("; set a secret of at least 32 bytes (only tenants marked `sandbox = true` in plugins.toml may run "
          "without one; not: acme)")


def write(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(text, encoding="utf-8")
    return path


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(("key", "problem"), [
    ("", "LIFELINE_HASH_KEY is not set: HR links would be signed with the public development key"),
    (DEV_HASH_KEY, "LIFELINE_HASH_KEY is the public development key: anyone could sign HR links"),
    ("short-secret", "LIFELINE_HASH_KEY is shorter than 32 bytes: HR links could be forged by guessing it"),
])
@pytest.mark.parametrize("command", [
    ("serve", "--port", "0"), ("dispatch", "--tenant", "acme"), ("reminders", "dispatch", "--tenant", "acme"),
    ("sync", "--tenant", "acme"),
])
def test_a_real_tenant_is_refused_without_a_real_key(tmp_path: Path, key: str, problem: str,
                                                    command: tuple[str, ...]) -> None:
    result = run_cli("--config", str(write(tmp_path)), *command, env={"LIFELINE_HASH_KEY": key})
    assert result.returncode == 2, result.stdout + result.stderr
    assert lines(result.stderr) == [f"error: {problem}{ADVICE}"]
    assert not (tmp_path / "lifeline.db").exists()  # refused before it opened the store


def test_dispatch_runs_a_sandbox_tenant_with_a_notice_and_a_real_tenant_with_a_key(tmp_path: Path,
                                                                                   db_url: str) -> None:
    config = str(write(tmp_path))
    env = {"LIFELINE_STORE_URL": db_url, "LIFELINE_HASH_KEY": ""}
    assert run_cli("--config", config, "db", "upgrade", env=env).returncode == 0
    sandbox = run_cli("--config", config, "dispatch", "--tenant", "sandbox", env=env)
    assert sandbox.returncode == 0, sandbox.stderr
    assert lines(sandbox.stderr) == [
        "notice: LIFELINE_HASH_KEY is not set: HR links would be signed with the public development key; allowed "
        "for sandbox tenant sandbox only, never with real people"]
    assert "0 claimed" in sandbox.stdout
    real = run_cli("--config", config, "dispatch", "--tenant", "acme", env={**env, "LIFELINE_HASH_KEY": KEY})
    assert real.returncode == 0 and real.stderr == "" and "0 claimed" in real.stdout


def test_serve_starts_for_sandbox_tenants_only_with_the_notice(tmp_path: Path) -> None:
    config = write(tmp_path, CONFIG.replace("[tenants.acme]\n", "").replace('timezone = "Asia/Shanghai"\n', ""))
    env = {**os.environ, "LIFELINE_HASH_KEY": ""}
    assert run_cli("--config", str(config), "db", "upgrade").returncode == 0
    port = free_port()
    proc = subprocess.Popen([str(BIN / "lifeline"), "--config", str(config), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert proc.poll() is None, "lifeline serve exited"
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    assert lines(stderr)[0] == ("notice: LIFELINE_HASH_KEY is not set: HR links would be signed with the public "
                                "development key; allowed for sandbox tenant sandbox only, never with real people")


def test_check_warns_about_the_key_and_names_who_would_be_refused(tmp_path: Path) -> None:
    result = run_cli("--config", str(write(tmp_path)), "check", "--offline", env={"LIFELINE_HASH_KEY": ""})
    assert result.returncode == 0
    assert lines(result.stderr) == [
        "warning: LIFELINE_HASH_KEY is not set: HR links would be signed with the public development key (contact "
        "look-up hashes too); serve, sync and dispatch refuse tenant acme"]
    keyed = run_cli("--config", str(write(tmp_path)), "check", "--offline", env={"LIFELINE_HASH_KEY": KEY})
    assert keyed.returncode == 0 and keyed.stderr == ""
