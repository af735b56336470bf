"""A small world for reconcile tests: fake connectors, a plugins.toml, and evidence written through the store.

Connector instances of tenant `acme`: `acme.ats` (interviews), `acme.meet` (attendance), `acme.msg`
(notifications, receipts). Link events and confirmations come from Lifeline's own services
(`acme.links`, `acme.pages`): pushed, never gating. Also a pluggy plugin module: the CLI tests put
it on PYTHONPATH with an entry point, so the subprocess loads these connectors for real.
"""

from __future__ import annotations

import itertools
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lifeline_hub.core import Checkpoint, Connector, StreamInfo, hookimpl
from lifeline_hub.core.config import Config, load
from lifeline_hub.core.models import (
    AppointmentThread,
    Attendance,
    AttendanceReport,
    AttendanceVerdict,
    Candidate,
    Channel,
    Confirmation,
    ConfirmationAction,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Interview,
    InterviewKind,
    InterviewStatus,
    LinkEvent,
    LinkEventType,
    Notification,
    NotificationPurpose,
    RequestStatus,
    RescheduleRequest,
    Role,
)
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.reconcile import ReconcileSummary, reconcile
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import outcomes

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
"""10:00 in Shanghai: the default interview starts here and lasts an hour."""
MIN = timedelta(minutes=1)
TENANT = "acme"


class FakeAts(Connector):
    name = "fake_ats"
    streams = (StreamInfo("interviews", (Interview, Candidate)),)


class FakeMeet(Connector):
    name = "fake_meet"
    streams = (StreamInfo("attendance", (Attendance,)),)


class FakeMsg(Connector):
    name = "fake_msg"
    streams = (StreamInfo("notifications", (Notification,)), StreamInfo("receipts", (DeliveryEvent,)))


@hookimpl
def lifeline_register_connectors(register: Any) -> None:
    for cls in (FakeAts, FakeMeet, FakeMsg):
        register(cls)


STREAMS = {"acme.ats": ["interviews"], "acme.meet": ["attendance"], "acme.msg": ["notifications", "receipts"]}


def host() -> PluginHost:
    h = PluginHost()
    h.register(types.SimpleNamespace(lifeline_register_connectors=lifeline_register_connectors), "reconcile_fakes")
    return h


def config_text(timezone: str = "Asia/Shanghai", policy: str = "", meet: bool = True,
                store_url: str = "sqlite:///var/unused.db") -> str:
    lines = [f'[lifeline]\nstore = "{store_url}"\n', f'[tenants.{TENANT}]\ntimezone = "{timezone}"']
    if policy:
        lines.append(f"policy = {{ {policy} }}")
    lines.append('\n[tenants.acme.connectors.ats]\nplugin = "fake_ats"')
    if meet:
        lines.append('\n[tenants.acme.connectors.meet]\nplugin = "fake_meet"')
    lines.append('\n[tenants.acme.connectors.msg]\nplugin = "fake_msg"\n')
    return "\n".join(lines)


def config(tmp_path: Path, **kw: Any) -> Config:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "plugins.toml"
    path.write_text(config_text(**kw), encoding="utf-8")
    return load(path, host())


class World:
    """Writes interviews and evidence for tenant `acme` and runs reconcile on them."""

    def __init__(self, store: Store, cfg: Config, plugins: PluginHost | None = None) -> None:
        self.store, self.cfg = store, cfg
        self.host = plugins or host()
        self._ids = itertools.count(1)

    # schedule ---------------------------------------------------------------------------------

    def interview(self, name: str, start: datetime = T0, minutes: int = 60, kind: InterviewKind = InterviewKind.video,
                  status: InterviewStatus = InterviewStatus.scheduled, sequence: int = 0, thread: str | None = None,
                  updated: datetime | None = None, interviewers: tuple[str, ...] = ()) -> str:
        iv = Interview(source="acme.ats", remote_id=name, kind=kind, start_at=start,
                       end_at=start + timedelta(minutes=minutes), status=status,
                       thread=AppointmentThread(thread_id=thread or name, ical_uid=f"{thread or name}@ats",
                                                sequence=sequence),
                       timezone="Asia/Shanghai", platform="fake_meet", source_updated_at=updated,
                       interviewer_ids=interviewers)
        self.store.write(TENANT, [iv])
        return iv.id

    # evidence ---------------------------------------------------------------------------------

    def _rid(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def notify(self, iv: str, at: datetime, channel: Channel = Channel.sms,
               purpose: NotificationPurpose = NotificationPurpose.invite,
               status: DeliveryStatus = DeliveryStatus.sent, sequence: int | None = None) -> str:
        n = Notification(source="acme.msg", remote_id=self._rid("n"), interview_id=iv, occurred_at=at,
                         purpose=purpose, channel=channel, recipient="138****1234", status=status, sequence=sequence)
        self.store.write(TENANT, [n])
        return n.id

    def receipt(self, notification: str, at: datetime, kind: DeliveryType, channel: Channel = Channel.sms,
                iv: str | None = None, code: str | None = None) -> None:
        self.store.write(TENANT, [DeliveryEvent(
            source="acme.msg", remote_id=self._rid("d"), interview_id=iv, occurred_at=at,
            notification_id=notification, type=kind, channel=channel, code=code)])

    def link(self, iv: str, at: datetime, kind: LinkEventType = LinkEventType.open, machine: bool = False,
             code: str | None = None) -> None:
        self.store.write(TENANT, [LinkEvent(
            source="acme.links", remote_id=self._rid("l"), interview_id=iv, occurred_at=at, type=kind,
            machine_made=machine, machine_reason="scanner_burst" if machine else None, code=code)])

    def join(self, iv: str, at: datetime, left: datetime | None, role: Role = Role.candidate,
             completed: bool = False, remote_id: str | None = None) -> Attendance:
        a = Attendance(source="acme.meet", remote_id=remote_id or self._rid("a"), interview_id=iv, occurred_at=at,
                       left_at=left, role=role, completed=completed)
        self.store.write(TENANT, [a])
        return a

    def answer(self, iv: str, at: datetime, action: ConfirmationAction, sequence: int | None = None) -> None:
        self.store.write(TENANT, [Confirmation(source="acme.pages", remote_id=self._rid("c"), interview_id=iv,
                                               occurred_at=at, action=action, channel=Channel.sms,
                                               sequence_seen=sequence)])

    def reported(self, iv: str, at: datetime, by: str, verdict: AttendanceVerdict, role: Role = Role.interviewer,
                 sequence: int | None = None) -> None:
        """Staff member `by` answers "Did the candidate attend?" (one answer per person and version)."""
        self.store.write(TENANT, [AttendanceReport(
            source="acme.asked", remote_id=f"{iv}:{sequence}:{by}", interview_id=iv, occurred_at=at, reported_by=role,
            reporter_id=by, verdict=verdict, sequence_seen=sequence)])

    def request(self, iv: str, at: datetime, status: RequestStatus = RequestStatus.submitted,
                by: Role = Role.candidate) -> None:
        self.store.write(TENANT, [RescheduleRequest(source="acme.pages", remote_id=self._rid("r"), interview_id=iv,
                                                    occurred_at=at, status=status, requested_by=by)])

    def watermark(self, at: datetime, only: str | None = None) -> None:
        """Every configured stream (or only `source:stream`) is complete up to `at`."""
        for source, streams in STREAMS.items():
            for stream in streams:
                if only in (None, f"{source}:{stream}"):
                    self.store.commit_batch(TENANT, source, stream, [], [], Checkpoint({}, at))

    # running ----------------------------------------------------------------------------------

    def run(self, now: datetime, **kw: Any) -> ReconcileSummary:
        return reconcile(self.store, TENANT, now, self.cfg, self.host, **kw)

    def current(self) -> dict[str, tuple[str, str | None, str]]:
        """Current outcome per interview remote id: (class, sub-reason, confidence)."""
        o = outcomes
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(o.c.interview_id, o.c.outcome, o.c.sub_reason, o.c.confidence)
                                .where(o.c.superseded_at.is_(None)))
            return {iv.split("/", 1)[1]: (oc, sub, conf) for iv, oc, sub, conf in rows}

    def history(self, iv: str) -> list[tuple[int, str, bool]]:
        """(version, class, superseded) of every outcome of one interview."""
        o = outcomes
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(o.c.version, o.c.outcome, o.c.superseded_at)
                                .where(o.c.interview_id == iv).order_by(o.c.version))
            return [(v, oc, sup is not None) for v, oc, sup in rows]
