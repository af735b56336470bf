"""Rate-limit windows shared by every process and machine of a deployment, kept in PostgreSQL.

A `RateLimiter` keeps its call log in its own process: N Airflow workers calling one vendor app could send N
times its quota. With `share_limits(PostgresLimits(url))` installed (`[lifeline] rate_limiter` in the config),
every limiter of the process keeps its windows in PostgreSQL instead: one row per (api, app), locked for the
decision, a log of call instants read on the database's clock, so all processes agree on the window; a call
that does not fit books the earliest instant it does and waits for it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import sqlalchemy as sa

TRANSIT_MARGIN = 0.2
"""Seconds each shared window is widened by at least: calls booked on the database's clock reach the vendor
from several processes and machines, each woken by its own scheduler, less evenly than one process's
(`make scale-drill` on 2 cores: 50 ms let 1 call in 400 over the quota, 100 ms 2 in 600)."""

Window = tuple[int, float]
"""At most `calls` in any `seconds` (a quota with the limiter's headroom and margin applied)."""


class SharedLimits(Protocol):
    """Where limiters keep their windows when they share them."""

    def reserve(self, api: str, app: str, windows: Sequence[Window]) -> float:
        """Book the earliest instant one more call fits every window; the seconds to wait until then (0: now).

        A booked call counts at once, whether or not it is sent: each call costs one decision, and callers
        waiting for a window to free do not wake up together to race for it.
        """
        ...

    def pause(self, api: str, app: str, seconds: float) -> None:
        """Hold every caller of (api, app), in any process, for `seconds` from now."""
        ...


_SCHEMA = (
    # Unlogged: the windows are worth nothing after a crash, and writes skip the WAL.
    "CREATE UNLOGGED TABLE IF NOT EXISTS lifeline_rate_keys (api text NOT NULL, app text NOT NULL, "
    "horizon double precision NOT NULL DEFAULT 0, paused_until double precision NOT NULL DEFAULT 0, "
    "PRIMARY KEY (api, app))",
    "CREATE UNLOGGED TABLE IF NOT EXISTS lifeline_rate_calls (api text NOT NULL, app text NOT NULL, "
    "at double precision NOT NULL)",
    "CREATE INDEX IF NOT EXISTS lifeline_rate_calls_key_at ON lifeline_rate_calls (api, app, at)",
)
_NOW = sa.text("SELECT extract(epoch FROM clock_timestamp())::double precision")
_LOCK_KEY = sa.text("INSERT INTO lifeline_rate_keys (api, app) VALUES (:api, :app) ON CONFLICT DO NOTHING")
_LOCKED = sa.text("SELECT horizon, paused_until FROM lifeline_rate_keys WHERE api = :api AND app = :app FOR UPDATE")
_NTH_LATEST = sa.text(
    "SELECT at FROM lifeline_rate_calls WHERE api = :api AND app = :app ORDER BY at DESC OFFSET :skip LIMIT 1")
_RECORD = sa.text("INSERT INTO lifeline_rate_calls (api, app, at) VALUES (:api, :app, :at)")
_FORGET = sa.text("DELETE FROM lifeline_rate_calls WHERE api = :api AND app = :app AND at <= :before")
_HORIZON = sa.text("UPDATE lifeline_rate_keys SET horizon = :horizon WHERE api = :api AND app = :app")
_PAUSE = sa.text(
    "UPDATE lifeline_rate_keys SET paused_until = greatest(paused_until, "
    "extract(epoch FROM clock_timestamp()) + :seconds) WHERE api = :api AND app = :app")


class PostgresLimits:
    """`SharedLimits` in a PostgreSQL database (the store's, or any other); creates its two tables itself.

    Each booking locks the (api, app) row (`SELECT ... FOR UPDATE`), then reads the time on the database's
    clock, and logs the call at the earliest instant, not before the latest booking, at which no window of
    its quotas holds its limit: the log stays in order whichever machine booked.
    """

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, pool_pre_ping=True)
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

    def reserve(self, api: str, app: str, windows: Sequence[Window]) -> float:
        self._ensure_schema()
        key = {"api": api, "app": app}
        with self.engine.begin() as conn:
            conn.execute(_LOCK_KEY, key)
            horizon, paused_until = conn.execute(_LOCKED, key).one()
            now = conn.execute(_NOW).scalar_one()  # after the lock: the previous holder's call is older
            # Never before the latest booking (the log stays in order, so counting back from it is exact).
            at = max(now, paused_until, conn.execute(_NTH_LATEST, {**key, "skip": 0}).scalar() or now)
            for calls, seconds in windows:
                nth = conn.execute(_NTH_LATEST, {**key, "skip": calls - 1}).scalar()
                if nth is not None:
                    at = max(at, nth + seconds)
            conn.execute(_RECORD, {**key, "at": at})
            widest = max([horizon, *(seconds for _, seconds in windows)])
            if widest > horizon:
                conn.execute(_HORIZON, {**key, "horizon": widest})
            conn.execute(_FORGET, {**key, "before": now - widest})
        return float(at - now)

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
