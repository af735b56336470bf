"""Plugin loading and the typed facade over the pluggy manager.

Each entry point of group `lifeline` is loaded on its own: one that fails to import, or whose
hooks register something invalid (a duplicate connector name, a settings model that is not a
pydantic model...), is reported with plugin name, distribution and error, and skipped; everything
else keeps working. Built-in connectors come through the same entry-point group, loaded first.
`LIFELINE_DISABLE_PLUGINS=a,b` blocks plugins by entry-point name.

A plugin declares the public API it was built for (`lifeline_hub.core.api`) in its entry-point
module: `LIFELINE_PLUGIN_API = (major, minor)`. It is refused, as a failed plugin with the reason,
when its major differs from the host's `PLUGIN_API` or its minor is newer; one that declares
nothing is taken as built for 1.0 (every plugin written before the API had a version was) and
listed as undeclared.

The rest of Lifeline calls hooks only through `PluginHost` methods, never `pm.hook.x` directly.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pluggy
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from lifeline_hub import DISTRIBUTION
from lifeline_hub.core import hookspecs
from lifeline_hub.core.api import PLUGIN_API, PLUGIN_API_ATTRIBUTE
from lifeline_hub.core.connection_form import ConnectionForm
from lifeline_hub.core.connector import Connector, StreamInfo
from lifeline_hub.core.models import Action, Evidence, Interview, Outcome, Record

ENTRY_POINT_GROUP = "lifeline"
DISABLE_ENV = "LIFELINE_DISABLE_PLUGINS"
BUILTIN_DISTRIBUTION = DISTRIBUTION
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PluginError(Exception):
    """A plugin registered something invalid."""


class IncompatiblePlugin(PluginError):
    """A plugin built for a plugin API this host does not provide."""


class UnknownConnector(LookupError):
    pass


@dataclass
class PluginInfo:
    """One entry point and what became of it."""

    name: str
    distribution: str
    version: str
    module: str
    status: Literal["loaded", "failed", "disabled"] = "loaded"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    connectors: list[str] = field(default_factory=list)
    api: str | None = None
    """The plugin API it declares ("1.0"); None when it declares none (taken as 1.0)."""
    connection_types: list[ConnectionForm] = field(default_factory=list)

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION

    def describe_failure(self) -> str:
        return f"plugin {self.name!r} (distribution {self.distribution} {self.version}) skipped: {self.error}"


@dataclass(frozen=True)
class RuntimeProblem:
    """A hook implementation that raised while being called; the call went on without it."""

    plugin: str
    hook: str
    error: str


def _validate_connector(cls: Any) -> type[Connector]:
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise PluginError(f"register() takes a Connector subclass, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise PluginError(f"{cls.__qualname__}.name must be a lower-case identifier, got {name!r}")
    settings = cls.settings_model
    if not (isinstance(settings, type) and issubclass(settings, BaseModel)):
        raise PluginError(f"connector {name!r}: settings_model must be a pydantic model class, got {settings!r}")
    for stream in cls.streams:
        if not isinstance(stream, StreamInfo) or not all(
            isinstance(t, type) and issubclass(t, Record) for t in stream.produces
        ):
            raise PluginError(f"connector {name!r}: streams must be StreamInfo with Record types, got {stream!r}")
    if not all(isinstance(a, str) and _NAME.match(a) for a in cls.actions):
        raise PluginError(f"connector {name!r}: actions must be lower-case identifiers, got {cls.actions!r}")
    form = cls.connection_form
    if form is not None and not isinstance(form, ConnectionForm):
        raise PluginError(f"connector {name!r}: connection_form must be a ConnectionForm, got {form!r}")
    return cls


def settings_schema(cls: type[Connector]) -> dict[str, Any]:
    """The JSON Schema of a connector's settings (its `plugins.toml` table), every default filled in,
    including those a `default_factory` makes (pydantic leaves them out)."""
    schema = cls.settings_model.model_json_schema()
    properties = schema.get("properties", {})
    for name, info in cls.settings_model.model_fields.items():
        prop = properties.get(info.alias or name)
        if prop is not None and "default" not in prop and info.default_factory is not None \
                and not info.default_factory_takes_validated_data:
            prop["default"] = to_jsonable_python(info.get_default(call_default_factory=True, validated_data={}))
    return schema


def declared_api(plugin: object) -> tuple[int, int] | None:
    """The plugin API `plugin` was built for, checked against the host's; None when it declares none.

    Raises `IncompatiblePlugin` for another major, a newer minor, or a declaration that is no version.
    """
    declared = getattr(plugin, PLUGIN_API_ATTRIBUTE, None)
    if declared is None:
        return None
    if not (isinstance(declared, tuple | list) and len(declared) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in declared)):
        raise IncompatiblePlugin(f"{PLUGIN_API_ATTRIBUTE} must be (major, minor), two integers, got {declared!r}")
    major, minor = declared
    host = f"{DISTRIBUTION} {_host_version()} provides plugin API {PLUGIN_API[0]}.{PLUGIN_API[1]}"
    if major != PLUGIN_API[0]:
        raise IncompatiblePlugin(f"built for plugin API {major}.{minor}, {host} (another major version): "
                                 f"install a release of the plugin built for {PLUGIN_API[0]}.x")
    if minor > PLUGIN_API[1]:
        raise IncompatiblePlugin(f"built for plugin API {major}.{minor}, {host}: upgrade {DISTRIBUTION}")
    return major, minor


def _host_version() -> str:
    try:
        return md.version(DISTRIBUTION)
    except md.PackageNotFoundError:
        return "(not installed)"


class PluginHost:
    """Typed facade over the pluggy manager: loads plugins in isolation and calls hooks safely."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.connectors: dict[str, type[Connector]] = {}
        self.connector_plugin: dict[str, str] = {}
        self.policies: dict[str, list[tuple[str, Any]]] = {}
        self.runtime_problems: list[RuntimeProblem] = []

    # loading ------------------------------------------------------------------------------------

    def load_entry_points(self, entry_points: Iterable[md.EntryPoint] | None = None) -> PluginHost:
        eps = list(entry_points if entry_points is not None else md.entry_points(group=ENTRY_POINT_GROUP))
        blocked = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
        eps.sort(key=lambda ep: (_distribution(ep)[0] != BUILTIN_DISTRIBUTION, ep.name))
        for ep in eps:
            dist, version = _distribution(ep)
            info = PluginInfo(name=ep.name, distribution=dist, version=version, module=ep.value)
            if ep.name in self.plugins:
                info.status, info.error = "failed", "an entry point with this name is already loaded"
                self.plugins[f"{ep.name}@{dist}"] = info
                continue
            self.plugins[ep.name] = info
            if ep.name in blocked:
                info.status, info.error = "disabled", f"blocked by {DISABLE_ENV}"
                self.pm.set_blocked(ep.name)
                continue
            try:
                self.register(ep.load(), ep.name)
            except Exception as exc:  # a broken plugin must never break the host
                info.status, info.error = "failed", _one_line(exc)
        return self

    def register(self, plugin: object, name: str) -> None:
        """Register one plugin object (a module or instance) and run its registration hooks.

        Raises when the plugin is invalid; nothing it registered is kept in that case.
        """
        info = self.plugins.setdefault(name, PluginInfo(name, "(in-process)", "", repr(plugin)))
        api = declared_api(plugin)
        self.pm.register(plugin, name=name)
        try:
            self.pm.check_pending()
            connectors = self._collect_connectors(name)
            forms = self._connection_forms(connectors)
            policies = self._collect_policies(name)
        except Exception:
            self.pm.unregister(name=name)
            raise
        for cls in connectors:
            self.connectors[cls.name] = cls
            self.connector_plugin[cls.name] = name
        for outcome, playbook in policies:
            self.policies.setdefault(outcome, []).append((name, playbook))
        info.api = f"{api[0]}.{api[1]}" if api else None
        info.connectors = sorted(cls.name for cls in connectors)
        info.connection_types = forms
        info.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])

    def _collect_connectors(self, plugin_name: str) -> list[type[Connector]]:
        found: list[type[Connector]] = []

        def register(cls: type[Connector]) -> None:
            cls = _validate_connector(cls)
            owner = self.connector_plugin.get(cls.name)
            if owner is not None or any(c.name == cls.name for c in found):
                raise PluginError(f"connector name {cls.name!r} is already registered by plugin {owner!r}")
            found.append(cls)

        for impl in self._impls("lifeline_register_connectors", plugin_name):
            impl.function(register=register)
        return found

    def _connection_forms(self, connectors: Sequence[type[Connector]]) -> list[ConnectionForm]:
        """The connection types `connectors` declare that are new; declaring a known type differently is refused."""
        known = {form.conn_type: form for form in self.connection_forms()}
        found: list[ConnectionForm] = []
        for cls in connectors:
            form = cls.connection_form
            if form is None or known.get(form.conn_type) == form:
                continue
            if form.conn_type in known:
                raise PluginError(f"connector {cls.name!r}: connection type {form.conn_type!r} is already declared "
                                  "with another form")
            known[form.conn_type] = form
            found.append(form)
        return found

    def _collect_policies(self, plugin_name: str) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        for impl in self._impls("lifeline_register_policies", plugin_name):
            impl.function(register=lambda outcome, playbook: found.append((str(outcome), playbook)))
        return found

    def _impls(self, hook: str, plugin_name: str) -> list[pluggy.HookImpl]:
        return [i for i in getattr(self.pm.hook, hook).get_hookimpls() if i.plugin_name == plugin_name]

    # queries ------------------------------------------------------------------------------------

    def connection_forms(self) -> list[ConnectionForm]:
        """The Airflow connection types of the loaded plugins, in load order."""
        return [form for p in self.plugins.values() if p.status == "loaded" for form in p.connection_types]

    @property
    def failures(self) -> list[PluginInfo]:
        return [p for p in self.plugins.values() if p.status == "failed"]

    def connector(self, name: str) -> type[Connector]:
        try:
            return self.connectors[name]
        except KeyError:
            failed = [p for p in self.failures if name in (p.name, p.module.split(".")[-1])]
            hint = f"; {failed[0].describe_failure()}" if failed else ""
            known = ", ".join(sorted(self.connectors)) or "none"
            raise UnknownConnector(f"unknown connector plugin {name!r} (available: {known}){hint}") from None

    # hook calls ---------------------------------------------------------------------------------

    def _call_each(self, hook: str, firstresult: bool, **kwargs: Any) -> list[Any]:
        """Call every implementation in pluggy's order; one that raises is recorded and skipped."""
        results: list[Any] = []
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            try:
                result = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except Exception as exc:
                self.runtime_problems.append(RuntimeProblem(impl.plugin_name, hook, _one_line(exc)))
                continue
            if result is not None:
                results.append(result)
                if firstresult:
                    break
        return results

    def implements(self, hook: str) -> bool:
        """Whether any plugin implements `hook` (lets set-based code skip per-row hook calls)."""
        return bool(getattr(self.pm.hook, hook).get_hookimpls())

    def classify(self, interview: Interview, evidence: Sequence[Evidence]) -> Outcome | None:
        results = self._call_each("lifeline_classify", True, interview=interview, evidence=evidence)
        return results[0] if results else None

    def render_task(self, action: Action, interview: Interview, evidence: Sequence[Evidence]) -> str | None:
        results = self._call_each(
            "lifeline_render_task", True, action=action, interview=interview, evidence=evidence
        )
        return results[0] if results else None

    def on_outcome(self, outcome: Outcome) -> None:
        self._call_each("lifeline_on_outcome", False, outcome=outcome)

    def describe(self) -> list[dict[str, Any]]:
        """What `lifeline plugins --json` prints."""
        return [
            {
                "name": p.name, "distribution": p.distribution, "version": p.version, "module": p.module,
                "builtin": p.builtin, "status": p.status, "error": p.error, "api": p.api, "hooks": p.hooks,
                "connectors": [
                    {
                        "name": c, "streams": [s.name for s in self.connectors[c].streams],
                        "actions": list(self.connectors[c].actions),
                        "channels": [info.as_json() for info in self.connectors[c].channels],
                        "settings_schema": _schema_or_none(self.connectors[c]),
                    }
                    for c in p.connectors
                ],
                "connection_types": [form.as_json() for form in p.connection_types],
            }
            for p in self.plugins.values()
        ]


def _schema_or_none(cls: type[Connector]) -> dict[str, Any] | None:
    """`settings_schema`, or None for a plugin's model pydantic cannot describe (its settings are then
    checked only at run time, where the plugin is loaded)."""
    try:
        return settings_schema(cls)
    except Exception:
        return None


def _distribution(ep: md.EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return "(unknown)", ""
    return dist.metadata["Name"] or "(unknown)", dist.version


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@functools.cache
def get_host() -> PluginHost:
    """The process-wide host, loaded on first use (never at import time)."""
    return PluginHost().load_entry_points()

