"""docs/connectors.md stays true: its Python snippets compile and run (in a process of their own: they define
connectors and register a channel), its TOML snippets parse, and it names every file the scaffold generates."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from lifeline_hub.core.scaffold.generate import FILES
from tests.conftest import ROOT
from tests.scaffold.dist import PUBLIC, lifeline_imports

DOC = ROOT / "docs" / "connectors.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def snippets(language: str) -> list[str]:
    return [code for lang, code in _BLOCK.findall(DOC.read_text(encoding="utf-8")) if lang == language]


def test_the_python_snippets_compile_and_run(tmp_path: Path) -> None:
    found = snippets("python")
    assert len(found) >= 8
    paths = []
    for n, code in enumerate(found, 1):
        compile(code, f"connectors.md python snippet {n}", "exec")
        path = tmp_path / f"snippet_{n}.py"
        path.write_text(code, encoding="utf-8")
        paths.append(str(path))
    assert lifeline_imports(tmp_path) <= PUBLIC, "the docs import Lifeline only through the plugin API"
    runner = "import runpy, sys\nfor path in sys.argv[1:]:\n    runpy.run_path(path, run_name='snippet')\n"
    done = subprocess.run([sys.executable, "-c", runner, *paths], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_toml_snippets_parse_and_the_entry_point_group_is_lifeline() -> None:
    parsed = [tomllib.loads(code) for code in snippets("toml")]
    assert len(parsed) >= 3
    [project] = [p for p in parsed if "project" in p]
    assert project["project"]["entry-points"]["lifeline"] == {"acme_sms": "lifeline_acme_sms.plugin"}


def test_it_names_every_file_the_scaffold_generates() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [path for path in (p.format(package="lifeline_acme_sms") for p in FILES)
               if not path.endswith("__init__.py") and f"`{path}`" not in text]
    assert missing == []
    assert (DOC.parent / "../examples/lifeline-wecom-notify/pyproject.toml").resolve().is_file()


def test_every_contents_link_names_a_heading() -> None:
    text = DOC.read_text(encoding="utf-8")
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
             for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert len(links) >= 17 and set(links) <= slugs, sorted(set(links) - slugs)
