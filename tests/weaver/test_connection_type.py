"""The `weaver` Airflow connection type: listed by the provider with its form, and its Test connection runs the
connector's check against the e-cology emulator (without showing the APPID)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifeline_hub.connectors.weaver import client as weaver_client
from lifeline_hub.connectors.weaver.testing import Emulated
from lifeline_hub.core.airflow import hooks
from lifeline_hub.core.airflow.provider import get_provider_info


def connection(wv: Emulated, appid: str, tmp_path: Path) -> str:
    return json.dumps({"conn_type": "weaver", "login": appid, "extra": {
        "base_urls": {"oa": wv.url},
        "settings": {"actor_userid": "101", "registration_file": str(tmp_path / "registration.json")}}})


def test_the_provider_lists_the_weaver_form() -> None:
    types = {t["connection-type"]: t for t in get_provider_info()["connection-types"]}
    weaver = types["weaver"]
    assert weaver["hook-class-name"].endswith(".WeaverHook")
    assert weaver["ui-field-behaviour"]["relabeling"]["login"] == "APPID"


@pytest.mark.parametrize("registered", [True, False])
def test_test_connection_checks_the_appid_against_the_site(
        wv: Emulated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registered: bool) -> None:
    weaver_client._SITES.clear()
    appid = wv.world.settings.appids[0] if registered else "00000000-not-registered"
    monkeypatch.setenv("AIRFLOW_CONN_WEAVER_HOOKTEST", connection(wv, appid, tmp_path))
    ok, message = hooks.WeaverHook(conn_id="weaver_hooktest").test_connection()
    assert ok is registered, message
    assert appid not in message
    assert ("token applied" if registered else "认证信息错误") in message
