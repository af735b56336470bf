"""`plugins.toml`: tenants, connector instances and policy parameters, validated with pydantic.

Every error names the file, the key path (or the line, for TOML syntax) and the problem, e.g.
`plugins.toml: tenants.acme.connectors.dt.agent_id: field required`. Connector settings sit inline
in the instance table and are validated by the plugin's own settings model. `read_file` checks
what needs no plugin (syntax, structure, the store URL, the instances a policy names) and is
what the DAG file reads at parse time too; `capability_problems` checks that those instances can
perform what remediation and reminders will plan on them, from the actions their connectors
declare (the loaded plugins here, the plugin manifest in the DAG file).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lifeline_hub.core.connector import Connector, Instance
from lifeline_hub.core.models import OutcomeClass, channels, known_channel, send_actions, zone_info
from lifeline_hub.core.models.contact import MIN_HASH_KEY_BYTES, hash_key_problem
from lifeline_hub.core.plugins import PluginHost, UnknownConnector

DEFAULT_PATH = "plugins.toml"
CONFIG_ENV = "LIFELINE_CONFIG"
STORE_ENV = "LIFELINE_STORE_URL"
IDENTIFIER = r"^[a-z][a-z0-9_-]*$"


STORES = {"sqlite": ("pysqlite",), "postgresql": ("psycopg",)}
"""Store URL schemes Lifeline runs on: `backend` or `backend+driver`."""

class ConfigError(Exception):
    """One or more problems in the config file, each a `file: key.path: problem` line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicySettings(_Strict):
    """Per-tenant thresholds for reconciliation and remediation."""

    grace_minutes: int = Field(30, ge=0, description="wait after the window before deciding")
    late_after_minutes: int = Field(5, ge=0, description="a first join later than this is late")
    min_attendance_minutes: int = Field(5, ge=0, description="less attendance than this is partial")
    technical_clicks: int = Field(2, ge=1, description="human join attempts that mean a technical miss")
    stale_stream_minutes: int = Field(120, ge=1, description="a stream behind longer than this raises an alert")
    # remediation: where actions go (connector keys of this tenant), who gets them, playbooks and caps
    hr_connector: str | None = Field(None, description="connector for HR tasks and messages (DingTalk/Feishu)")
    hr_assignees: list[str] = Field(default_factory=list, description="HR platform user ids on hr_connector")
    hr_recipients: list[str] = Field(
        default_factory=list, description="HR ids for messages if not hr_assignees (DingTalk: userIds, todos unionIds)"
    )
    incident_recipients: list[str] = Field(default_factory=list, description="incident notices (else hr_assignees)")
    ops_connector: str | None = Field(
        None, description="connector (send_message: DingTalk, Feishu, WeCom) for failure and deadline alerts")
    ops_recipients: list[str] = Field(default_factory=list, description="platform user ids on ops_connector")
    breaker_failures: int = Field(
        5, ge=1, description="consecutive transport/5xx failures of a connector instance that open its breaker")
    breaker_cooldown_seconds: int = Field(
        300, ge=1, description="how long an open breaker fails calls at once before one probe call")
    candidate_connectors: dict[str, str] = Field(
        default_factory=dict, description="candidate channel -> connector, e.g. {sms = 'sms', email = 'mail'}"
    )
    calendar_connector: str | None = Field(None, description="connector holding the interview calendar events")
    calendar_organizer: str | None = Field(None, description="organizer id of the calendar events")
    approval_connector: str | None = Field(None, description="connector for reschedule approvals")
    approval_process_code: str | None = Field(None, description="approval definition (processCode / approval_code)")
    approval_originator: str | None = Field(None, description="user id the approval is started for")
    approval_approvers: list[str] = Field(default_factory=list, description="approver user ids, in order")
    playbooks: dict[str, list[str] | str] = Field(
        default_factory=dict, description="outcome -> built-in step names, or a plugin playbook 'plugin:name'"
    )
    max_auto_reinvites: int = Field(1, ge=0, description="automatic re-invitations of a candidate per interview")
    remediation_horizon_hours: int = Field(
        72, ge=1, description="an interview that ended longer ago gets its outcome recorded but no automatic action"
    )
    quiet_hours: list[int] = Field(
        default_factory=lambda: [21, 8], min_length=2, max_length=2,
        description="[from, to] local hours in which candidates get no automated message (held until `to`); "
                    "equal hours: none",
    )
    incident_threshold: int = Field(3, ge=2, description="technical misses on one platform that open an incident")
    incident_window_minutes: int = Field(120, ge=1, description="how close together those misses must start")
    reschedule_slots: int = Field(3, ge=0, le=10, description="slots offered on the reschedule page")
    reschedule_slot_hours: list[int] = Field(default_factory=lambda: [10, 14, 16], description="local start hours")
    reschedule_lead_hours: int = Field(24, ge=1, description="the earliest slot offered, in hours from now")
    task_due_hours: int = Field(24, ge=1, description="HR tasks are due this long after they are created")
    dispatch_max_attempts: int = Field(6, ge=1, description="failed tries before an action is parked as dead")
    dispatch_backoff_seconds: int = Field(30, ge=1, description="first retry delay; doubles per failure")
    dispatch_max_backoff_seconds: int = Field(3600, ge=1, description="the longest retry delay")
    # reminders (core.reminders); quiet hours are `quiet_hours` above, in the candidate's zone
    reminder_offsets_minutes: dict[str, int] = Field(
        default_factory=lambda: {"reminder_t3d": 4320, "reminder_t1d": 1440, "reminder_t1h": 60},
        description="reminder -> minutes before the start (reminder_t3d, reminder_t1d, reminder_t1h); leave one "
                    "out to not send it",
    )
    reminder_channels: list[str] = Field(
        default_factory=lambda: ["sms", "email"], description="candidate channels in order, after their own preference"
    )
    reminder_fallback_minutes: int = Field(
        30, ge=1, description="a reminder with no delivery receipt this long after sending goes out on the next channel"
    )

    @field_validator("playbooks")
    @classmethod
    def _known_playbooks(cls, value: dict[str, list[str] | str]) -> dict[str, list[str] | str]:
        from lifeline_hub.core.remediation.policies import check_playbook  # the step catalogue lives with remediation

        for outcome, playbook in value.items():
            if outcome not in OutcomeClass.__members__:
                raise ValueError(f"{outcome!r} is not an outcome class ({', '.join(OutcomeClass)})")
            check_playbook(playbook)
        return value

    @field_validator("candidate_connectors")
    @classmethod
    def _known_channels(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = [c for c in value if known_channel(c) is None]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a channel ({', '.join(channels())})")
        return value

    @field_validator("reminder_offsets_minutes")
    @classmethod
    def _known_reminders(cls, value: dict[str, int]) -> dict[str, int]:
        known = ("reminder_t3d", "reminder_t1d", "reminder_t1h")
        unknown = [k for k in value if k not in known]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a reminder ({', '.join(known)})")
        if any(minutes < 1 for minutes in value.values()):
            raise ValueError("reminder offsets are whole minutes before the start, at least 1")
        return value

    @field_validator("reminder_channels")
    @classmethod
    def _known_reminder_channels(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in send_actions()]
        if unknown:
            raise ValueError(f"{unknown[0]!r} cannot carry reminders (reminder channels: {', '.join(send_actions())})")
        return value

    @field_validator("reschedule_slot_hours", "quiet_hours")
    @classmethod
    def _hours_of_day(cls, value: list[int]) -> list[int]:
        if any(not 0 <= h <= 23 for h in value):
            raise ValueError("hours of the day go from 0 to 23")
        return value


class InstanceConfig(BaseModel):
    """A connector instance; keys other than these are the connector's own settings."""

    model_config = ConfigDict(extra="allow")

    plugin: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    connection_id: str | None = None
    base_urls: dict[str, str] = Field(default_factory=dict)
    streams: list[str] | None = None
    schedule: str = "*/15 * * * *"
    enabled: bool = True
    events: Literal["http", "stream"] = Field(
        "http", description="how vendor events arrive: 'http' (callbacks to `lifeline serve`) or 'stream' (an "
                            "outbound connection `lifeline listen` keeps open; no public URL needed)")
    retry_budget_seconds: float | None = Field(
        None, gt=0, description="at most this long of in-task retries per sync task (the DAG's schedule sets a "
                                "budget; this may only lower it)")

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TenantConfig(_Strict):
    display_name: str | None = None
    sandbox: bool = Field(
        False, description="made-up people on the vendor emulators: may run without LIFELINE_HASH_KEY (its HR "
                           "links and contact hashes then use the public development key)",
    )
    timezone: str = "Asia/Shanghai"
    locale: Literal["zh-CN", "en"] = "zh-CN"
    policy: PolicySettings = Field(default_factory=PolicySettings)
    connectors: dict[str, InstanceConfig] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone_info(value)
        return value

    @field_validator("connectors")
    @classmethod
    def _instance_names(cls, value: dict[str, InstanceConfig]) -> dict[str, InstanceConfig]:
        return _identifiers(value, "connector instance")


RATE_LIMITERS = ("memory", "postgresql")
"""`[lifeline] rate_limiter` by name; a postgresql URL names another database."""


class StoreSettings(_Strict):
    store: str = "sqlite:///var/lifeline.db"
    rate_limiter: str = Field(
        "memory", description="where vendor rate-limit windows live: 'memory' (each process its own: one machine), "
                              "'postgresql' (the store's database: every worker of every machine shares each "
                              "vendor app's quota) or another database's postgresql+psycopg:// URL")

    @field_validator("rate_limiter")
    @classmethod
    def _known_limiter(cls, value: str) -> str:
        if value in RATE_LIMITERS or (value.startswith("postgresql") and store_url_problem(value) is None):
            return value
        raise ValueError("expected 'memory' (one machine), 'postgresql' (the store's database, shared by every "
                         "worker) or a postgresql+psycopg://USER@HOST/DB URL")

    @field_validator("store")
    @classmethod
    def _supported_store(cls, value: str) -> str:
        problem = store_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class ConfigFile(_Strict):
    lifeline: StoreSettings = Field(default_factory=StoreSettings)
    tenants: dict[str, TenantConfig] = Field(default_factory=dict)

    @field_validator("tenants")
    @classmethod
    def _tenant_names(cls, value: dict[str, TenantConfig]) -> dict[str, TenantConfig]:
        return _identifiers(value, "tenant")


def store_url_problem(url: str) -> str | None:
    """Why Lifeline cannot store in `url` (None when it can); names only the scheme, never a password."""
    found = re.match(r"^([A-Za-z][A-Za-z0-9]*)(?:\+([A-Za-z0-9_]+))?://", url)
    if found is None:
        return "not a database URL (sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)"
    backend, driver = found[1], found[2]
    if backend not in STORES or driver not in (None, *STORES[backend]):
        return (f"unsupported store URL scheme {found[0]!r}: Lifeline stores in SQLite (sqlite:///PATH) or "
                "PostgreSQL (postgresql+psycopg://USER@HOST/DB)")
    return None


def _identifiers(value: dict[str, Any], what: str) -> dict[str, Any]:
    for name in value:
        if not re.match(IDENTIFIER, name):
            raise ValueError(f"{what} name {name!r} must be lower-case letters, digits, '-' or '_'")
    return value


@dataclass(frozen=True)
class ConnectorSetup:
    """Everything needed to build one connector instance."""

    tenant: str
    key: str
    config: InstanceConfig
    connector_class: type[Connector]
    settings: BaseModel
    instance: Instance
    rate_limits: str | None = None
    """The database whose rate-limit windows its clients share (`Config.rate_limits_url`); None: in memory."""

    @property
    def streams(self) -> list[str]:
        declared = [s.name for s in self.connector_class.streams]
        return [s for s in declared if self.config.streams is None or s in self.config.streams]


@dataclass(frozen=True)
class Config:
    path: Path
    data: ConfigFile
    setups: Mapping[str, ConnectorSetup]
    """Keyed by instance name (`tenant.key`), which is also the `source` of its records."""

    @property
    def store_url(self) -> str:
        url = os.environ.get(STORE_ENV) or self.data.lifeline.store
        problem = store_url_problem(url)
        if problem:  # the file's own value was checked when it was read
            raise ConfigError([f"${STORE_ENV}: {problem}"])
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            url = prefix + str((self.path.parent / url[len(prefix):]).resolve())
        return url

    @property
    def rate_limits_url(self) -> str | None:
        """The PostgreSQL database holding the shared rate-limit windows; None when each process keeps its own."""
        choice = self.data.lifeline.rate_limiter
        if choice == "memory":
            return None
        if choice != "postgresql":
            return choice
        url = self.store_url
        if not url.startswith("postgresql"):
            raise ConfigError([f"{self.path.name}: lifeline.rate_limiter: 'postgresql' shares the store's database, "
                               "but the store is SQLite (one machine: use 'memory', or give a postgresql+psycopg:// "
                               "URL)"])
        return url

    def tenant(self, name: str) -> TenantConfig:
        try:
            return self.data.tenants[name]
        except KeyError:
            known = ", ".join(self.data.tenants) or "none"
            raise ConfigError([f"{self.path.name}: tenant {name!r} is not configured (tenants: {known})"]) from None

    def require_hash_key(self, tenants: Iterable[str]) -> str | None:
        """Refuse to run `tenants` on a key anyone can know (`ConfigError`, one line) unless each is a sandbox;
        for sandboxes the notice to show. None with a real key."""
        names = list(tenants)
        problem = hash_key_problem()
        if problem is None or not names:
            return None
        real = [name for name in names if not self.tenant(name).sandbox]
        if real:
            raise ConfigError([
                f"{problem}; set a secret of at least {MIN_HASH_KEY_BYTES} bytes (only tenants marked "
                f"`sandbox = true` in {self.path.name} may run without one; not: {', '.join(real)})"])
        return f"{problem}; allowed for sandbox tenant {', '.join(names)} only, never with real people"

    def instances(self, tenant: str | None = None) -> Iterator[ConnectorSetup]:
        for setup in self.setups.values():
            if (tenant is None or setup.tenant == tenant) and setup.config.enabled:
                yield setup

    def channel_instance(self, tenant: str, channel: str) -> ConnectorSetup | None:
        """The instance that reaches candidates on `channel`: the one `policy.candidate_connectors` names, else
        the tenant's first that can (the channel's `candidate_action`: SMS `send_sms`, e-mail `send_email`, an
        IM channel `send_message` by the connector named after it or declaring it). Reminders and remediation
        both choose by this."""
        key = self.tenant(tenant).policy.candidate_connectors.get(channel)
        if key:
            return self.setups.get(f"{tenant}.{key}")
        kind = send_actions().get(channel) or "send_message"  # a channel carrying no links: messages only
        for setup in self.instances(tenant):
            cls = setup.connector_class
            own = kind != "send_message" or _names_channel(cls.name, [c.name for c in cls.channels], channel)
            if kind in cls.actions and own:
                return setup
        return None

    def candidate_channels(self, tenant: str) -> list[tuple[str, ConnectorSetup]]:
        """The channels the tenant reaches candidates on, each with its instance (`channel_instance`, able to
        perform the channel's `candidate_action`): `policy.reminder_channels` first, then the others."""
        found = []
        for channel in dict.fromkeys([*self.tenant(tenant).policy.reminder_channels, *send_actions()]):
            setup = self.channel_instance(tenant, channel)
            if setup is not None and send_actions()[channel] in setup.connector_class.actions:
                found.append((channel, setup))
        return found

    def staff_instances(self, tenant: str) -> list[ConnectorSetup]:
        """The tenant's instances that message staff (`Connector.staff_messenger`), in the file's order."""
        return [s for s in self.instances(tenant) if s.connector_class.staff_messenger()]


def _names_channel(plugin: str, declared: Iterable[str], channel: str) -> bool:
    """An IM channel's connector: the one named after the channel, or declaring it in its `channels`."""
    return plugin == channel or channel in declared


def default_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_PATH)


def load(path: Path | str | None, host: PluginHost, tenant: str | None = None, instance: str | None = None) -> Config:
    """Read and validate the config file, including each instance's connector settings and what it must do.

    `tenant` reads that tenant alone (a DAG task: another tenant's problems must not stop it), and `instance`
    (a connector key of that tenant: a sync task) also passes over the problems of its sibling connector blocks.
    """
    path = Path(path) if path is not None else default_path()
    label = path.name
    data = read_file(path, f"pass --config PATH or set {CONFIG_ENV}", tenant)
    problems: list[str] = []
    rate_limits = None
    try:
        rate_limits = Config(path=path, data=data, setups={}).rate_limits_url
    except ConfigError as exc:
        problems.extend(exc.problems)
    setups: dict[str, ConnectorSetup] = {}
    actions: dict[str, Collection[str]] = {}
    declared: dict[str, Collection[str]] = {}
    for tenant_name, tenant_config in data.tenants.items():
        for key, inst in tenant_config.connectors.items():
            where = f"tenants.{tenant_name}.connectors.{key}"
            found = problems if instance is None or key == instance else []
            try:
                cls = host.connector(inst.plugin)
            except UnknownConnector as exc:
                found.append(f"{label}: {where}.plugin: {exc}")
                continue
            actions[inst.plugin] = cls.actions
            declared[inst.plugin] = [info.name for info in cls.channels]
            try:
                settings = cls.settings_model.model_validate(inst.settings)
            except ValidationError as exc:
                found.extend(_problems(label, exc, where))
                continue
            unknown = [s for s in inst.streams or [] if s not in {info.name for info in cls.streams}]
            if unknown:
                found.append(f"{label}: {where}.streams: {cls.name} has no stream {unknown[0]!r}")
                continue
            where_it_runs = Instance(
                tenant=tenant_name, name=f"{tenant_name}.{key}", timezone=tenant_config.timezone,
                base_urls={**cls.default_base_urls, **inst.base_urls},
            )
            setups[where_it_runs.name] = ConnectorSetup(tenant_name, key, inst, cls, settings, where_it_runs,
                                                          rate_limits)
        problems.extend(capability_problems(label, tenant_name, tenant_config, actions, declared))
    if problems:
        raise ConfigError(problems)
    return Config(path=path, data=data, setups=setups)


def read_file(path: Path, missing: str, tenant: str | None = None) -> ConfigFile:
    """The file parsed and checked as far as that needs no plugin; `missing` says how to name another file.
    With `tenant`, the other tenants' tables are left out before they are checked."""
    label = path.name
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found ({missing})"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read it: {exc.strerror or exc}"]) from None
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[:exc.start].count(b"\n") + 1
        raise ConfigError([f"{label}: line {line}: not UTF-8 text (byte 0x{content[exc.start]:02x}); "
                           "save the file as UTF-8"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{label}: {_toml_position(exc)}"]) from None
    if tenant is not None and isinstance(raw.get("tenants"), dict):
        raw = {**raw, "tenants": {name: table for name, table in raw["tenants"].items() if name == tenant}}
    try:
        data = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_problems(label, exc)) from None
    problems = [p for name, tenant in data.tenants.items() for p in reference_problems(label, name, tenant)]
    if problems:
        raise ConfigError(problems)
    return data


def _named_instances(tenant: TenantConfig) -> Iterator[tuple[str, str, tuple[str, ...], str]]:
    """Each instance the tenant's policy names: (key under `policy`, instance key, the actions remediation
    plans on it, what they are for)."""
    policy = tenant.policy
    if policy.hr_connector:
        yield "hr_connector", policy.hr_connector, _staff_kinds(policy), "HR's tasks and messages"
    if policy.approval_connector:
        yield "approval_connector", policy.approval_connector, ("create_approval",), "reschedule approvals"
    if policy.calendar_connector:
        yield ("calendar_connector", policy.calendar_connector, ("create_calendar_event", "update_calendar_event"),
               "the interviews' calendar events")
    for channel, key in policy.candidate_connectors.items():
        kind = send_actions().get(channel, "send_message")
        yield f"candidate_connectors.{channel}", key, (kind,), f"messages to candidates on {channel}"
    if policy.ops_connector:
        yield "ops_connector", policy.ops_connector, ("send_message",), "failure and deadline alerts"


def _staff_kinds(policy: PolicySettings) -> tuple[str, ...]:
    """What remediation plans on `hr_connector`: tasks (HR's fallback for whatever cannot be done
    automatically) and the kinds of the HR and interviewer steps of the tenant's built-in playbooks
    (a plugin's playbook names its own steps; they are routed when it runs)."""
    from lifeline_hub.core.remediation.policies import DEFAULTS, STEPS

    books: dict[str, list[str]] = {o.value: [s.name for s in b.steps] for o, b in DEFAULTS.items()}
    books.update({o: [] if isinstance(steps, str) else list(steps) for o, steps in policy.playbooks.items()})
    kinds = {STEPS[s].kind for steps in books.values() for s in steps if STEPS[s].to in ("hr", "interviewers")}
    return ("create_task", *sorted(kinds - {"create_task"}))


def _instance_list(tenant: TenantConfig) -> str:
    return ", ".join(tenant.connectors) or "none"


def reference_problems(label: str, name: str, tenant: TenantConfig) -> list[str]:
    """Every connector instance the tenant's policy names exists; alerts have a channel and people."""
    policy, where = tenant.policy, f"{label}: tenants.{name}.policy"
    ops = ([f"{where}.ops_recipients: empty: name who gets the alerts on ops_connector {policy.ops_connector!r}"]
           if policy.ops_connector and not policy.ops_recipients else
           [f"{where}.ops_connector: not set: ops_recipients need a connector instance to be reached on"]
           if policy.ops_recipients and not policy.ops_connector else [])
    return [*(f"{where}.{at}: no connector instance {key!r} in tenant {name} (instances: {_instance_list(tenant)})"
              for at, key, _, _ in _named_instances(tenant) if key not in tenant.connectors), *ops]


def capability_problems(label: str, name: str, tenant: TenantConfig, actions: Mapping[str, Collection[str]],
                        declared: Mapping[str, Collection[str]] | None = None) -> list[str]:
    """The instances the policy names can do what is planned on them, and every reminder channel the
    tenant lists has an instance that sends on it; `actions` (and the channel names in `declared`) are those
    declared, by connector plugin name (instances of a plugin not in it are left alone: their plugin is
    reported missing)."""
    declared = declared or {}
    problems = []
    for where, key, needed, purpose in _named_instances(tenant):
        plugin = tenant.connectors[key].plugin if key in tenant.connectors else None
        if plugin is None or plugin not in actions:
            continue
        missing = [kind for kind in needed if kind not in actions[plugin]]
        if missing:
            problems.append(f"{label}: tenants.{name}.policy.{where}: instance {key!r} ({plugin}) cannot "
                            f"{', '.join(missing)}, which {purpose} need")
    policy = tenant.policy
    enabled = [inst.plugin for inst in tenant.connectors.values() if inst.enabled]
    if "reminder_channels" in policy.model_fields_set and all(plugin in actions for plugin in enabled):
        for channel in policy.reminder_channels:
            kind = send_actions()[channel]
            if channel not in policy.candidate_connectors and not any(
                    kind in actions[p] and (kind != "send_message" or _names_channel(p, declared.get(p, ()), channel))
                    for p in enabled):
                problems.append(f"{label}: tenants.{name}.policy.reminder_channels: no enabled connector instance "
                                f"of tenant {name} can {kind} for {channel!r} (instances: {_instance_list(tenant)})")
    return problems


def _problems(label: str, exc: ValidationError, prefix: str = "") -> list[str]:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        key = ".".join(p for p in (prefix, loc) if p) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{label}: {key}: {msg[:1].lower()}{msg[1:]}")
    return lines


def _toml_position(exc: tomllib.TOMLDecodeError) -> str:
    """`line L, column C: problem` from tomllib's "problem (at line L, column C)"."""
    found = re.match(r"(?s)(.*) \(at line (\d+), column (\d+)\)$", str(exc))
    return f"line {found[2]}, column {found[3]}: {found[1]}" if found else str(exc)
