"""What is wrong with a tenant now, from the store: stale streams, dead outbox rows, open breakers, incidents.

The health table holds the alerts Lifeline raises (`kind`, `subject`, `message`, `raised_at`, `resolved_at`):
`stale_stream` (reconcile's gate), `incident` (remediation), `outbox_dead` (dispatch) and `breaker`, the
circuit breaker of a connector instance (`core.http.breaker`), kept here by `StoreBreakers` so every worker
process sees it. `report` reads them, plus the tenant's streams without a recent success, for
`lifeline health` and the ops notifications (`short`), and the event connections of `lifeline listen`
that are down or silent (`core.listen.status`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from lifeline_hub.core.config import Config
from lifeline_hub.core.listen.status import EVENTS_STREAM, listener_states
from lifeline_hub.core.models import ActionStatus
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import actions, health, sync_state

BREAKER_KIND = "breaker"
INCIDENT_KIND = "incident"


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class StoreBreakers:
    """The `BreakerState` of a tenant's connector instances: one open `breaker` health row per open breaker."""

    def __init__(self, store: Store, tenant: str) -> None:
        self.store, self.tenant = store, tenant

    def _open(self, subject: str) -> sa.ColumnElement[bool]:
        return sa.and_(health.c.kind == BREAKER_KIND, health.c.subject == subject, health.c.resolved_at.is_(None))

    def opened_at(self, subject: str) -> float | None:
        with self.store.engine.connect() as conn:
            found = conn.execute(sa.select(sa.func.max(health.c.raised_at)).where(self._open(subject))).scalar()
        return found.timestamp() if found is not None else None

    def open(self, subject: str, message: str, at: float) -> None:
        with self.store.begin() as conn:
            updated = conn.execute(sa.update(health).where(self._open(subject))
                                   .values(raised_at=_at(at), message=message)).rowcount
            if not updated:
                conn.execute(sa.insert(health).values(tenant=self.tenant, kind=BREAKER_KIND, subject=subject,
                                                      message=message, raised_at=_at(at)))

    def claim_probe(self, subject: str, opened_before: float, at: float) -> bool:
        """One UPDATE moving `raised_at` to `at`: a concurrent claimer finds it moved (a millisecond of slack for
        the float <-> microsecond round trip)."""
        latest = _at(opened_before) + timedelta(milliseconds=1)
        with self.store.begin() as conn:
            return bool(conn.execute(sa.update(health).where(
                self._open(subject), health.c.raised_at <= latest).values(raised_at=_at(at))).rowcount)

    def close(self, subject: str, at: float) -> None:
        with self.store.begin() as conn:
            conn.execute(sa.update(health).where(self._open(subject)).values(resolved_at=_at(at)))


@dataclass
class HealthReport:
    tenant: str
    stale: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    breakers: list[str] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)
    listeners: list[str] = field(default_factory=list)
    """Event connections (`lifeline listen`) that are down or silent: events may be missing."""

    @property
    def ok(self) -> bool:
        return not (self.stale or self.dead or self.breakers or self.incidents or self.listeners)

    def lines(self) -> list[str]:
        """One line per problem, grouped, or one `ok` line."""
        if self.ok:
            return [f"{self.tenant}: ok (no stale stream, dead outbox row, open breaker or incident)"]
        groups = (("stale stream", self.stale), ("dead outbox row", self.dead), ("breaker open", self.breakers),
                  ("incident", self.incidents), ("listener", self.listeners))
        return [f"{self.tenant}: {what}: {line}" for what, found in groups for line in found]

    def short(self) -> str:
        """One line for a notification: counts, and the breakers by name."""
        opened = f" ({', '.join(b.split(':', 1)[0] for b in self.breakers)})" if self.breakers else ""
        return (f"health of {self.tenant}: {len(self.stale)} stale streams, {len(self.dead)} dead outbox rows, "
                f"{len(self.breakers)} breakers open{opened}, {len(self.incidents)} incidents"
                + (f", {len(self.listeners)} event connections down" if self.listeners else ""))


def report(store: Store, config: Config, tenant: str, now: datetime) -> HealthReport:
    """The tenant's health now: streams without a success for `policy.stale_stream_minutes`, open alerts."""
    found = HealthReport(tenant)
    bound = now - timedelta(minutes=config.tenant(tenant).policy.stale_stream_minutes)
    with store.engine.connect() as conn:
        streams = conn.execute(sa.select(sync_state).where(sync_state.c.tenant == tenant,
                                                           sync_state.c.stream != EVENTS_STREAM)
                               .order_by(sync_state.c.source, sync_state.c.stream))
        for row in streams:
            if row.last_success_at is None or row.last_success_at < bound:
                when = row.last_success_at.isoformat(timespec="minutes") if row.last_success_at else "never"
                error = f"; last error: {row.last_error[:200]}" if row.last_error else ""
                found.stale.append(f"{row.source}:{row.stream}: last success {when}{error}")
        dead = conn.execute(sa.select(actions.c.idempotency_key, actions.c.kind, actions.c.connector,
                                      actions.c.last_error)
                            .where(actions.c.tenant == tenant, actions.c.status == ActionStatus.dead.value)
                            .order_by(actions.c.updated_at))
        found.dead = [f"{r.idempotency_key} {r.kind} on {r.connector}: {(r.last_error or '')[:200]}" for r in dead]
        alerts = conn.execute(sa.select(health.c.kind, health.c.subject, health.c.message, health.c.raised_at)
                              .where(health.c.tenant == tenant, health.c.resolved_at.is_(None),
                                     health.c.kind.in_((BREAKER_KIND, INCIDENT_KIND)))
                              .order_by(health.c.raised_at))
        for kind, subject, message, raised in alerts:
            line = f"{subject}: since {raised.isoformat(timespec='minutes')}: {message}"
            (found.breakers if kind == BREAKER_KIND else found.incidents).append(line)
    found.listeners = [p for p in (s.problem(now) for s in listener_states(store, tenant)) if p]
    return found


def open_breaker(store: Store, subject: str) -> int | None:
    """The id of the open breaker alert of `subject` (one per opening until it closes), or None."""
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.min(health.c.id)).where(
            health.c.kind == BREAKER_KIND, health.c.subject == subject, health.c.resolved_at.is_(None))).scalar()
