"""examples/lifeline-wecom-notify, the out-of-tree plugin: installed from its own pyproject, listed by
`lifeline plugins` (plugin API, channel), lint-clean, and its own tests (with the conformance suite) all pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import BIN, ROOT
from tests.scaffold.dist import install, listed, run_tests

EXAMPLE = ROOT / "examples" / "lifeline-wecom-notify"


def test_the_wecom_example_installs_and_passes_its_tests(tmp_path: Path) -> None:
    project = tmp_path / "lifeline-wecom-notify"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    lint = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", str(project)], capture_output=True, text=True,
                          check=False)
    assert lint.returncode == 0, lint.stdout
    site = tmp_path / "site"
    install(project, site)

    connector = listed(site, "wecom")
    assert connector["plugin_status"] == "loaded" and connector["distribution"] == "lifeline-wecom-notify"
    assert (connector["streams"], connector["actions"]) == ([], ["send_message"])

    outcome = run_tests(project, site, tmp_path / "report.xml")
    assert (outcome.failures, outcome.errors, outcome.skipped) == (0, 0, 0), outcome.output
    assert outcome.passed >= 15, outcome.output
