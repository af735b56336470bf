"""Install an out-of-tree plugin from its own pyproject and run its own tests, as its author would.

The distribution goes into a directory of its own (`pip install --target`, the venv stays clean) that the
subprocesses get on `PYTHONPATH`; its tests run with the venv's `pytest` script (not `python -m`, which
would import the package from the source tree instead of the installed copy) and report through JUnit XML.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import BIN, run_cli


@dataclass(frozen=True)
class Outcome:
    """Counts from the plugin's own pytest run (JUnit XML) and what it printed."""

    tests: int
    failures: int
    errors: int
    skipped: int
    names: frozenset[str]
    """`Class.test_name[param]` of every test that ran."""
    output: str

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped


PUBLIC = frozenset({"lifeline_hub.core.api", "lifeline_hub.core.conformance"})
"""What a plugin may import from Lifeline: the plugin API, and the conformance kit in its tests."""


def lifeline_imports(project: Path) -> set[str]:
    """Every `lifeline_hub` module the project's Python files import."""
    found = set()
    for path in project.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found |= {n for n in names if n.split(".")[0] == "lifeline_hub"}
    return found


def install(project: Path, site: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(site), str(project)],
                   check=True, capture_output=True, timeout=300)


def run_tests(project: Path, site: Path, report: Path) -> Outcome:
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                           "--rootdir", str(project)],
                          cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False)
    root = ET.parse(report).getroot()  # noqa: S314 - the report our own pytest run just wrote
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None, done.stdout[-3000:] + done.stderr[-3000:]
    counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    names = frozenset(f"{c.get('classname', '').rpartition('.')[2]}.{c.get('name')}" for c in suite.iter("testcase"))
    return Outcome(**counts, names=names, output=done.stdout[-6000:] + done.stderr[-3000:])


def listed(site: Path, name: str) -> dict[str, Any]:
    """The connector `name` as `lifeline plugins --json` lists it with the installed distribution on the path."""
    result = run_cli("plugins", "--json", env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    found = [(p, c) for p in json.loads(result.stdout) for c in p["connectors"] if c["name"] == name]
    assert len(found) == 1, result.stdout
    plugin, connector = found[0]
    return {**connector, "plugin_status": plugin["status"], "distribution": plugin["distribution"],
            "api": plugin.get("api")}


def settings_schema(site: Path, name: str) -> dict[str, Any]:
    """`lifeline plugins --schema NAME` with the installed distribution on the path."""
    result = run_cli("plugins", "--schema", name, env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    schema: dict[str, Any] = json.loads(result.stdout)
    return schema
