"""What the DAG file needs from `plugins.toml`, read without loading a single plugin.

DAG parsing runs every 30 s in the dag-processor and again in every task process, so it must not
scan entry points, open the store or call a vendor. This reads the file with `tomllib` and checks
its structure with the same pydantic models and `file: key.path: problem` messages as
`core.config.load`; plugin names, connector settings and stream lists are resolved at run time by
the sync DAG's `plan` task, which loads the plugins.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from core.config import CONFIG_ENV, ConfigError, ConfigFile, _problems, _toml_position


@dataclass(frozen=True)
class Instance:
    key: str
    plugin: str


@dataclass(frozen=True)
class SyncGroup:
    """The enabled connector instances of one tenant that share a schedule: one sync DAG."""

    schedule: str
    instances: tuple[Instance, ...]
    where: str
    """Key path of the schedule's first instance, for error messages."""
    name: str
    """`sync`, or `sync_<first instance key>` when the tenant's instances run on several schedules."""

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


def read(path: Path) -> list[Tenant]:
    """Tenants and their sync groups; raises `ConfigError` with one `file: key: problem` line per problem."""
    label = path.name
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found (set {CONFIG_ENV} for the DAG processor)"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{label}: {_toml_position(exc)}"]) from None
    try:
        data = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_problems(label, exc)) from None
    tenants = []
    for name, tenant in data.tenants.items():
        by_schedule: dict[str, list[tuple[str, str]]] = {}
        for key, inst in tenant.connectors.items():
            if inst.enabled:
                by_schedule.setdefault(inst.schedule, []).append((key, inst.plugin))
        groups = tuple(
            SyncGroup(
                schedule=schedule,
                instances=tuple(Instance(key, plugin) for key, plugin in members),
                where=f"{label}: tenants.{name}.connectors.{members[0][0]}.schedule",
                name="sync" if len(by_schedule) == 1 else f"sync_{members[0][0]}",
            )
            for schedule, members in by_schedule.items()
        )
        tenants.append(Tenant(name, tenant.timezone, groups))
    return tenants
