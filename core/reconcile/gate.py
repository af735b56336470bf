"""The completeness gate: per kind, up to which window end interviews may be decided; stale streams.

A stream's watermark is the event time up to which its data is complete. Interviews of a kind are
decidable when their window end + grace is at or before both `now` and every needed watermark, so
the gate is one cutoff per kind: `min(now, watermarks) - grace`, compared with `end_at`. A needed
stream without a watermark closes the gate for its kinds. A stream behind `now` by more than the
tenant's `stale_stream_minutes` (or without a watermark) raises a `stale_stream` health alert,
resolved when it catches up: a silent connector yields `pending`, never a wave of "missed".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from lifeline_hub.core.config import PolicySettings
from lifeline_hub.core.models import InterviewKind
from lifeline_hub.core.reconcile.needs import Needs, StreamKey
from lifeline_hub.core.store.schema import health, sync_state

STALE_KIND = "stale_stream"


@dataclass(frozen=True)
class StaleStream:
    source: str
    stream: str
    watermark: datetime | None

    @property
    def subject(self) -> str:
        return f"{self.source}:{self.stream}"

    def describe(self, now: datetime) -> str:
        if self.watermark is None:
            return f"{self.subject} has no watermark yet: interviews that need it stay pending"
        minutes = int((now - self.watermark).total_seconds() // 60)
        return (f"{self.subject} is complete only up to {self.watermark.isoformat()} ({minutes} min behind): "
                "interviews that need it stay pending")


@dataclass(frozen=True)
class Gate:
    cutoffs: dict[InterviewKind, datetime | None]
    """Interviews of a kind with `end_at <= cutoff` may be decided; None: none may."""
    open_after: datetime
    """Interviews with `end_at > open_after` are still in their window + grace."""
    stale: tuple[StaleStream, ...]


@dataclass(frozen=True)
class Waiting:
    """A needed stream whose watermark has not passed an interview's window end + grace: why it is pending."""

    source: str
    stream: str
    watermark: datetime | None
    """Complete up to here: the stream has been behind since this instant."""
    last_success_at: datetime | None
    needed: datetime
    """The watermark the interview waits for (window end + grace)."""

    def describe(self) -> str:
        synced = self.last_success_at.isoformat() if self.last_success_at else "never"
        if self.watermark is None:
            return f"{self.source}:{self.stream} has no watermark yet (last successful sync: {synced})"
        return (f"{self.source}:{self.stream} is complete only up to {self.watermark.isoformat()}, behind since then "
                f"(needs {self.needed.isoformat()}; last successful sync: {synced})")


def waiting_for(conn: sa.Connection, needs: Needs, policy: PolicySettings, kind: InterviewKind,
                end_at: datetime) -> tuple[Waiting, ...]:
    """The needed streams of `kind` not yet complete up to `end_at` + grace (what keeps it `stream_behind`)."""
    keys = needs.streams.get(kind, ())
    if not keys:
        return ()
    needed = end_at + timedelta(minutes=policy.grace_minutes)
    t = sync_state
    found = {(r.source, r.stream): r for r in conn.execute(
        sa.select(t.c.source, t.c.stream, t.c.watermark, t.c.last_success_at)
        .where(sa.tuple_(t.c.source, t.c.stream).in_(keys)))}
    out = []
    for source, stream in keys:
        row = found.get((source, stream))
        mark, ok = (row.watermark, row.last_success_at) if row is not None else (None, None)
        if mark is None or mark < needed:
            out.append(Waiting(source, stream, mark, ok, needed))
    return tuple(out)


def watermarks(conn: sa.Connection, keys: tuple[StreamKey, ...]) -> dict[StreamKey, datetime | None]:
    found: dict[StreamKey, datetime | None] = dict.fromkeys(keys)
    if keys:
        t = sync_state
        rows = conn.execute(sa.select(t.c.source, t.c.stream, t.c.watermark)
                            .where(sa.tuple_(t.c.source, t.c.stream).in_(keys)))
        for source, stream, mark in rows:
            found[(source, stream)] = mark
    return found


def open_gate(conn: sa.Connection, needs: Needs, policy: PolicySettings, now: datetime) -> Gate:
    grace = timedelta(minutes=policy.grace_minutes)
    marks = watermarks(conn, needs.all_streams)
    cutoffs: dict[InterviewKind, datetime | None] = {}
    for kind in InterviewKind:
        needed = [marks[key] for key in needs.streams.get(kind, ())]
        complete = [m for m in needed if m is not None]
        cutoffs[kind] = None if len(complete) < len(needed) else min([now, *complete]) - grace
    bound = timedelta(minutes=policy.stale_stream_minutes)
    stale = tuple(StaleStream(source, stream, mark) for (source, stream), mark in sorted(marks.items())
                  if mark is None or now - mark > bound)
    return Gate(cutoffs, now - grace, stale)


def record_stale(conn: sa.Connection, tenant: str, stale: tuple[StaleStream, ...], now: datetime) -> None:
    """Raise one open alert per stale stream (kept up to date) and resolve those that caught up."""
    h = health
    mine = sa.and_(h.c.tenant == tenant, h.c.kind == STALE_KIND, h.c.resolved_at.is_(None))
    open_subjects = set(conn.execute(sa.select(h.c.subject).where(mine)).scalars())
    for s in stale:
        message = s.describe(now)
        if s.subject in open_subjects:
            conn.execute(sa.update(h).where(mine, h.c.subject == s.subject).values(message=message))
        else:
            conn.execute(sa.insert(h).values(tenant=tenant, kind=STALE_KIND, subject=s.subject,
                                             message=message, raised_at=now))
    caught_up = open_subjects - {s.subject for s in stale}
    if caught_up:
        conn.execute(sa.update(h).where(mine, h.c.subject.in_(caught_up)).values(resolved_at=now))
