"""Dispatch: claim due outbox rows, have their connector perform them, record what happened.

`perform` gets the row's idempotency key; connectors hand it to vendors that take one and look
the object up before creating it again where they do not (`Action.maybe_sent`: an earlier worker
handed the row to the vendor). The worker hands each row over just before the vendor call and
renews its lease while the call is in flight (see core.outbox.queue), so two live workers never
perform the same row, and whatever stops a worker between the vendor call and the store update (a
crash, a kill, a lost response) ends, at the next claim of the row, in the same vendor object,
never a second one. Failures that may pass are retried with exponential backoff; the others, and
rows out of attempts, are parked as dead with the error and a health record.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from lifeline_hub.core.config import Config, PolicySettings
from lifeline_hub.core.connections import ConnectionNotFound
from lifeline_hub.core.connector import Connector, describe_error
from lifeline_hub.core.http import VendorError, redact
from lifeline_hub.core.models import Action, utcnow
from lifeline_hub.core.outbox import queue, results
from lifeline_hub.core.store import Store
from lifeline_hub.core.sync import build_connector

log = logging.getLogger("lifeline.outbox")

Probe = Callable[[str, Action], None]
"""Called at `claimed`, `performed` (vendor call returned, nothing recorded yet) and `recorded`."""


class Permanent(Exception):
    """A failure that repeating the same call cannot fix (configuration, a rejected request)."""


@dataclass
class DispatchSummary:
    tenant: str
    claimed: int = 0
    done: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0
    """Claimed rows another worker took over before this one got to them."""
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.tenant}: {self.claimed} claimed, {self.done} done, {self.retried} to retry, "
                f"{self.dead} dead" + (f", {self.lost} taken over" if self.lost else ""))


def default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff(policy: PolicySettings, attempts: int, error: Exception) -> timedelta:
    """Delay before the next try: doubling from the tenant's base up to its maximum, at least the vendor's
    Retry-After."""
    delay = timedelta(seconds=policy.dispatch_backoff_seconds * 2 ** max(attempts - 1, 0))
    retry_after = error.retry_after if isinstance(error, VendorError) else None
    if retry_after:
        delay = max(delay, timedelta(seconds=retry_after))
    return min(delay, timedelta(seconds=policy.dispatch_max_backoff_seconds))


def classify(error: Exception) -> bool:
    """True when the failure may pass on a later try."""
    if isinstance(error, VendorError):
        return error.retryable
    return not isinstance(error, Permanent | ConnectionNotFound | NotImplementedError | ValidationError)


def describe(error: Exception) -> str:
    """One line for the row, the health record and the CLI: no input values, nothing secret."""
    if isinstance(error, VendorError):
        return str(error)  # redacted when it was raised
    detail = describe_error(error) if isinstance(error, ValidationError) else str(error)
    return redact(f"{type(error).__name__}: {detail}")


class Sinks:
    """Connectors built on first use, one per instance, for the whole dispatch run (the store is the
    contact book candidate channels resolve addresses in)."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config, self.store = config, store
        self._built: dict[str, Connector] = {}

    def get(self, action: Action) -> Connector:
        setup = self.config.setups.get(action.connector)
        if setup is None or setup.tenant != action.tenant:
            raise Permanent(f"connector instance {action.connector!r} is not configured for {action.tenant}")
        if action.kind not in setup.connector_class.actions:
            raise Permanent(f"{action.connector} ({setup.connector_class.name}) cannot {action.kind}")
        connector = self._built.get(action.connector)
        if connector is None:
            connector = self._built[action.connector] = build_connector(setup, self.store)
        return connector


def dispatch(store: Store, config: Config, tenant: str, *, now: datetime | None = None, worker: str | None = None,
             limit: int = 50, lease: timedelta = queue.LEASE, probe: Probe | None = None,
             sinks: Sinks | None = None, keys: Sequence[str] | None = None) -> DispatchSummary:
    """Perform the tenant's due actions (only those of `keys` when given) until none is left due; `now` fixes
    the clock (tests, drills: no lease renewal then, the clock does not move)."""
    policy = config.tenant(tenant).policy
    worker = worker or default_worker()
    sinks = sinks or Sinks(config, store)
    summary = DispatchSummary(tenant)
    while True:
        at = now or utcnow()
        token, claimed = queue.claim(store, worker, at, tenant=tenant, limit=limit, lease=lease, keys=keys)
        if not claimed:
            return summary
        summary.claimed += len(claimed)
        for action in claimed:
            _one(store, sinks, policy, action, token, now, lease, probe, summary)


def _one(store: Store, sinks: Sinks, policy: PolicySettings, claimed: Action, token: str, now: datetime | None,
         lease: timedelta, probe: Probe | None, summary: DispatchSummary) -> None:
    if probe:
        probe("claimed", claimed)
    action = queue.hand_over(store, claimed.idempotency_key, token, now or utcnow(), lease)
    if action is None:  # the lease ran out while earlier rows of the batch were performed: another worker has it
        summary.lost += 1
        log.info("%s: taken over by another worker before its turn; skipped", claimed.idempotency_key)
        return
    try:
        if action.attempts > policy.dispatch_max_attempts:
            raise Permanent(f"gave up after {action.attempts - 1} tries; last error: {action.last_error}")
        sink = sinks.get(action)
        with Renewal(store, action.idempotency_key, token, lease, enabled=now is None):
            result = sink.perform(action)
    except Exception as exc:  # every failure is recorded on the row; none stops the run
        at = now or utcnow()
        error = describe(exc)
        if classify(exc) and action.attempts < policy.dispatch_max_attempts:
            if queue.retry(store, action.idempotency_key, token, error, at + backoff(policy, action.attempts, exc),
                           at):
                summary.retried += 1
                log.info("%s %s on %s: retry later: %s", action.idempotency_key, action.kind, action.connector,
                         error)
        elif queue.bury(store, action, token, error, at):
            summary.dead += 1
            summary.problems.append(f"{action.idempotency_key} {action.kind} on {action.connector}: {error}")
            log.warning("%s %s on %s is dead: %s", action.idempotency_key, action.kind, action.connector, error)
        return
    if probe:
        probe("performed", action)
    with store.begin() as conn:
        settled = queue.complete(conn, action.idempotency_key, token, result.remote_id, now or utcnow())
        if settled is not queue.Settled.settled:
            results.keep(store, conn, action, result)
    if settled is queue.Settled.settled:
        log.warning("%s %s on %s: performed after another worker settled it (lease lost mid-call)",
                    action.idempotency_key, action.kind, action.connector)
    elif settled is queue.Settled.late:
        log.warning("%s %s on %s: done, recorded after the lease was lost", action.idempotency_key, action.kind,
                    action.connector)
    summary.done += 1
    if probe:
        probe("recorded", action)


class Renewal:
    """Renews a row's lease on a background thread while its vendor call is in flight.

    Every third of the lease, the lease is extended to a full lease from now, under the claim's token;
    a worker that dies stops renewing, so its rows come free one lease after its last sign of life.
    """

    def __init__(self, store: Store, key: str, token: str, lease: timedelta, *, enabled: bool = True) -> None:
        self.store, self.key, self.token, self.lease, self.enabled = store, key, token, lease, enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Renewal:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name=f"lease:{self.key[:32]}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        every = wait = self.lease.total_seconds() / 3
        while not self._stop.wait(wait):
            try:
                held = queue.renew(self.store, self.key, self.token, utcnow() + self.lease)
            except Exception as exc:  # the store is away: try again soon, the lease still runs
                log.warning("%s: lease not renewed: %s", self.key, type(exc).__name__)
                wait = min(every, 1.0)
                continue
            wait = every
            if not held:
                log.warning("%s: lease lost while the vendor call was in flight", self.key)
                return
