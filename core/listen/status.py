"""A listener's connection state, kept in the store so `/healthz`, `lifeline health` and the completeness
gate of any process see it: the `sync_state` row (instance, `events`).

    status = ListenerStatus(store, tenant, instance)
    status.connected(now); status.heartbeat(now); status.event(now); status.disconnected(now, "why")

`cursor` holds `state` (connected, disconnected, stopped), `since`, `last_event_at` and `reason`; the
watermark (events complete up to) moves to now on every heartbeat while connected and stands still
while disconnected, so the gate (`core.reconcile.needs` lists the row for `events = "stream"`
instances) waits instead of deciding on events that have not arrived. A connected row whose heartbeat
is older than `LOST_AFTER` belongs to a listener that died without saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import sync_state

EVENTS_STREAM = "events"
"""The `sync_state` stream name of an instance's event connection."""
HEARTBEAT = timedelta(seconds=30)
"""How often a connected listener moves its watermark on."""
LOST_AFTER = 3 * HEARTBEAT


class ListenerStatus:
    """Writes one instance's listener state (each call its own short transaction)."""

    def __init__(self, store: Store, tenant: str, source: str) -> None:
        self.store, self.tenant, self.source = store, tenant, source

    def connected(self, at: datetime) -> None:
        self._write(at, {"state": "connected", "since": at.isoformat(), "reason": None}, advance=True)

    def heartbeat(self, at: datetime) -> None:
        self._write(at, {}, advance=True)

    def event(self, at: datetime) -> None:
        self._write(at, {"last_event_at": at.isoformat()}, advance=True)

    def disconnected(self, at: datetime, reason: str, state: str = "disconnected") -> None:
        self._write(at, {"state": state, "since": at.isoformat(), "reason": reason[:300]}, advance=False,
                    only_if_changed=state)

    def _write(self, at: datetime, changes: dict[str, Any], advance: bool, only_if_changed: str | None = None) -> None:
        t = sync_state
        where = (t.c.source == self.source, t.c.stream == EVENTS_STREAM)
        with self.store.begin() as conn:
            row = conn.execute(sa.select(t.c.cursor, t.c.watermark).where(*where)).first()
            cursor = dict(row.cursor) if row is not None else {}
            if only_if_changed is not None and cursor.get("state") == only_if_changed:
                changes = {"reason": changes["reason"]}  # still down: keep `since`
            values: dict[str, Any] = {"tenant": self.tenant, "cursor": {**cursor, **changes}, "last_run_at": at}
            if advance:
                mark = at if row is None or row.watermark is None else max(row.watermark, at)
                values.update(watermark=mark, last_success_at=at, last_error=None)
            elif "reason" in changes:
                values["last_error"] = changes["reason"]
            if row is None:
                conn.execute(sa.insert(t).values(source=self.source, stream=EVENTS_STREAM, **values))
            else:
                conn.execute(sa.update(t).where(*where).values(**values))


@dataclass(frozen=True)
class ListenerState:
    source: str
    state: str
    since: str | None
    last_event_at: str | None
    reason: str | None
    heartbeat: datetime | None

    def problem(self, now: datetime) -> str | None:
        """Why events may be missing now (None: connected and alive)."""
        last = f"; last event {self.last_event_at}" if self.last_event_at else "; no event yet"
        if self.state != "connected":
            why = f" ({self.reason})" if self.reason else ""
            return f"{self.source}: events {self.state} since {self.since}{why}{last}"
        if self.heartbeat is None or now - self.heartbeat > LOST_AFTER:
            seen = self.heartbeat.isoformat() if self.heartbeat else "never"
            return f"{self.source}: events listener silent since {seen} (not running?){last}"
        return None

    def public(self, now: datetime) -> dict[str, Any]:
        problem = self.problem(now)
        return {"state": self.state if problem is None or self.state != "connected" else "lost",
                "since": self.since, "last_event_at": self.last_event_at,
                "heartbeat_at": self.heartbeat.isoformat() if self.heartbeat else None}


def listener_states(store: Store, tenant: str | None = None) -> list[ListenerState]:
    t = sync_state
    query = sa.select(t.c.source, t.c.cursor, t.c.last_success_at).where(t.c.stream == EVENTS_STREAM)
    if tenant is not None:
        query = query.where(t.c.tenant == tenant)
    with store.engine.connect() as conn:
        rows = conn.execute(query.order_by(t.c.source)).all()
    return [ListenerState(r.source, str(r.cursor.get("state", "disconnected")), r.cursor.get("since"),
                          r.cursor.get("last_event_at"), r.cursor.get("reason"), r.last_success_at) for r in rows]
