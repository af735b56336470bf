"""`lifeline new connector`: the generated package installs from its own pyproject, is listed by
`lifeline plugins`, lints clean and passes its own tests untouched; bad names and taken directories are refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lifeline_hub.core.scaffold import generate
from lifeline_hub.core.scaffold.generate import FILES, MAX_NAME
from tests.conftest import BIN, ROOT, run_cli
from tests.scaffold.dist import PUBLIC, install, lifeline_imports, listed, run_tests, settings_schema


def test_a_generated_connector_installs_lints_and_passes_its_own_tests(tmp_path: Path) -> None:
    result = run_cli("new", "connector", "acme_notify", "--dir", str(tmp_path / "acme"))
    assert result.returncode == 0, result.stderr
    project = tmp_path / "acme"
    assert (project / "lifeline_acme_notify" / "plugin.py").is_file()
    lint = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", str(project)], capture_output=True, text=True,
                          check=False)
    assert lint.returncode == 0, lint.stdout
    # mypy strict as a plugin author runs it against an installed Lifeline (here: this checkout on MYPYPATH)
    typed = subprocess.run([str(BIN / "mypy"), "--strict", "--cache-dir", str(tmp_path / "mypy"), "."], cwd=project,
                           capture_output=True, text=True, check=False, env={**os.environ, "MYPYPATH": str(ROOT)})
    assert typed.returncode == 0, typed.stdout
    assert lifeline_imports(project) <= PUBLIC, lifeline_imports(project) - PUBLIC
    site = tmp_path / "site"
    install(project, site)

    connector = listed(site, "acme_notify")
    assert connector["plugin_status"] == "loaded" and connector["distribution"] == "lifeline-acme-notify"
    assert (connector["streams"], connector["actions"], connector["api"]) == (["events"], ["send_message"], "1.0")
    sample = run_cli("--config", str(project / "plugins.toml.sample"), "check", "--offline",
                     env={"PYTHONPATH": str(site)})
    assert sample.returncode == 0 and "acme_notify (acme_notify): settings valid" in sample.stdout, sample.stderr
    schema = settings_schema(site, "acme_notify")
    assert schema["required"] == ["sender"] and schema["properties"]["page_size"]["default"] == 100

    outcome = run_tests(project, site, tmp_path / "report.xml")
    assert (outcome.failures, outcome.errors, outcome.skipped) == (0, 0, 0), outcome.output
    assert outcome.passed >= 20, outcome.output
    conformance = {n.partition(".")[2] for n in outcome.names if n.startswith("TestAcmeNotify.")}
    assert {"test_settings_refuse_an_unknown_key", "test_check_fails_cleanly_with_bad_credentials",
            "test_stream_resumes_from_its_cursor[events]", "test_stream_quarantines_malformed_vendor_records[events]",
            "test_action_performed_twice_with_one_key_is_one_effect[send_message]",
            "test_action_retried_after_a_lost_response_is_one_effect[send_message]",
            "test_action_without_permission_raises_permission_denied[send_message]",
            "test_cassettes_hold_no_secrets_or_contact_data"} <= conformance, sorted(conformance)


@pytest.mark.parametrize(("name", "problem"), [
    ("Acme-SMS", "must be a lower-case identifier"),
    ("2fa", "must be a lower-case identifier"),
    ("class", "is a Python keyword"),
    ("feishu", "is taken by a built-in connector"),
    ("hub", "would make a package lifeline_hub, and one of that name is already installed"),
    ("a" * (MAX_NAME + 1), f"is longer than {MAX_NAME} characters"),
])
def test_bad_names_are_refused_in_one_line(tmp_path: Path, name: str, problem: str) -> None:
    result = run_cli("new", "connector", name, "--dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and problem in result.stderr and result.stderr.startswith("error: ")
    assert not (tmp_path / "out").exists()


def test_an_existing_directory_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    result = run_cli("new", "connector", "acme", "--dir", str(tmp_path / "taken"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "already exists" in result.stderr
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.txt"]


def test_the_default_directory_is_named_after_the_connector(tmp_path: Path) -> None:
    result = run_cli("new", "connector", "acme_sms", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "lifeline-acme-sms" / "pyproject.toml").is_file()


def test_the_longest_name_still_lints_clean(tmp_path: Path) -> None:
    name = "a_very_long_vendor_name_x"[:MAX_NAME]
    generate(name, tmp_path / "long")
    lint = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", str(tmp_path / "long")], capture_output=True,
                          text=True, check=False)
    assert len(name) == MAX_NAME and lint.returncode == 0, lint.stdout


def test_the_templates_ship_in_the_wheel(tmp_path: Path) -> None:
    """Built from a copy of the source tree (a build writes into the tree it builds)."""
    tree = tmp_path / "src"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    for name in ("core", "connectors"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "lifeline_hub", tree / "lifeline_hub", symlinks=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(tree)],
                   check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("lifeline_hub-*.whl"))
    shipped = {Path(n).name for n in zipfile.ZipFile(wheel).namelist() if "/scaffold/templates/" in n}
    assert shipped == set(FILES.values())
