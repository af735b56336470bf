"""No raw phone number in logs or errors; the emulator's control API as `lifeline emulate` uses it."""

from __future__ import annotations

import logging

import pytest
import requests

from lifeline_hub.connectors.aliyun_sms.emulator import create_app
from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector
from lifeline_hub.connectors.aliyun_sms.receipts import with_sent
from lifeline_hub.core.emulator import Faults, LoopbackServer
from lifeline_hub.core.http import TransientError
from lifeline_hub.core.store import Store
from tests.aliyun_sms.sms_helpers import RAW_NUMBERS, drive, make_connector, send_action


def test_no_raw_phone_number_reaches_the_logs(emulator: str, contacts: Store, caplog: pytest.LogCaptureFixture,
                                              ) -> None:
    caplog.set_level(logging.DEBUG)
    connector = make_connector(emulator, contacts, http_timeout_seconds=0.5)
    sent = connector.perform(send_action("ll-log-1")).handoff["receipts"]["sent"]
    second = connector.perform(send_action("ll-log-2", recipient="cand2", template_code="SMS_900000002"))
    sent += second.handoff["receipts"]["sent"]
    drive(emulator, "stall_next", seconds=1.0, action="SendSms")
    connector.perform(send_action("ll-log-3", recipient="cand2"))  # timeout, then the look-up
    drive(emulator, "fail_next", code="isv.BUSINESS_LIMIT_CONTROL", action="SendSms")
    connector.perform(send_action("ll-log-4"))
    list(connector.read("receipts", with_sent({}, sent)))
    unreachable = make_connector("http://127.0.0.1:9", contacts)
    unreachable.client.backoff = 0.01
    with pytest.raises(TransientError) as caught:
        unreachable.perform(send_action("ll-log-5", recipient="cand2"))
    logged = caplog.text + str(caught.value) + repr(caught.value)
    assert "PhoneNumbers=" in caplog.text and "138****5678" in caplog.text, "the URLs were logged, masked"
    for number in RAW_NUMBERS:
        assert number not in logged


def test_the_emulator_control_api() -> None:
    app = create_app()  # what `lifeline emulate aliyun_sms` serves
    with LoopbackServer(app) as server:
        knobs = Faults.uniform(0.1, seed=3).model_dump()
        assert requests.put(f"{server.url}/_emulator/faults", json=knobs, timeout=10).json() == knobs
        state = requests.get(f"{server.url}/_emulator/state", timeout=10).json()
        assert state["messages"] == 0 and state["faults"]["seed"] == 3
        assert requests.get(f"{server.url}/_emulator/state/messages", timeout=10).json() == []
        assert requests.get(f"{server.url}/_emulator/state/nope", timeout=10).status_code == 404
        bad = requests.post(f"{server.url}/_emulator/drive/fail_next", json={"code": "isv.NOPE"}, timeout=10)
        assert bad.status_code == 400
        unsigned = requests.post(f"{server.url}/", params={"Action": "SendSms"}, timeout=10)
        assert (unsigned.status_code, unsigned.json()["Code"]) == (400, "MissingAccessKeyId")
    app.state.world.close()


def test_default_emulator_matches_the_sandbox_connection(contacts: Store) -> None:
    """The default emulator account is the one the sandbox connection JSON names."""
    with LoopbackServer(create_app()) as server:
        connector: AliyunSmsConnector = make_connector(server.url, contacts)
        assert connector.check().ok, connector.check().message
