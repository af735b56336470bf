"""What the DAG file needs from `plugins.toml` and the plugin manifest, read without loading a plugin.

DAG parsing runs every 30 s in the dag-processor and again in every task process, so it must not
scan entry points, open the store or call a vendor. This reads `plugins.toml` with
`lifeline_hub.core.config.read_file`, the checks `lifeline_hub.core.config.load` makes before it
loads a plugin, with the same `file: key.path: problem` messages; then it checks every instance's
`plugin`, its settings (against the JSON Schema the manifest recorded) and `streams`, and that the
instances a policy names can do what is planned on them, against the plugin manifest `lifeline
plugins --manifest` wrote at deploy time (`lifeline_hub.core.airflow.manifest`).

`read_checked`, what the DAG file uses, keeps one bad tenant from taking the others down: only a
problem of the whole file (unreadable TOML, the `[lifeline]` table, a tenant name) or a missing
manifest raises `ConfigError`; a tenant's own problems land in `Tenant.problems`, a connector
block that does not match its settings schema in `Instance.problems`. `read` raises for them all.
The sync DAG's `plan` task lists the streams to sync from the loaded plugins, so a stale manifest
cannot misroute a run.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import ValidationError

from lifeline_hub.core.airflow.manifest import Manifest, ManifestError
from lifeline_hub.core.config import (
    CONFIG_ENV,
    ConfigError,
    ConfigFile,
    capability_problems,
    read_file,
    reference_problems,
)


@dataclass(frozen=True)
class Instance:
    key: str
    plugin: str
    streams: tuple[str, ...] = ()
    """The streams it syncs, per the manifest (empty when read without one)."""
    problems: tuple[str, ...] = ()
    """Why its block does not match the connector's settings schema: it is not synced, its DAG says why."""


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
    problems: tuple[str, ...] = field(default=())
    """Why the tenant cannot run (`file: key: problem` lines); then it has no groups."""
    display_name: str | None = None
    alerts: bool = False
    """It has an ops channel (`policy.ops_connector`): its DAGs carry deadline alerts."""

    @property
    def title(self) -> str:
        """What people call it (`display_name`, else its key): shown in its DAGs' details."""
        return self.display_name or self.name


def config_path(default: Path) -> Path:
    """`$LIFELINE_CONFIG`, else `default` (the DAG file passes the repository's `plugins.toml`)."""
    return Path(os.environ.get(CONFIG_ENV) or default).resolve()


def read(path: Path, manifest: Manifest | None = None) -> list[Tenant]:
    """Tenants and their sync groups; raises `ConfigError` with one `file: key: problem` line per problem.

    With a manifest, every instance's plugin must have loaded where the manifest was written, its
    settings must match the schema recorded there and its `streams` must be ones the connector
    declares (disabled instances too: the run-time config load checks them all); without one,
    plugin names are left to the run-time load.
    """
    tenants = _tenants(path.name, _load(path), manifest, isolate=False)
    problems = [p for t in tenants for p in t.problems]
    if problems and manifest is not None:  # only a manifest finds problems here
        raise ConfigError([*(p for p in problems if p != manifest.footer), manifest.footer])
    return tenants


def read_checked(path: Path) -> list[Tenant]:
    """`read` against the manifest at `lifeline_hub.core.airflow.manifest.path()`, one tenant's problems
    kept to that tenant (and a connector block's to that instance): what the DAG file does.

    Raises `ConfigError` only for what affects every tenant: a problem of the file as a whole, or a
    missing or unreadable manifest (listing the tenants' problems first, as they need no manifest).
    """
    manifest: Manifest | ManifestError
    try:
        manifest = Manifest.read()
        manifest.register_channels()  # plugins.toml may name a plugin's channel (policy.reminder_channels)
    except ManifestError as exc:
        manifest = exc
    data, broken = _load_isolated(path)
    if isinstance(manifest, ManifestError):
        raise ConfigError([*(p for lines in broken.values() for p in lines), str(manifest)]) from None
    tenants = {t.name: t for t in _tenants(path.name, data, manifest, isolate=True)}
    tenants.update({name: Tenant(name, "UTC", (), tuple(lines)) for name, lines in broken.items()})
    return sorted(tenants.values(), key=lambda t: t.name)


def _load(path: Path) -> ConfigFile:
    return read_file(path, f"set {CONFIG_ENV} for the DAG processor")


def _load_isolated(path: Path) -> tuple[ConfigFile, dict[str, list[str]]]:
    """The file with the tenants that fail `read_file`'s checks left out, and their problems by tenant.

    Raises the file's `ConfigError` when any problem is not inside one tenant's table.
    """
    try:
        return _load(path), {}
    except ConfigError as exc:
        error = exc
    broken: dict[str, list[str]] = {}
    inside = re.compile(rf"{re.escape(path.name)}: tenants\.([^.:\s]+)[.:]")
    for line in error.problems:
        found = inside.match(line)
        if found is None:
            raise error
        broken.setdefault(found[1], []).append(line)
    raw: dict[str, Any] = tomllib.loads(path.read_bytes().decode("utf-8-sig"))  # read_file got past both
    raw["tenants"] = {name: t for name, t in raw.get("tenants", {}).items() if name not in broken}
    try:
        data = ConfigFile.model_validate(raw)
    except ValidationError:
        raise error from None
    for name, tenant in data.tenants.items():  # read_file checks references only once the whole file validates
        problems = reference_problems(path.name, name, tenant)
        if problems:
            broken[name] = problems
    tenants = {name: t for name, t in data.tenants.items() if name not in broken}
    return data.model_copy(update={"tenants": tenants}), broken


_BOOLEANS = {"0": False, "off": False, "f": False, "false": False, "n": False, "no": False,
             "1": True, "on": True, "t": True, "true": True, "y": True, "yes": True}


def _lax(value: Any, prop: dict[str, Any]) -> Any:
    """`value` as pydantic's lax mode reads a quoted number or boolean (`agent_id = "12"`) for a property of that
    type (also as an `anyOf` branch): parse time must not refuse a block the run-time load accepts. A `Literal`
    (`enum`) takes no such string, in pydantic either."""
    if not isinstance(value, str) or "enum" in prop or "const" in prop:
        return value
    types = {prop.get("type"), *(branch.get("type") for branch in prop.get("anyOf", ()))}
    text = value.strip().lower()
    if "boolean" in types and text in _BOOLEANS:
        return _BOOLEANS[text]
    for kind, parse in (("integer", int), ("number", float)):
        if kind in types:
            try:
                return parse(text)
            except ValueError:
                continue
    return value


def _settings_problems(where: str, schema: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """Where `settings` (an instance's own keys) break the connector's JSON Schema, in pydantic's words for
    the common cases (`extra inputs are not permitted`, `field required`) as the run-time load says them."""
    problems = []
    settings = {key: _lax(value, schema.get("properties", {}).get(key, {})) for key, value in settings.items()}
    for err in sorted(Draft202012Validator(schema).iter_errors(settings), key=lambda e: [*map(str, e.path)]):
        key = "".join(f".{part}" for part in err.path)
        if err.validator == "additionalProperties":
            known = err.schema.get("properties", {})
            problems += [f"{where}{key}.{name}: extra inputs are not permitted" for name in err.instance
                         if name not in known]
        elif err.validator == "required":
            problems += [f"{where}{key}.{name}: field required" for name in err.validator_value
                         if name not in err.instance]
        elif not any(p.startswith(f"{where}{key}: ") for p in problems):  # one problem a key, as pydantic says
            problems.append(f"{where}{key}: {err.message[:1].lower()}{err.message[1:]}")
    return list(dict.fromkeys(problems))  # one `required` error per missing key, each naming them all


def _tenants(label: str, data: ConfigFile, manifest: Manifest | None, isolate: bool) -> list[Tenant]:
    """Each tenant with its groups, or with its problems. With `isolate`, an instance whose block breaks its
    settings schema keeps its problems to itself (a disabled one has no task to fail: `lifeline check` reports
    it); without, they are the tenant's, in the run-time load's order."""
    tenants = []
    for name, tenant in data.tenants.items():
        problems: list[str] = []
        by_schedule: dict[str, list[Instance]] = {}
        for key, inst in tenant.connectors.items():
            streams: tuple[str, ...] = ()
            settings: list[str] = []
            if manifest is not None:
                where = f"{label}: tenants.{name}.connectors.{key}"
                problem = manifest.problem(inst.plugin)
                if problem:
                    problems.append(f"{where}.plugin: {problem}")
                    continue
                entry = manifest.connectors[inst.plugin]
                if entry.settings_schema is not None:
                    settings = _settings_problems(where, entry.settings_schema, inst.settings)
                if settings and not isolate:
                    problems.extend(settings)
                    continue
                unknown = [s for s in inst.streams or [] if s not in entry.streams]
                if unknown and not settings:
                    problems.append(f"{where}.streams: {inst.plugin} has no stream {unknown[0]!r}")
                    continue
                streams = tuple(s for s in entry.streams if inst.streams is None or s in inst.streams)
            if inst.enabled:
                by_schedule.setdefault(inst.schedule, []).append(Instance(key, inst.plugin, streams, tuple(settings)))
        if manifest is not None:
            actions = {plugin: entry.actions for plugin, entry in manifest.connectors.items()}
            problems.extend(capability_problems(label, name, tenant, actions))
            if problems:
                tenants.append(Tenant(name, tenant.timezone, (), (*problems, manifest.footer), tenant.display_name))
                continue
        groups = tuple(
            SyncGroup(
                schedule=schedule,
                instances=tuple(members),
                where=f"{label}: tenants.{name}.connectors.{members[0].key}.schedule",
                name="sync" if n == 0 else f"sync_{members[0].key}",
            )
            for n, (schedule, members) in enumerate(by_schedule.items())
        )
        tenants.append(Tenant(name, tenant.timezone, groups, display_name=tenant.display_name,
                              alerts=tenant.policy.ops_connector is not None))
    return tenants
