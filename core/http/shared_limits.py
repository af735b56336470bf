"""Rate-limit windows shared by every process and machine of a deployment, kept in PostgreSQL.

A `RateLimiter` keeps its call log in its own process: N Airflow workers calling one vendor app could send N
times its quota. With `share_limits(PostgresLimits(url))` installed (`[lifeline] rate_limiter` in the config),
every limiter of the process keeps its windows in PostgreSQL instead: one row per (api, app), locked for the
decision, and a log of calls on the database's clock, so all processes agree on the window; a call that does
not fit books the earliest instant it does and waits for it.

A vendor counts a call when it arrives, which no client sees: it lies between the instant the call was sent
and the instant its answer came back. So a call whose answer the caller reports (`answered`) counts in the
log from that answer on, and a call may be sent once the answers of enough earlier calls are a whole window
old; while the answer is out, the call counts as arriving at any moment. Then no window the vendor sees ever
holds more than its quota, however unevenly calls from many machines travel, and no margin is needed. A call
whose answer is never reported counts from its booked instant plus `TRANSIT_MARGIN`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa

TRANSIT_MARGIN = 0.2
"""Seconds after its booked instant a call counts from when its answer is not reported: calls booked on the
database's clock reach the vendor from several processes and machines, each woken by its own scheduler,
less evenly than one process's (`make scale-drill` on 2 cores: 50 ms let 1 call in 400 over the quota,
100 ms 2 in 600)."""
ANSWER_LEASE = 120.0
"""Seconds a call whose answer was never reported (its process died) counts as still out."""
IN_FLIGHT_POLL = 0.05
"""Seconds between tries while every place of a window is held by a call whose answer is still out."""

Window = tuple[int, float]
"""At most `calls` in any `seconds` (a quota with the limiter's headroom applied)."""


@dataclass(frozen=True)
class Booking:
    """A call booked in the shared windows: `wait` seconds from now it may be sent; `ticket` for `answered`."""

    wait: float
    ticket: int | None = None


class SharedLimits(Protocol):
    """Where limiters keep their windows when they share them."""

    def reserve(self, api: str, app: str, windows: Sequence[Window], *, answered_later: bool = False) -> Booking:
        """Book the earliest instant one more call fits every window; the seconds to wait until then (0: now).

        A booked call counts at once, whether or not it is sent: each call costs one decision, and callers
        waiting for a window to free do not wake up together to race for it. `answered_later`: the caller
        reports the call's answer (`answered(ticket)`), and the call counts from then instead of from its
        booked instant plus `TRANSIT_MARGIN`.
        """
        ...

    def answered(self, ticket: int) -> None:
        """The booked call's answer came back (or it failed): from now on it counts as having arrived now."""
        ...

    def pause(self, api: str, app: str, seconds: float) -> None:
        """Hold every caller of (api, app), in any process, for `seconds` from now."""
        ...


_SCHEMA = (
    # Unlogged: the windows are worth nothing after a crash, and writes skip the WAL.
    "CREATE UNLOGGED TABLE IF NOT EXISTS lifeline_rate_keys (api text NOT NULL, app text NOT NULL, "
    "horizon double precision NOT NULL DEFAULT 0, paused_until double precision NOT NULL DEFAULT 0, "
    "PRIMARY KEY (api, app))",
    # `at`: the booked instant; `counts`: when the vendor may have seen it at the latest (infinity: still out)
    "CREATE UNLOGGED TABLE IF NOT EXISTS lifeline_rate_calls (api text NOT NULL, app text NOT NULL, "
    "at double precision NOT NULL)",
    # the first version logged `at` alone (its rows count from `at` plus the margin)
    "ALTER TABLE lifeline_rate_calls ADD COLUMN IF NOT EXISTS id bigserial, "
    "ADD COLUMN IF NOT EXISTS counts double precision",
    "CREATE INDEX IF NOT EXISTS lifeline_rate_calls_key_at ON lifeline_rate_calls (api, app, at)",
)
_NOW = sa.text("SELECT extract(epoch FROM clock_timestamp())::double precision")
_LOCK_KEY = sa.text("INSERT INTO lifeline_rate_keys (api, app) VALUES (:api, :app) ON CONFLICT DO NOTHING")
_LOCKED = sa.text("SELECT horizon, paused_until FROM lifeline_rate_keys WHERE api = :api AND app = :app FOR UPDATE")
_LATEST = sa.text("SELECT max(at) FROM lifeline_rate_calls WHERE api = :api AND app = :app")
# When a call counts from: its answer (infinity while out), or its booked instant plus the margin (logged by
# the first version, or never to be answered); a call out for longer than the lease: its process died.
_NTH_COUNTED = sa.text(
    "SELECT CASE WHEN counts IS NULL THEN at + :margin WHEN at + :lease < :now THEN least(counts, at + :lease) "
    "ELSE counts END AS c FROM lifeline_rate_calls WHERE api = :api AND app = :app "
    "ORDER BY c DESC OFFSET :skip LIMIT 1")
_RECORD = sa.text(
    "INSERT INTO lifeline_rate_calls (api, app, at, counts) VALUES (:api, :app, :at, :counts) RETURNING id")
_ANSWERED = sa.text(
    "UPDATE lifeline_rate_calls SET counts = greatest(at, extract(epoch FROM clock_timestamp())) WHERE id = :id")
_FORGET = sa.text(
    "DELETE FROM lifeline_rate_calls WHERE api = :api AND app = :app AND CASE WHEN counts IS NULL THEN at + :margin "
    "WHEN at + :lease < :now THEN least(counts, at + :lease) ELSE counts END <= :before")
_HORIZON = sa.text("UPDATE lifeline_rate_keys SET horizon = :horizon WHERE api = :api AND app = :app")
_PAUSE = sa.text(
    "UPDATE lifeline_rate_keys SET paused_until = greatest(paused_until, "
    "extract(epoch FROM clock_timestamp()) + :seconds) WHERE api = :api AND app = :app")


class PostgresLimits:
    """`SharedLimits` in a PostgreSQL database (the store's, or any other); creates its two tables itself.

    Each booking locks the (api, app) row (`SELECT ... FOR UPDATE`), then reads the time on the database's
    clock, and logs the call at the earliest instant, not before the latest booking, at which no window of
    its quotas holds its limit of calls counted (answered, or booked plus the margin) less than a window
    before; when calls still out fill a window, it tries again `IN_FLIGHT_POLL` later.
    """

    def __init__(self, url: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        self._sleep = sleep
        self._ready = False
        self._setup = threading.Lock()

    def _ensure_schema(self) -> None:
        with self._setup:
            if self._ready:
                return
            with self.engine.begin() as conn:
                # Concurrent CREATE ... IF NOT EXISTS can still collide: one creator at a time.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('lifeline_rate_limits'))"))
                for statement in _SCHEMA:
                    conn.execute(sa.text(statement))
            self._ready = True

    def reserve(self, api: str, app: str, windows: Sequence[Window], *, answered_later: bool = False) -> Booking:
        self._ensure_schema()
        while (booking := self._book(api, app, windows, answered_later)) is None:
            self._sleep(IN_FLIGHT_POLL)
        return booking

    def _book(self, api: str, app: str, windows: Sequence[Window], answered_later: bool) -> Booking | None:
        """One decision under the (api, app) lock; None when calls whose answer is still out fill a window."""
        key = {"api": api, "app": app, "lease": ANSWER_LEASE, "margin": TRANSIT_MARGIN}
        with self.engine.begin() as conn:
            conn.execute(_LOCK_KEY, key)
            horizon, paused_until = conn.execute(_LOCKED, key).one()
            now = conn.execute(_NOW).scalar_one()  # after the lock: the previous holder's call is older
            # Never before the latest booking: calls go out in the order they were booked.
            at = max(now, paused_until, conn.execute(_LATEST, key).scalar() or now)
            for calls, seconds in windows:
                counted = conn.execute(_NTH_COUNTED, {**key, "now": now, "skip": calls - 1}).scalar()
                if counted == float("inf"):
                    return None
                if counted is not None:
                    at = max(at, counted + seconds)
            counts = float("inf") if answered_later else at + TRANSIT_MARGIN
            ticket = conn.execute(_RECORD, {**key, "at": at, "counts": counts}).scalar_one()
            widest = max([horizon, *(seconds for _, seconds in windows)])
            if widest > horizon:
                conn.execute(_HORIZON, {**key, "horizon": widest})
            conn.execute(_FORGET, {**key, "now": now, "before": now - widest})
        return Booking(float(at - now), int(ticket) if answered_later else None)

    def answered(self, ticket: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(_ANSWERED, {"id": ticket})

    def pause(self, api: str, app: str, seconds: float) -> None:
        self._ensure_schema()
        key = {"api": api, "app": app}
        with self.engine.begin() as conn:
            conn.execute(_LOCK_KEY, key)
            conn.execute(_PAUSE, {**key, "seconds": seconds})


_shared: list[SharedLimits | None] = [None]
_by_url: dict[str, PostgresLimits] = {}


def share_limits(limits: SharedLimits | None) -> None:
    """Make every `RateLimiter` of this process keep its windows in `limits` (None: each in its own memory)."""
    _shared[0] = limits


def share_limits_at(url: str | None) -> None:
    """`share_limits` in the PostgreSQL database at `url` (one engine per URL per process); None: in memory."""
    if url is None:
        share_limits(None)
        return
    if url not in _by_url:
        _by_url[url] = PostgresLimits(url)
    share_limits(_by_url[url])


def shared_limits() -> SharedLimits | None:
    """The windows this process's limiters share, if any."""
    return _shared[0]
