"""docs/wecom.md stays true: its connection JSON carries the extras the connection forms declare, its TOML is a
tenant `lifeline check --offline` accepts, and the documented instances work against the emulators set up with the
same ids (check passes, the documented templates fill the account's templates)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline_hub.connectors.wecom.emulator import create_app as wecom_app
from lifeline_hub.connectors.wecom.emulator_state import EmulatorSettings as WeComEmulatorSettings
from lifeline_hub.connectors.wecom.emulator_state import WeComWorld
from lifeline_hub.connectors.wecom.oa_emulator import create_app as wechat_app
from lifeline_hub.connectors.wecom.oa_plugin import WeChatConnector
from lifeline_hub.connectors.wecom.oa_settings import WeChatSettings
from lifeline_hub.connectors.wecom.oa_state import EmulatorSettings as WeChatEmulatorSettings
from lifeline_hub.connectors.wecom.oa_state import OaWorld
from lifeline_hub.connectors.wecom.oa_templates import template_data
from lifeline_hub.connectors.wecom.plugin import WeComConnector
from lifeline_hub.connectors.wecom.settings import WeComSettings
from lifeline_hub.core import config
from lifeline_hub.core.actions import SendMessage
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.plugins import get_host
from tests.conftest import ROOT, run_cli

DOC = ROOT / "docs" / "wecom.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def snippets(language: str) -> list[str]:
    return [code for lang, code in _BLOCK.findall(DOC.read_text(encoding="utf-8")) if lang == language]


@pytest.fixture(scope="module")
def plugins_toml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    [block] = snippets("toml")
    path = tmp_path_factory.mktemp("wecom-docs") / "plugins.toml"
    path.write_text(block, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def setups(plugins_toml: Path) -> dict[str, config.ConnectorSetup]:
    return dict(config.load(plugins_toml, get_host()).setups)


def test_the_connection_json_carries_the_extras_each_form_declares() -> None:
    found = {conn["conn_type"]: conn for conn in map(json.loads, snippets("json"))}
    assert set(found) == {"wecom", "wechat"}
    for cls in (WeComConnector, WeChatConnector):
        form = cls.connection_form
        assert form is not None and set(found[form.conn_type]["extra"]) == set(form.secret_extras)
        assert found[form.conn_type]["password"]


def test_the_toml_is_a_tenant_lifeline_check_accepts(plugins_toml: Path) -> None:
    check = run_cli("--config", str(plugins_toml), "check", "--offline")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "acme.wecom (wecom): settings valid" in check.stdout and "acme.wechat (wechat): settings valid" in \
        check.stdout, check.stdout


def test_every_setting_the_doc_names_is_a_setting() -> None:
    """Names of the settings' families the doc quotes are settings, connection extras or streams of the plugins."""
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`(contact_\w+|member_per_\w+|duplicate_check_\w+|callback_\w+|original_id|token_api"
                           r"|app_id|corp_id|agent_id)`", text))
    known = set(WeComSettings.model_fields) | set(WeChatSettings.model_fields)
    known |= {stream.name for stream in WeComConnector.streams}
    for cls in (WeComConnector, WeChatConnector):
        assert cls.connection_form is not None
        known |= set(cls.connection_form.secret_extras)
    assert len(named) >= 10 and named <= known, sorted(named - known)


@pytest.fixture
def wecom_world(setups: dict[str, config.ConnectorSetup]) -> Iterator[tuple[WeComWorld, str]]:
    """The WeCom emulator as the documented corp: its corp id and AgentId."""
    options = setups["acme.wecom"].settings
    world = WeComWorld(WeComEmulatorSettings(corp_id=options.corp_id,  # type: ignore[attr-defined]
                                             apps={options.agent_id: "doc-app-secret-0001"},  # type: ignore[attr-defined]
                                             users=["hr01", "recruiter01"]))
    with LoopbackServer(wecom_app(world=world)) as server:
        yield world, server.url
    world.close()


def test_the_documented_wecom_instance_passes_check_against_the_emulator(
        setups: dict[str, config.ConnectorSetup], wecom_world: tuple[WeComWorld, str]) -> None:
    world, url = wecom_world
    setup = setups["acme.wecom"]
    creds = Credentials("wecom_acme", conn_type="wecom", password="doc-app-secret-0001",
                        extra={"contact_secret": world.settings.contact_secret, "callback_token": "t0k3n",
                               "callback_aes_key": world.settings.callback_aes_key})
    connector = WeComConnector(dataclasses.replace(setup.instance, base_urls={"api": url}), setup.settings, creds)
    result = connector.check()
    assert result.ok, result.message
    assert world.gettoken_calls == 2  # the app's Secret and the customer-contact Secret
    bad = WeComConnector(dataclasses.replace(setup.instance, base_urls={"api": url}), setup.settings,
                         dataclasses.replace(creds, password="not-the-secret"))
    assert not bad.check().ok


def test_the_documented_wechat_templates_fill_the_accounts_templates(setups: dict[str, config.ConnectorSetup]) -> None:
    setup = setups["acme.wechat"]
    options = setup.settings
    assert isinstance(options, WeChatSettings) and options.mode == "template"
    world = OaWorld(WeChatEmulatorSettings(app_id=options.app_id, original_id=options.original_id or "gh_x"))
    message = SendMessage(recipients=("acme.ats/cand1",), title="Java 工程师面试",
                          text="2026年6月1日 10:00\n3 号会议室", purpose="reminder_t1d", audience="candidate")
    follower = next(iter(world.settings.followers))
    with LoopbackServer(wechat_app(world=world)) as server:
        creds = Credentials("wechat_acme", conn_type="wechat", login=options.app_id,
                            password=world.settings.app_secret)
        connector = WeChatConnector(dataclasses.replace(setup.instance, base_urls={"api": server.url}), options,
                                    creds)
        assert connector.check().ok
        for spec in options.templates.values():
            connector.client.send_template({"touser": follower, "template_id": spec.template_id,
                                            "data": template_data(spec, message)})
    world.close()
    assert [m["template_id"] for m in world.message_list()] == [s.template_id for s in options.templates.values()]


def test_every_contents_link_names_a_heading() -> None:
    text = DOC.read_text(encoding="utf-8")
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
             for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert len(links) >= 9 and set(links) <= slugs, sorted(set(links) - slugs)
