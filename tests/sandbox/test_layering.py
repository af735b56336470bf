"""Layering: `core/` never imports `connectors/`; it reaches them only through the plugin host (connector classes
registered by entry points, the `module:attr` paths they declare) and the emulator base."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

CONNECTORS = "lifeline_hub.connectors"
MODULES = sorted((ROOT / "core").rglob("*.py"))


def connector_imports(path: Path) -> list[str]:
    """`line: module` of each import of the connectors package in `path` (a lazy or type-checking one counts too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        hits = [name for name in names if name == CONNECTORS or name.startswith(CONNECTORS + ".")]
        found += [f"{node.lineno}: {hits[0]}"] if hits else []
    return found


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import lifeline_hub.connectors.dingtalk\nfrom lifeline_hub import connectors\n"
                     "def f():\n    from lifeline_hub.connectors.feishu.emulator import FeishuWorld\n"
                     "import lifeline_hub.core\nfrom lifeline_hub.core import connector\n", encoding="utf-8")
    assert [line.split(":")[0] for line in connector_imports(probe)] == ["1", "2", "4"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_core_module_imports_the_connectors(path: Path) -> None:
    assert connector_imports(path) == []
