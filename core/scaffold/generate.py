"""Generate a connector plugin package: pyproject with the `lifeline` entry point, settings, client,
one stream, one action, an emulator on the shared base, tests (and the conformance suite), a sample
`plugins.toml` block and a README, from the `templates/` shipped with Lifeline.

Templates are `string.Template` files: `${name}` the connector name, `${package}` its import package,
`${dist}` its distribution, `${title}` the class-name prefix, `${conn_env}` the connection's variable suffix,
`${host}` a host-name label.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import keyword
import re
from importlib import resources
from pathlib import Path
from string import Template

from lifeline_hub import DISTRIBUTION

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_NAME = 24
"""Connector names stay short: they name the entry point, the channel, classes and every instance's records."""
FILES: dict[str, str] = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    "plugins.toml.sample": "plugins.toml.sample.tmpl",
    "{package}/__init__.py": "package_init.py.tmpl",
    "{package}/py.typed": "py.typed.tmpl",
    "{package}/settings.py": "settings.py.tmpl",
    "{package}/client.py": "client.py.tmpl",
    "{package}/plugin.py": "plugin.py.tmpl",
    "{package}/emulator.py": "emulator.py.tmpl",
    "tests/conftest.py": "conftest.py.tmpl",
    "tests/test_connector.py": "test_connector.py.tmpl",
    "tests/test_conformance.py": "test_conformance.py.tmpl",
}
"""Generated path (relative to the package directory) -> template file."""


class ScaffoldError(ValueError):
    """The name or the directory cannot be used; the message is one line for the user."""


def builtin_connectors() -> set[str]:
    """The connector names Lifeline itself installs (its own `lifeline` entry points)."""
    return {ep.name for ep in md.distribution(DISTRIBUTION).entry_points if ep.group == "lifeline"}


def validate_name(name: str) -> str:
    """`name` when it can name a connector: a lower-case identifier, no keyword, not a built-in's name, and its
    package `lifeline_<name>` not one already installed (`hub` would shadow Lifeline itself)."""
    if not NAME.match(name):
        raise ScaffoldError(f"connector name {name!r} must be a lower-case identifier: a letter, then letters, "
                            "digits or '_' (e.g. acme_sms)")
    if len(name) > MAX_NAME:
        raise ScaffoldError(f"connector name {name!r} is longer than {MAX_NAME} characters")
    if keyword.iskeyword(name):
        raise ScaffoldError(f"connector name {name!r} is a Python keyword")
    if name in builtin_connectors():
        raise ScaffoldError(f"connector name {name!r} is taken by a built-in connector "
                            f"({', '.join(sorted(builtin_connectors()))})")
    if importlib.util.find_spec(f"lifeline_{name}") is not None:
        raise ScaffoldError(f"connector name {name!r} would make a package lifeline_{name}, and one of that name "
                            "is already installed")
    return name


def default_dir(name: str) -> Path:
    return Path(f"lifeline-{name.replace('_', '-')}")


def generate(name: str, directory: Path | None = None) -> list[Path]:
    """Write the package for connector `name` into `directory` (new; default `./lifeline-<name>`);
    returns the files written."""
    validate_name(name)
    target = directory if directory is not None else default_dir(name)
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose a new directory with --dir")
    words = {
        "name": name,
        "package": f"lifeline_{name}",
        "dist": f"lifeline-{name.replace('_', '-')}",
        "title": "".join(part.capitalize() for part in name.split("_") if part),
        "conn_env": f"{name.upper()}_SANDBOX",
        "host": name.replace("_", "-"),
    }
    templates = resources.files("lifeline_hub.core.scaffold") / "templates"
    written = []
    for relative, template in FILES.items():
        path = target / relative.format(package=words["package"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(templates.joinpath(template).read_text(encoding="utf-8")).substitute(words),
                        encoding="utf-8")
        written.append(path)
    return written
