"""The plugin manifest: which `lifeline` entry points load where Airflow runs, written at deploy time.

DAG parsing must not scan entry points (it runs every 30 s in the dag-processor and again in every
task process), yet a tenant whose plugin is missing or broken must show in the UI at once (its
failing `config_error` DAG), not as DAGs that fail at run time. So `lifeline plugins --manifest` loads the plugins once,
in the environment the DAG processor and the workers use, and records for every entry point
whether it loaded (else the loader's error) and, per connector, its streams, actions, channels and
the JSON Schema of its settings (so a typo in a connector block is caught at parse time); the DAG
file reads that JSON file with `plugins.toml` (`lifeline_hub.core.airflow.layout`). Run it again whenever
plugins are installed, upgraded or removed (`make airflow` does it on every start).

Where it lives: `$LIFELINE_PLUGIN_MANIFEST`, else `$AIRFLOW_HOME/lifeline-plugins.json`
(`AIRFLOW_HOME` defaulting to `~/airflow`, as for Airflow itself), so the command and the DAG
processor find the same file when they share Airflow's environment.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifeline_hub.core.models.channels import ChannelInfo, register_channels

if TYPE_CHECKING:
    from lifeline_hub.core.plugins import PluginHost

MANIFEST_ENV = "LIFELINE_PLUGIN_MANIFEST"
FILE_NAME = "lifeline-plugins.json"
FORMAT = 1
COMMAND = "lifeline plugins --manifest"


class ManifestError(Exception):
    """The manifest is missing or unreadable; the message says which command writes it."""


def path(environ: Mapping[str, str] | None = None) -> Path:
    """`$LIFELINE_PLUGIN_MANIFEST`, else `$AIRFLOW_HOME/lifeline-plugins.json` (`~/airflow` by default)."""
    env = os.environ if environ is None else environ
    explicit = env.get(MANIFEST_ENV)
    if explicit:
        return Path(explicit).expanduser().resolve()
    return (Path(env.get("AIRFLOW_HOME") or "~/airflow").expanduser() / FILE_NAME).resolve()


def write(host: PluginHost, target: Path | None = None) -> Path:
    """Record what `host` loaded; atomic, so a DAG processor parsing meanwhile never reads half a file."""
    target = target or path()
    data = {
        "format": FORMAT,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "python": sys.executable,
        "plugins": host.describe(),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, target)
    return target


@dataclass(frozen=True)
class ConnectorEntry:
    name: str
    plugin: str
    streams: tuple[str, ...]
    actions: tuple[str, ...]
    channels: tuple[ChannelInfo, ...] = ()
    """The channels the connector declares (a plugin's `wecom`), registered by `Manifest.register_channels`."""
    settings_schema: dict[str, Any] | None = None
    """The JSON Schema of its `plugins.toml` table (`lifeline plugins --schema`); None when the plugin's model
    has none or the manifest was written before it was recorded: the block is then checked at run time only."""


@dataclass(frozen=True)
class Manifest:
    path: Path
    written_at: str
    connectors: dict[str, ConnectorEntry]
    """Connectors of the entry points that loaded, by connector name (what `plugin =` names)."""
    unavailable: tuple[dict[str, Any], ...]
    """Entry points that failed or were disabled, as `lifeline plugins --json` describes them."""

    @classmethod
    def read(cls, source: Path | None = None) -> Manifest:
        """Read the manifest: one small JSON file, nothing imported or scanned."""
        source = source or path()
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ManifestError(
                f"plugin manifest {source} not found: run `{COMMAND}` where the DAG processor and workers "
                f"run (it records which Lifeline plugins load there), with the same AIRFLOW_HOME, "
                f"or set {MANIFEST_ENV} to the file it wrote") from None
        except (OSError, ValueError) as exc:
            raise ManifestError(f"plugin manifest {source}: unreadable ({exc}); run `{COMMAND}` again") from None
        not_ours = ManifestError(f"plugin manifest {source}: not format {FORMAT} of `{COMMAND}`; run it again")
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("plugins"), list):
            raise not_ours
        connectors: dict[str, ConnectorEntry] = {}
        unavailable = []
        try:
            for plugin in data["plugins"]:
                if plugin["status"] != "loaded":
                    unavailable.append(plugin)
                    continue
                for c in plugin["connectors"]:
                    channels = tuple(ChannelInfo.from_json(info) for info in c.get("channels", ()))
                    schema = c.get("settings_schema")
                    if schema is not None and not isinstance(schema, dict):
                        raise TypeError(schema)
                    connectors[c["name"]] = ConnectorEntry(c["name"], plugin["name"], tuple(c["streams"]),
                                                           tuple(c["actions"]), channels, schema)
        except (KeyError, TypeError, AttributeError, ValueError):
            raise not_ours from None
        return cls(source, str(data.get("written_at", "?")), connectors, tuple(unavailable))

    def register_channels(self) -> None:
        """Declare the loaded plugins' channels, as loading them would, so plugins.toml may name them."""
        try:
            register_channels(info for entry in self.connectors.values() for info in entry.channels)
        except ValueError as exc:
            raise ManifestError(f"plugin manifest {self.path}: {exc}; run `{COMMAND}` again") from None

    def problem(self, plugin: str) -> str | None:
        """Why `plugin = "<plugin>"` in plugins.toml cannot be used, in `PluginHost.connector`'s words."""
        if plugin in self.connectors:
            return None
        for info in self.unavailable:
            if plugin in (info.get("name"), str(info.get("module", "")).split(".")[-1]):
                what = "is disabled" if info.get("status") == "disabled" else "failed to load"
                return (f"plugin {info.get('name')!r} (distribution {info.get('distribution')} "
                        f"{info.get('version')}) {what}: {info.get('error')}")
        known = ", ".join(sorted(self.connectors)) or "none"
        return f"unknown connector plugin {plugin!r} (installed: {known})"

    @property
    def footer(self) -> str:
        return (f"(plugins as recorded in {self.path} at {self.written_at}; after installing, upgrading or "
                f"fixing plugins run `{COMMAND}` again)")
