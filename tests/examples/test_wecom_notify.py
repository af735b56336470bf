"""examples/lifeline-wecom-notify, the out-of-tree plugin: installed from its own pyproject beside Lifeline (whose
built-in `wecom` plugin it must not collide with), listed by `lifeline plugins` (plugin API, channel), its channel
reached through its connector, lint-clean, and its own tests (with the conformance suite) all pass."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import BIN, ROOT, run_cli
from tests.scaffold.dist import PUBLIC, install, lifeline_imports, listed, run_tests, settings_schema

EXAMPLE = ROOT / "examples" / "lifeline-wecom-notify"
BUILTIN_WECOM = """
[tenants.acme.connectors.wecom]
plugin = "wecom"
corp_id = "ww0123456789abcdef"
agent_id = 1000003
"""
"""The built-in `wecom` connector in the same tenant: both must load, validate and keep their own channel."""
CHANNELS = """
import json, sys
from lifeline_hub.core import config
from lifeline_hub.core.plugins import get_host
cfg = config.load(sys.argv[1], get_host())
print(json.dumps({name: getattr(cfg.channel_instance("acme", name), "key", None) for name in sys.argv[2:]}))
"""
"""Which instance of tenant `acme` reaches candidates on each channel (core.config.channel_instance)."""


def test_the_wecom_example_installs_beside_the_builtin_and_passes_its_tests(tmp_path: Path) -> None:
    project = tmp_path / "lifeline-wecom-notify"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    lint = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", str(project)], capture_output=True, text=True,
                          check=False)
    assert lint.returncode == 0, lint.stdout
    assert lifeline_imports(project) <= PUBLIC, lifeline_imports(project) - PUBLIC
    site = tmp_path / "site"
    install(project, site)

    connector = listed(site, "wecom_notify")
    assert connector["plugin_status"] == "loaded" and connector["distribution"] == "lifeline-wecom-notify"
    assert (connector["streams"], connector["actions"], connector["api"]) == ([], ["send_message"], "1.0")
    builtin = listed(site, "wecom")  # the built-in still loads: no entry point, connector or channel clash
    assert builtin["plugin_status"] == "loaded" and builtin["distribution"] == "lifeline-hub"
    plugins = run_cli("plugins", env={"PYTHONPATH": str(site)})
    assert plugins.returncode == 0 and "warning" not in plugins.stderr, plugins.stderr

    block = (project / "README.md").read_text(encoding="utf-8").split("```toml\n")[1].split("```")[0]
    config = tmp_path / "plugins.toml"
    config.write_text(block + BUILTIN_WECOM, encoding="utf-8")
    check = run_cli("--config", str(config), "check", "--offline", env={"PYTHONPATH": str(site)})
    assert check.returncode == 0, check.stdout + check.stderr
    assert "acme.wecom_notify (wecom_notify): settings valid" in check.stdout, check.stdout
    assert "acme.wecom (wecom): settings valid" in check.stdout, check.stdout
    sample = run_cli("--config", str(project / "plugins.toml.sample"), "check", "--offline",
                     env={"PYTHONPATH": str(site)})
    assert sample.returncode == 0 and "sandbox.wecom_notify (wecom_notify): settings valid" in sample.stdout, \
        sample.stdout + sample.stderr
    reach = subprocess.run([str(BIN / "python"), "-c", CHANNELS, str(config), "wecom_notify", "wecom"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(site)}, check=False)
    assert reach.returncode == 0, reach.stderr
    reached = json.loads(reach.stdout)
    assert reached["wecom_notify"] == "wecom_notify" and reached["wecom"] != "wecom_notify"  # each its own
    schema = settings_schema(site, "wecom_notify")
    assert sorted(schema["required"]) == ["agent_id", "corp_id"]
    assert schema["properties"]["duplicate_check_interval"]["default"] == 14400

    outcome = run_tests(project, site, tmp_path / "report.xml")
    assert (outcome.failures, outcome.errors, outcome.skipped) == (0, 0, 0), outcome.output
    assert outcome.passed >= 32, outcome.output
    assert {"test_contract.test_every_answer_matches_the_documented_shape"} <= outcome.names, sorted(outcome.names)
    conformance = {n.partition(".")[2] for n in outcome.names if n.startswith("TestWeComNotify.")}
    assert {"test_settings_refuse_a_wrong_type[agent_id]", "test_check_fails_cleanly_with_bad_credentials",
            "test_action_performed_twice_with_one_key_is_one_effect[send_message]",
            "test_action_retried_after_a_lost_response_is_one_effect[send_message]",
            "test_action_failure_raises_a_typed_error[send_message-rate_limit]",
            "test_action_without_permission_raises_permission_denied[send_message]",
            "test_cassettes_hold_no_secrets_or_contact_data"} <= conformance, sorted(conformance)
