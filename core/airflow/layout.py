"""What the DAG file needs from `plugins.toml` and the plugin manifest, read without loading a plugin.

DAG parsing runs every 30 s in the dag-processor and again in every task process, so it must not
scan entry points, open the store or call a vendor. This reads `plugins.toml` with
`lifeline_hub.core.config.read_file`, the checks `lifeline_hub.core.config.load` makes before it
loads a plugin, with the same `file: key.path: problem` messages; then it checks every instance's
`plugin` (and `streams`), and that the instances a policy names can do what is planned on them,
against the plugin manifest `lifeline plugins --manifest` wrote at deploy time
(`lifeline_hub.core.airflow.manifest`), so a missing or broken plugin is the DAG file's import error
naming the key, the plugin and the loader's error. Connector settings are validated at run time,
where the plugins are loaded; the sync DAG's `plan` task lists the streams to sync from the loaded
plugins too, so a stale manifest cannot misroute a run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lifeline_hub.core.airflow.manifest import Manifest, ManifestError
from lifeline_hub.core.config import CONFIG_ENV, ConfigError, ConfigFile, capability_problems, read_file


@dataclass(frozen=True)
class Instance:
    key: str
    plugin: str
    streams: tuple[str, ...] = ()
    """The streams it syncs, per the manifest (empty when read without one)."""


@dataclass(frozen=True)
class SyncGroup:
    """The enabled connector instances of one tenant that share a schedule: one sync DAG."""

    schedule: str
    instances: tuple[Instance, ...]
    where: str
    """Key path of the schedule's first instance, for error messages."""
    name: str
    """`sync` for the schedule of the tenant's first enabled instance; `sync_<its first instance key>` for
    each other schedule. Instances appended later never rename the tenant's `sync` DAG (its history stays)."""

    @property
    def plugins(self) -> list[str]:
        return sorted({i.plugin for i in self.instances})


@dataclass(frozen=True)
class Tenant:
    name: str
    timezone: str
    groups: tuple[SyncGroup, ...]


def config_path(default: Path) -> Path:
    """`$LIFELINE_CONFIG`, else `default` (the DAG file passes the repository's `plugins.toml`)."""
    return Path(os.environ.get(CONFIG_ENV) or default).resolve()


def read(path: Path, manifest: Manifest | None = None) -> list[Tenant]:
    """Tenants and their sync groups; raises `ConfigError` with one `file: key: problem` line per problem.

    With a manifest, every instance's plugin must have loaded where the manifest was written, and
    its `streams` must be ones the connector declares (disabled instances too: the run-time config
    load checks them all); without one, plugin names are left to the run-time load.
    """
    return _tenants(path.name, _load(path), manifest)


def read_checked(path: Path) -> list[Tenant]:
    """`read` against the manifest at `lifeline_hub.core.airflow.manifest.path()`: what the DAG file does.

    plugins.toml's own problems come first (they need no manifest), then a missing manifest.
    """
    manifest: Manifest | ManifestError
    try:
        manifest = Manifest.read()
        manifest.register_channels()  # plugins.toml may name a plugin's channel (policy.reminder_channels)
    except ManifestError as exc:
        manifest = exc
    data = _load(path)
    if isinstance(manifest, ManifestError):
        raise ConfigError([str(manifest)]) from None
    return _tenants(path.name, data, manifest)


def _load(path: Path) -> ConfigFile:
    return read_file(path, f"set {CONFIG_ENV} for the DAG processor")


def _tenants(label: str, data: ConfigFile, manifest: Manifest | None) -> list[Tenant]:
    problems: list[str] = []
    tenants = []
    for name, tenant in data.tenants.items():
        by_schedule: dict[str, list[Instance]] = {}
        for key, inst in tenant.connectors.items():
            streams: tuple[str, ...] = ()
            if manifest is not None:
                where = f"{label}: tenants.{name}.connectors.{key}"
                problem = manifest.problem(inst.plugin)
                if problem:
                    problems.append(f"{where}.plugin: {problem}")
                    continue
                declared = manifest.connectors[inst.plugin].streams
                unknown = [s for s in inst.streams or [] if s not in declared]
                if unknown:
                    problems.append(f"{where}.streams: {inst.plugin} has no stream {unknown[0]!r}")
                    continue
                streams = tuple(s for s in declared if inst.streams is None or s in inst.streams)
            if inst.enabled:
                by_schedule.setdefault(inst.schedule, []).append(Instance(key, inst.plugin, streams))
        if manifest is not None:
            actions = {plugin: entry.actions for plugin, entry in manifest.connectors.items()}
            problems.extend(capability_problems(label, name, tenant, actions))
        groups = tuple(
            SyncGroup(
                schedule=schedule,
                instances=tuple(members),
                where=f"{label}: tenants.{name}.connectors.{members[0].key}.schedule",
                name="sync" if n == 0 else f"sync_{members[0].key}",
            )
            for n, (schedule, members) in enumerate(by_schedule.items())
        )
        tenants.append(Tenant(name, tenant.timezone, groups))
    if problems and manifest is not None:  # only a manifest finds problems here
        raise ConfigError([*problems, manifest.footer])
    return tenants
