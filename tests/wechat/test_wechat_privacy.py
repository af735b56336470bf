"""No AppSecret or access token in logs, errors or the emulator's inspection answers."""

from __future__ import annotations

import logging

import pytest
import requests

from lifeline_hub.connectors.wecom.oa_plugin import WeChatConnector
from lifeline_hub.connectors.wecom.oa_state import OaWorld
from lifeline_hub.core.http.redact import install_lifeline_redaction
from lifeline_hub.core.store import Store
from tests.wechat.oa_helpers import ACCOUNT, credentials, make_connector, send_action


@pytest.mark.parametrize("token_api", ["token", "stable_token"])
def test_the_app_secret_and_tokens_never_reach_the_logs(emulator: str, contacts: Store, world: OaWorld,
                                                        caplog: pytest.LogCaptureFixture, token_api: str) -> None:
    caplog.set_level(logging.DEBUG)
    install_lifeline_redaction()  # as the CLI and every DAG task do at start-up (conftest restores the factory)
    connector = make_connector(emulator, contacts, token_api=token_api)
    connector.perform(send_action("ll-log"))
    wrong = make_connector(emulator, contacts, credentials("wrong-secret-of-the-account"), token_api=token_api)
    message = wrong.check().message
    issued = world.tokens.classic if token_api == "token" else world.tokens.stable
    assert issued and "/cgi-bin/" in caplog.text  # the calls were logged, with their URLs
    for secret in (ACCOUNT.app_secret, "wrong-secret-of-the-account", issued):
        assert secret not in caplog.text and secret not in message


def test_the_emulator_state_shows_no_secret(emulator: str, connector: WeChatConnector) -> None:
    connector.perform(send_action("ll-state"))
    for path in ("/_emulator/state", "/_emulator/state/messages", "/_emulator/state/pushes"):
        text = requests.get(f"{emulator}{path}", timeout=10).text
        assert ACCOUNT.app_secret not in text and ACCOUNT.callback_aes_key not in text
