"""The kit itself: cases that do not apply are not generated (no skips), known gaps must name real tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from lifeline_hub.connectors.email.plugin import EmailConnector
from lifeline_hub.core.conformance import ConnectorSuite
from tests.conformance import test_aliyun_sms_conformance as sms
from tests.conformance import test_email_conformance as email


def generated(suite: type) -> list[str]:
    return sorted(name for name in dir(suite) if name.startswith("test_"))


def test_a_connector_without_streams_or_callbacks_gets_no_such_case() -> None:
    names = generated(email.TestEmail)
    assert "test_action_performed_twice_with_one_key_is_one_effect" in names
    assert not [n for n in names if n.startswith(("test_stream_", "test_callback_", "test_cassettes_"))]


def test_cases_are_generated_per_stream_action_and_fault() -> None:
    params = {mark.args[0]: [p.id for p in mark.args[1]] for name in generated(sms.TestAliyunSms)
              for mark in getattr(getattr(sms.TestAliyunSms, name), "pytestmark", []) if mark.name == "parametrize"}
    assert params["stream"] == ["receipts"] and params["action"] == ["send_sms"]
    assert params["action_fault"] == ["send_sms-rate_limit", "send_sms-server_error", "send_sms-timeout"]
    assert params["key"] == ["http_timeout_seconds", "sign_name", "templates"]


def test_a_known_gap_must_name_a_generated_test() -> None:
    with pytest.raises(TypeError, match="test_stream_yields_its_declared_records"):
        class Broken(ConnectorSuite):  # defining it is the test
            connector = EmailConnector
            settings: ClassVar[Mapping[str, Any]] = {"from_address": "a@example.org"}
            known_gaps: ClassVar[Mapping[str, str]] = {"test_stream_yields_its_declared_records[x]": "no streams"}
