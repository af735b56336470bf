"""docs/weaver.md stays true: its connection JSON carries the extras the connection form declares, its TOML is a
tenant `lifeline check --offline` accepts, every setting it names is one, and the documented instance passes check
against the e-cology emulator."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from lifeline_hub.connectors.weaver import client as weaver_client
from lifeline_hub.connectors.weaver.emulator import create_app
from lifeline_hub.connectors.weaver.emulator_state import WeaverWorld
from lifeline_hub.connectors.weaver.plugin import WeaverConnector
from lifeline_hub.connectors.weaver.settings import WeaverSettings, WorkflowForm
from lifeline_hub.core import config
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.plugins import get_host
from tests.conftest import ROOT, run_cli

DOC = ROOT / "docs" / "weaver.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def snippets(language: str) -> list[str]:
    return [code for lang, code in _BLOCK.findall(DOC.read_text(encoding="utf-8")) if lang == language]


@pytest.fixture(scope="module")
def plugins_toml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    [block] = snippets("toml")
    path = tmp_path_factory.mktemp("weaver-docs") / "plugins.toml"
    path.write_text(block, encoding="utf-8")
    return path


def test_the_connection_json_carries_the_extras_the_form_declares() -> None:
    [conn] = map(json.loads, snippets("json"))
    form = WeaverConnector.connection_form
    assert form is not None and conn["conn_type"] == form.conn_type
    assert set(form.secret_extras) <= set(conn["extra"]) and conn["login"]


def test_the_toml_is_a_tenant_lifeline_check_accepts(plugins_toml: Path) -> None:
    check = run_cli("--config", str(plugins_toml), "check", "--offline")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "acme.weaver (weaver): settings valid" in check.stdout, check.stdout


def test_every_setting_and_role_the_doc_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`(\w+_(?:userid|syscode|code|type|url|file|seconds|second|days|name|creator)|workflow"
                           r"|workflow\.fields)`", text))
    known = set(WeaverSettings.model_fields) | {"workflow.fields", "approval_process_code"}
    assert len(named) >= 10 and named <= known, sorted(named - known)
    form = text.partition("## The approval workflow and its form")[2].partition("## Configuration")[0]
    roles = set(re.findall(r"^\| `(\w+)` \|", form, re.MULTILINE))
    assert roles == set(WorkflowForm.model_fields["fields"].annotation.__args__[0].__args__)  # type: ignore[union-attr]


def test_the_documented_instance_passes_check_against_the_emulator(plugins_toml: Path, tmp_path: Path) -> None:
    setup = config.load(plugins_toml, get_host()).setups["acme.weaver"]
    [conn] = map(json.loads, snippets("json"))
    world = WeaverWorld()
    settings = setup.settings.model_copy(update={"registration_file": str(tmp_path / "registration.json")})
    weaver_client._SITES.clear()
    with LoopbackServer(create_app(world=world)) as server:
        connector = WeaverConnector(dataclasses.replace(setup.instance, base_urls={"oa": server.url}), settings,
                                    Credentials("weaver_acme", conn_type="weaver", login=conn["login"]))
        result = connector.check()
    world.close()
    assert result.ok, result.message
    assert world.regist_calls == 1 and world.applytoken_calls == 1


def test_every_contents_link_names_a_heading() -> None:
    text = DOC.read_text(encoding="utf-8")
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
             for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert len(links) >= 8 and set(links) <= slugs, sorted(set(links) - slugs)
