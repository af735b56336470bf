"""`lifeline demo`: the real pipeline over simulated days, against the vendor emulators, with known ground truth.

The vendors are emulated on loopback (the ports `plugins.toml` names, or free ones: `on_free_ports`)
and Lifeline's receiver (join links, confirm and reschedule pages, HR's next steps) is served on
loopback too; everything else is real: the connectors talk HTTP, the store is a SQLite file, and
sync, reminders, reconcile, remediation and dispatch are the functions Airflow and the CLI run. The
sandbox (core.sandbox) books interviews and plays the candidates, interviewers and HR while a
virtual clock moves the whole world - this process and every emulator - through the days in `TICK`
steps; after each step the pipeline runs like the scheduler would. At the end Lifeline's decisions
are compared with what really happened, and every message to a person is checked for duplicates.

A run is a function of its seed, start, size and fault rate: the clocks are frozen at the start and
only the sandbox moves them, and the pipeline calls the vendors one request at a time (an emulator
draws its faults and ids in the order requests arrive), so the same values give the same report.
Waiting is simulated too (`Sandbox.simulated_waits`): a vendor's stall, a retry's back-off, a rate
limit's pause move the simulated clocks by their length at once, so the run takes the time its
requests and its own work take, not the time its faults would cost.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import socket
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lifeline_hub.core.airflow.standalone import serve_emulators
from lifeline_hub.core.config import Config, ConfigError, ConnectorSetup
from lifeline_hub.core.emulator import Faults, LoopbackServer, free_port
from lifeline_hub.core.links import PUBLIC_URL_ENV
from lifeline_hub.core.models import channel_info, zone_info
from lifeline_hub.core.models.time import freeze_clock, reset_clock
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.sandbox import PUBLIC_URL, Booking, Role, Sandbox, Tally, actor_class, worlds_of
from lifeline_hub.core.store import Store, schema
from lifeline_hub.core.sync import build_connector, sync_stream

if TYPE_CHECKING:
    from lifeline_hub.core.sandbox.listening import Listening

TICK = timedelta(minutes=30)
"""How often the pipeline runs in simulated time (the reminders DAG runs every 10 minutes, syncs more often)."""
SETTLE = timedelta(hours=2)
"""How long the run goes on after the last interview's window has closed and its grace has passed."""
SECRET = re.compile(r"(/(?:[jcr]|hr)/)[A-Za-z0-9_\-.~]{8,}")
"""A link's token: join, confirm and reschedule links (`secrets.token_urlsafe`) and HR's signed next steps."""
ORDER = ("attended", "attended_late", "attended_partial", "missed_technical", "missed_declined",
         "missed_read_no_show", "missed_not_reached", "rescheduled", "cancelled")


class PortInUse(Exception):
    """A loopback port the config names for an emulator is taken (by `make airflow`, another demo...)."""


@dataclass
class DemoReport:
    tenant: str = ""
    start: str = ""
    """The simulated start (ISO 8601, UTC): with the seed, size and fault rate, it decides the whole run."""
    seed: int = 0
    faults: float = 0.0
    interviews: int = 0
    days: int = 0
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    false_missed: int = 0
    duplicates: int = 0
    quota_breaches: int = 0
    api_calls: int = 0
    hr_tasks: int = 0
    approvals: int = 0
    candidate_messages: dict[str, int] = field(default_factory=dict)
    staff_messages: int = 0
    quarantined: int = 0
    detection_latency_p95_minutes: float = 0.0
    second_chances: int = 0
    people: dict[str, int] = field(default_factory=dict)
    faults_injected: dict[str, int] = field(default_factory=dict)
    hr_platform: str = ""
    """Where HR gets its tasks (the tenant's `hr_connector`), e.g. DingTalk, WeCom."""
    staff_platforms: list[str] = field(default_factory=list)
    """Where staff got Lifeline's messages (the plugins playing staff), e.g. DingTalk, Feishu."""
    samples: list[dict[str, str]] = field(default_factory=list)
    """A few HR tasks as HR sees them (subject and description)."""
    sms_samples: list[str] = field(default_factory=list)
    """A reminder and a reschedule offer as the candidate's phone shows them."""
    mistakes: list[dict[str, str]] = field(default_factory=list)
    """Every interview decided otherwise than it happened: its id, kind, truth, decision and sub-reason."""


def run(config: Config, host: PluginHost, store_path: Path, n: int, days: int, seed: int, faults: float,
        start: datetime, console: Console, tenant: str | None = None, events: str | None = None) -> DemoReport:
    """`n` interviews over `days` simulated days from `start` (an aware instant), vendor faults at rate `faults`,
    in sandbox `tenant` (default: the config's first tenant); only its instances' emulators are served. `events`
    ("http", "stream") overrides how the instances that can stream their events in the sandbox receive them."""
    from lifeline_hub.core.listen.listener import stream_instances
    from lifeline_hub.core.sandbox.listening import Listening

    tenant = tenant or next(iter(config.data.tenants))
    config = with_events(sandbox_tenant(config, tenant), events)
    _check_ports(config)
    config = _one_request_at_a_time(config)
    store_path.unlink(missing_ok=True)
    store = Store(f"sqlite:///{store_path.resolve()}")
    store.upgrade()
    with contextlib.ExitStack() as later:
        later.callback(store.engine.dispose)
        start = freeze_clock(start)  # no wall-clock time leaks into the run
        later.callback(reset_clock)
        emulators = serve_emulators(config)
        later.callback(emulators.stop)
        later.callback(_restore, {k: os.environ.get(k) for k in [*emulators.env, PUBLIC_URL_ENV]})
        served = list({id(w): w for w in emulators.worlds.values()}.values())
        for world in served:
            world.clock.freeze(start.timestamp())
        os.environ.update(emulators.env)  # before the receiver: its callback routes resolve the connections
        from lifeline_hub.core.receiver.app import create_app

        receiver = LoopbackServer(create_app(config, store, host)).start()
        later.callback(receiver.stop)
        os.environ[PUBLIC_URL_ENV] = PUBLIC_URL  # links name the tenant's address, not this run's loopback port
        worlds = worlds_of(config, tenant, emulators.worlds)
        sandbox = Sandbox.populate(config, tenant, worlds, receiver.url, n, days, seed, start)
        bookings = sandbox.bookings
        sandbox.setup()
        for setup in stream_instances(config):  # their events go out over the event stream, `listening` takes them
            emulators.worlds[setup.instance.name].settings.events = "stream"
        listening = later.enter_context(Listening(config, store))
        for world in worlds.values():  # faults once the world is set up; every emulator takes the same knobs
            world.configure_faults(Faults.uniform(faults, seed))
        with sandbox.simulated_waits(served):  # a vendor's stall or a client's back-off costs no real time
            _simulate(config, host, store, tenant, sandbox, start, days, console, listening)
        grace = timedelta(minutes=config.tenant(tenant).policy.grace_minutes)
        report = _report(store, bookings, sandbox, worlds, grace, days)
        report.tenant, report.hr_platform = tenant, _label(config, tenant, config.tenant(tenant).policy.hr_connector)
        report.start, report.seed, report.faults = start.isoformat().replace("+00:00", "Z"), seed, faults
        return report


def _restore(saved: dict[str, str | None]) -> None:
    """The environment variables as `saved` (None: unset)."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def sandbox_tenant(config: Config, tenant: str) -> Config:
    """`config` with only `tenant`'s instances; `ConfigError` when it is not a tenant or not a sandbox one (the demo
    plays made-up people on the vendor emulators its instances point at)."""
    if not config.tenant(tenant).sandbox:
        raise ConfigError([f"{config.path.name}: tenant {tenant!r} is not a sandbox tenant (`sandbox = true`): "
                           "`lifeline demo` plays made-up people on the emulators a sandbox tenant points at"])
    return dataclasses.replace(config, setups={name: setup for name, setup in config.setups.items()
                                               if setup.tenant == tenant})


def on_free_ports(config: Config) -> Config:
    """`config` with each loopback port its instances' base URLs name moved to a free one (instances that share
    a port still share one): the demo then runs beside `make airflow`, another demo or a test."""
    ports: dict[int, int] = {}

    def moved(url: str) -> str:
        parts = urlsplit(url)
        if parts.hostname != "127.0.0.1" or not parts.port:
            return url
        if parts.port not in ports:
            ports[parts.port] = next(p for p in iter(free_port, 0) if p not in ports.values())
        return urlunsplit(parts._replace(netloc=f"127.0.0.1:{ports[parts.port]}"))

    setups = {name: dataclasses.replace(setup, instance=dataclasses.replace(
        setup.instance, base_urls={key: moved(url) for key, url in setup.instance.base_urls.items()}))
        for name, setup in config.setups.items()}
    return dataclasses.replace(config, setups=setups)


def with_events(config: Config, events: str | None) -> Config:
    """`config` with `events` (None: as configured) on each instance whose sandbox actor delivers its vendor's events
    (`SandboxActor.delivers_events`); `ConfigError` for an `events = "stream"` instance whose actor does not (its
    events would arrive at no fixed point of the run: the run would not be repeatable)."""
    def streams(setup: ConnectorSetup) -> bool:
        actor = actor_class(setup.connector_class)
        return bool(setup.connector_class.event_stream) and actor is not None and actor.delivers_events

    setups = {name: dataclasses.replace(setup, config=setup.config.model_copy(update={"events": events}))
              if events is not None and streams(setup) else setup for name, setup in config.setups.items()}
    fixed = [name for name, setup in setups.items() if setup.config.events == "stream" and not streams(setup)]
    if fixed:
        raise ConfigError([f"{config.path.name}: {name}: `lifeline demo` streams only the events its sandbox "
                           'delivers (Feishu\'s): set events = "http" here for the demo' for name in fixed])
    return dataclasses.replace(config, setups=setups)


def _one_request_at_a_time(config: Config) -> Config:
    """`config` with each sandbox actor's `repeatable_settings` on its connector's instances (see the module doc)."""
    setups = {name: dataclasses.replace(setup, settings=setup.settings.model_copy(update=_repeatable(setup)))
              for name, setup in config.setups.items()}
    return dataclasses.replace(config, setups=setups)


def _repeatable(setup: ConnectorSetup) -> dict[str, Any]:
    actor = actor_class(setup.connector_class)
    return dict(actor.repeatable_settings) if actor is not None else {}


def _check_ports(config: Config) -> None:
    """Raise `PortInUse` when a loopback port an emulator is to serve on is taken."""
    for setup in config.setups.values():
        for url in setup.instance.base_urls.values():
            parts = urlsplit(url)
            if parts.hostname != "127.0.0.1" or not parts.port:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", parts.port))
                except OSError:
                    raise PortInUse(f"port {parts.port} ({setup.instance.name}) is in use: is `make airflow` or "
                                    "another demo running? `lifeline demo --free-ports` serves the emulators on "
                                    "free ports") from None


def _simulate(config: Config, host: PluginHost, store: Store, tenant: str, sandbox: Sandbox, start: datetime,
              days: int, console: Console, listening: Listening) -> None:
    from lifeline_hub.core.outbox import dispatch
    from lifeline_hub.core.reconcile import reconcile
    from lifeline_hub.core.remediation.run import remediate
    from lifeline_hub.core.reminders import plan_reminders

    grace = timedelta(minutes=config.tenant(tenant).policy.grace_minutes)
    last = max((b.end for b in sandbox.bookings), default=start) + grace + SETTLE
    steps = int((max(start + timedelta(days=days), last) - start) / TICK) + 1
    zone = zone_info(config.tenant(tenant).timezone)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("simulated days", total=steps, status="")
        for step in range(1, steps + 1):
            now = start + step * TICK
            sandbox.observe()
            sandbox.advance_to(now)
            sandbox.settle(now)
            for setup in config.instances(tenant):  # one at a time, in the config's order (see the module doc)
                _sync(store, console, setup)
            listening.heartbeat(now)
            plan_reminders(store, tenant, now, config)
            reconcile(store, tenant, now, config, host)
            remediate(store, tenant, now, config, host)
            dispatch(store, config, tenant, now=now)
            decided = sum(1 for b in sandbox.bookings if b.truth)
            local = now.astimezone(zone)
            progress.update(task, advance=1, description=f"day {(now - start).days + 1} {local:%a %H:%M}",
                            status=f"{decided}/{len(sandbox.bookings)} over · HR tasks {sandbox.did['hr_todos']}")


def _sync(store: Store, console: Console, setup: ConnectorSetup) -> None:
    """One instance's streams, in order; a fault the retries could not absorb waits for the next run."""
    connector = build_connector(setup, store)
    for stream in setup.streams:
        try:
            sync_stream(store, setup, stream, connector)
        except Exception as exc:
            console.log(f"{setup.instance.name}:{stream}: {type(exc).__name__}; resumed next run")


@dataclass(frozen=True)
class Decision:
    """One of Lifeline's decisions about an interview (any version), as the store holds it."""

    outcome: str
    sub_reason: str
    end_at: datetime
    """The interview's window end as the store has it now."""
    decided_at: datetime


def _decisions(store: Store) -> tuple[dict[str, list[Decision]], set[str], int]:
    """Per interview remote id, its decisions (not `pending`) in the order they were made."""
    o, i = schema.outcomes, schema.interviews
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(i.c.remote_id, i.c.end_at, o.c.outcome, o.c.sub_reason, o.c.decided_at)
                            .join(o, o.c.interview_id == i.c.id).where(o.c.outcome != "pending")
                            .order_by(o.c.decided_at, o.c.version)).all()
        stored = set(conn.execute(sa.select(i.c.remote_id)).scalars())
        quarantined = conn.execute(sa.select(sa.func.count()).select_from(schema.quarantine)).scalar_one()
    found: dict[str, list[Decision]] = {}
    for r in rows:
        found.setdefault(r.remote_id, []).append(Decision(r.outcome, r.sub_reason or "", r.end_at, r.decided_at))
    return found, stored, int(quarantined)


def _judged(b: Booking, decisions: list[Decision]) -> Decision:
    """The decision compared with `b`'s truth: the last one Lifeline made before the candidate took a second chance
    after a miss (a re-decision on an interviewer's late answer counts, one about the second chance does not; a
    decision about a version Lifeline moved away from was superseded)."""
    second_chance = b.facts.get("joined_second_chance")
    before = [d for d in decisions if second_chance is None or d.decided_at < second_chance]
    return (before or decisions)[-1]


def _report(store: Store, bookings: list[Booking], sandbox: Sandbox, worlds: dict[str, Any], grace: timedelta,
            days: int) -> DemoReport:
    decided, stored, quarantined = _decisions(store)
    report = DemoReport(interviews=len(bookings), days=days, quarantined=quarantined, people=dict(sandbox.did))
    latencies = []
    for b in bookings:
        real = b.truth or "not over"
        if b.remote_id in decided:
            judged = _judged(b, decided[b.remote_id])
            got = judged.outcome
            latencies.append(max((judged.decided_at - (judged.end_at + grace)).total_seconds() / 60, 0.0))
            if got != real and real != "not over":
                report.mistakes.append({"interview": b.remote_id, "kind": b.kind.value, "really": real,
                                        "decided": got, "sub_reason": judged.sub_reason})
        else:
            got = "undecided" if b.remote_id in stored or not quarantined else "quarantined"
        report.confusion.setdefault(real, {}).setdefault(got, 0)
        report.confusion[real][got] += 1
        if real.startswith("attended") and got.startswith("missed"):
            report.false_missed += 1
    if latencies:
        report.detection_latency_p95_minutes = round(
            statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else latencies[0], 1)
    report.second_chances = sandbox.did["second_chances_taken"]
    tally = Tally()
    for actor in sandbox.actors:
        actor.tally(tally)
    report.hr_tasks, report.approvals, report.staff_messages = tally.hr_tasks, tally.approvals, tally.staff_messages
    report.candidate_messages, report.duplicates = tally.candidate_messages, tally.duplicates
    report.staff_platforms = [_plugin_label(a.plugin) for a in sandbox.actors if a.role is Role.staff_channel]
    report.samples = [{key: _elided(text) for key, text in sample.items()} for sample in tally.task_samples][:2]
    report.sms_samples = [_elided(text) for text in tally.message_samples]
    injected: Counter[str] = Counter()
    for world in worlds.values():
        injected.update(world.faults.injected)
        report.api_calls += world.api_calls()
        report.quota_breaches += world.quota_breaches()
    report.faults_injected = dict(injected)
    return report


def _label(config: Config, tenant: str, key: str | None) -> str:
    """The display name of the platform of the tenant's instance `key` (e.g. the `hr_connector`)."""
    setup = config.setups.get(f"{tenant}.{key}") if key else None
    return _plugin_label(setup.connector_class.name) if setup is not None else "none"


def _plugin_label(plugin: str) -> str:
    """A plugin's display name: its channel's label (DingTalk, WeCom), else its name."""
    info = channel_info(plugin)
    return info.label if info is not None else plugin


def _elided(text: Any) -> str:
    """`text` with its links' tokens elided: they open a candidate's or HR's page (and are random)."""
    return SECRET.sub(r"\1…", str(text))


def show(report: DemoReport, console: Console) -> None:
    table = Table(title=f"Lifeline's decisions vs what really happened ({report.interviews} interviews, "
                        f"{report.days} simulated days)")
    decided = sorted({d for row in report.confusion.values() for d in row},
                     key=lambda d: (ORDER.index(d) if d in ORDER else len(ORDER), d))
    table.add_column("really \\ decided")
    for d in decided:
        table.add_column(d.replace("_", " "), justify="right")
    for real in sorted(report.confusion, key=lambda d: (ORDER.index(d) if d in ORDER else len(ORDER), d)):
        row = report.confusion[real]
        table.add_row(real.replace("_", " "),
                      *(f"[bold]{row.get(d, 0)}[/]" if d == real else str(row.get(d, 0) or "·") for d in decided))
    console.print(table)
    if any("unknown" in row for row in report.confusion.values()):
        console.print("unknown: Feishu Hire video interviews nobody could speak for - no machine attendance source "
                      "(the Hire API exposes no meeting), and their interviewers neither answered Lifeline's question "
                      "nor submitted Hire feedback; Lifeline does not guess.")
    summary = Table(title="What Lifeline did")
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    rows = [(f"HR tasks ({report.hr_platform})", report.hr_tasks), ("reschedule approvals", report.approvals),
            *((f"messages to candidates: {k}", v) for k, v in sorted(report.candidate_messages.items())),
            (f"messages to staff ({', '.join(report.staff_platforms)})", report.staff_messages),
            ("second chances taken", report.second_chances), ("duplicates", report.duplicates),
            ("false missed", report.false_missed), ("quarantined records", report.quarantined),
            ("API calls", report.api_calls), ("quota breaches", report.quota_breaches),
            ("detection latency p95 (min)", report.detection_latency_p95_minutes)]
    for name, value in rows:
        summary.add_row(name, str(value))
    summary.add_row("faults injected", ", ".join(f"{k} {v}" for k, v in sorted(report.faults_injected.items())) or "-")
    console.print(summary)
    people = Table(title="What the simulated people did")
    people.add_column("action")
    people.add_column("count", justify="right")
    for name, value in sorted(report.people.items()):
        people.add_row(name.replace("_", " "), str(value))
    console.print(people)
    for text in report.sms_samples:
        console.rule("an SMS on a candidate's phone")
        console.print(text, markup=False, highlight=False)
    for sample in report.samples:
        console.rule(f"an HR task in {report.hr_platform}")
        console.print(f"[bold]{escape(sample['subject'])}[/]\n{escape(sample['description'])}", highlight=False)


def write_json(report: DemoReport, path: Path) -> None:
    path.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False), encoding="utf-8")
