"""Connection ids resolve from the AIRFLOW_CONN_<ID> environment format outside Airflow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lifeline_hub.core import connections


@pytest.fixture(autouse=True)
def _no_airflow_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow unconfigured, even in a session where tests/airflow set it up."""
    for name in [n for n in os.environ if n.startswith("AIRFLOW__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("AIRFLOW_CONFIG", raising=False)
    assert not connections.airflow_configured()


def test_json_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DINGTALK_ACME", '{"conn_type": "dingtalk", "login": "dingkey", '
                       '"password": "app-secret-123", "extra": {"corp_id": "ding-corp", "agent_id": 42}}')
    creds = connections.resolve("dingtalk_acme")
    assert (creds.conn_type, creds.login, creds.password) == ("dingtalk", "dingkey", "app-secret-123")
    assert creds.get("agent_id") == 42 and creds.require("corp_id") == "ding-corp"
    assert "app-secret-123" not in repr(creds) and "ding-corp" not in repr(creds)
    with pytest.raises(connections.ConnectionNotFound, match="lacks 'aes_key'"):
        creds.require("aes_key")


def test_uri_form_with_query_extras_and_encoded_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_ACME", "feishu://cli_a1b2:s3cr%40t@open.feishu.cn:443/?encrypt_key=k1")
    creds = connections.resolve("feishu_acme")
    assert (creds.conn_type, creds.host, creds.port, creds.login, creds.password) == (
        "feishu", "open.feishu.cn", 443, "cli_a1b2", "s3cr@t")
    assert creds.extra == {"encrypt_key": "k1"}
    typed = connections.parse("x", "http://u:p@h/?__extra__=%7B%22nested%22%3A%20%7B%22a%22%3A%201%7D%7D")
    assert typed.extra == {"nested": {"a": 1}}


def test_missing_and_malformed_connections_say_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NOPE", raising=False)
    with pytest.raises(connections.ConnectionNotFound, match=r"looked in \$AIRFLOW_CONN_NOPE only"):
        connections.resolve("nope")
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN", '{"conn_type": ')
    with pytest.raises(connections.ConnectionNotFound, match="'broken': malformed JSON"):
        connections.resolve("broken")
