"""The outbox table: plan an action once by its key, claim due rows under a lease, settle them.

Every row is `planned -> claimed -> done | dead`, or `planned -> cancelled`. A claim takes due rows
with one UPDATE over a locked pick (`FOR UPDATE SKIP LOCKED` in a materialized CTE on PostgreSQL;
on SQLite the UPDATE itself is the write lock), so concurrent workers never take the same row
while its lease runs, and a claim takes at most its `limit`.

The claim's lease token is the row's **fencing token**: every later write of the worker (hand-over,
lease renewal, retry, bury, completion) names it and changes the row only while it still holds.
Before calling the vendor a worker *hands the row over* (`hand_over`): a fenced write that renews
the lease and counts the hand-over. A row handed over before is performed with `maybe_sent`: the
vendor may already hold the object, so the sink looks it up (by the key it gave the vendor) before
creating it. While the call is in flight the worker renews the lease (`renew`), so a slow vendor
never lets a second worker take the row; only a worker that stopped renewing (killed, hung) loses
it, and its successor finds what it left at the vendor. A worker that finishes after losing its
row still records that the object exists unless the row was settled meanwhile (`complete`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from lifeline_hub.core.models import Action, ActionStatus
from lifeline_hub.core.store import Store, insert_new
from lifeline_hub.core.store.schema import actions, health, outcomes

LEASE = timedelta(minutes=5)
"""How long a claim lasts; longer than any one vendor call with its retries."""
DEAD_HEALTH_KIND = "outbox_dead"
SUPERSEDED = "cancelled: its outcome was superseded"


@dataclass(frozen=True)
class Row:
    """An outbox row as listed for people (CLI, tests)."""

    action: Action
    created_at: datetime
    updated_at: datetime


def _action(row: Any) -> Action:
    return Action(
        idempotency_key=row.idempotency_key, tenant=row.tenant, connector=row.connector, kind=row.kind,
        interview_id=row.interview_id, outcome_version=row.outcome_version, payload=row.payload,
        status=ActionStatus(row.status), attempts=row.attempts, maybe_sent=row.handed_over > 0,
        handed_at=row.handed_at, due_at=row.due_at, remote_id=row.remote_id, last_error=row.last_error,
    )


def enqueue(conn: sa.Connection, planned: Iterable[Action], now: datetime) -> list[str]:
    """Plan each action exactly once; return the keys that are (again) waiting to be dispatched.

    A key already in the outbox keeps its row: a `planned` row takes the new payload, outcome
    version and due time (the same decision, re-stated); a `cancelled` row is planned again (the
    decision stands again); a claimed, done or dead row is left alone. Call it inside the
    transaction that records why the actions were planned.
    """
    wanted = {a.idempotency_key: a for a in planned}
    if not wanted:
        return []
    found = {r.idempotency_key: r.status for r in conn.execute(
        sa.select(actions.c.idempotency_key, actions.c.status).where(actions.c.idempotency_key.in_(wanted))
    )}
    inserted = insert_new(conn, actions, [{
        "idempotency_key": a.idempotency_key, "tenant": a.tenant, "connector": a.connector, "kind": a.kind,
        "interview_id": a.interview_id, "outcome_version": a.outcome_version, "payload": a.payload,
        "status": ActionStatus.planned.value, "attempts": 0, "due_at": a.due_at, "created_at": now,
        "updated_at": now,
    } for key, a in wanted.items() if key not in found], ("idempotency_key",))
    fresh = [key for key in wanted if (key,) in inserted]  # a concurrent planner's row is not ours to report
    again = [key for key, status in found.items() if status in (ActionStatus.planned, ActionStatus.cancelled)]
    for key in again:
        a = wanted[key]
        conn.execute(sa.update(actions).where(
            actions.c.idempotency_key == key,
            actions.c.status.in_([ActionStatus.planned.value, ActionStatus.cancelled.value]),
        ).values(status=ActionStatus.planned.value, payload=a.payload, outcome_version=a.outcome_version,
                 due_at=a.due_at, last_error=None, updated_at=now))
    return fresh + again


def _current_outcome(t: sa.FromClause) -> sa.ColumnElement[bool]:
    """A row planned for an outcome that has since been superseded is not dispatched."""
    superseded = sa.exists().where(
        outcomes.c.interview_id == t.c.interview_id, outcomes.c.version == t.c.outcome_version,
        outcomes.c.superseded_at.is_not(None),
    )
    return sa.or_(t.c.outcome_version.is_(None), ~superseded)


def _claimable(t: sa.FromClause, now: datetime) -> sa.ColumnElement[bool]:
    fresh = sa.and_(t.c.status == ActionStatus.planned.value, t.c.due_at <= now, _current_outcome(t))
    abandoned = sa.and_(t.c.status == ActionStatus.claimed.value, t.c.lease_until <= now)
    return sa.or_(fresh, abandoned)


def claim(store: Store, worker: str, now: datetime, *, tenant: str | None = None, limit: int = 50,
          lease: timedelta = LEASE, keys: Sequence[str] | None = None) -> tuple[str, list[Action]]:
    """Claim up to `limit` due rows (and rows whose lease ran out), only those of `keys` when given; return the
    lease token and them.

    Each claim counts as an attempt, so a row that crashes its worker again and again runs out.
    """
    token = f"{secrets.token_hex(8)}:{worker}"[:64]  # random first: a long worker name never cuts it off
    due = actions.alias("due")
    pick = sa.select(due.c.id).where(_claimable(due, now)).order_by(due.c.due_at, due.c.id).limit(limit)
    if tenant is not None:
        pick = pick.where(due.c.tenant == tenant)
    if keys is not None:
        pick = pick.where(due.c.idempotency_key.in_(keys))
    take = sa.update(actions).values(
        status=ActionStatus.claimed.value, lease_owner=token, lease_until=now + lease,
        attempts=actions.c.attempts + 1, updated_at=now,
    ).returning(*actions.c)
    if store.dialect == "postgresql":
        # Materialized, so the locked pick runs once: as an `IN (subquery)` the planner may re-run it per
        # row and the UPDATE then takes every due row, whatever the limit.
        picked = pick.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        take = take.where(actions.c.id == picked.c.id, _claimable(actions, now))
    else:
        take = take.where(actions.c.id.in_(pick.scalar_subquery()), _claimable(actions, now))
    with store.begin() as conn:
        rows = conn.execute(take).all()
    return token, [_action(r) for r in sorted(rows, key=lambda r: (r.due_at, r.id))]


def hand_over(store: Store, key: str, token: str, now: datetime, lease: timedelta = LEASE) -> Action | None:
    """Just before the vendor call: renew the lease and count the hand-over, while `token` holds the row.

    Returns the row as the sink must perform it (`maybe_sent` when an earlier worker handed it over
    too), or None when the token no longer holds it (another worker took it: do not call the vendor)
    or its outcome was superseded since the claim (a row no vendor saw yet is then cancelled).
    """
    held = (actions.c.idempotency_key == key, actions.c.status == ActionStatus.claimed.value,
            actions.c.lease_owner == token)
    with store.begin() as conn:
        row = conn.execute(sa.update(actions).where(*held, _current_outcome(actions)).values(
            handed_over=actions.c.handed_over + 1, lease_until=now + lease, updated_at=now,
            handed_at=sa.func.coalesce(actions.c.handed_at, sa.literal(now, actions.c.handed_at.type)),
        ).returning(*actions.c)).first()
        if row is None:  # claimed before its outcome was superseded: a row no vendor saw is withdrawn
            conn.execute(sa.update(actions).where(*held, actions.c.handed_over == 0).values(
                status=ActionStatus.cancelled.value, last_error=SUPERSEDED, lease_owner=None, lease_until=None,
                updated_at=now))
    return None if row is None else _action(row).model_copy(update={"maybe_sent": row.handed_over > 1})


def renew(store: Store, key: str, token: str, until: datetime) -> bool:
    """Extend the lease of a row in flight to `until` (only while `token` holds it)."""
    with store.begin() as conn:
        moved = conn.execute(sa.update(actions).where(
            actions.c.idempotency_key == key, actions.c.status == ActionStatus.claimed.value,
            actions.c.lease_owner == token,
        ).values(lease_until=until))
    return moved.rowcount == 1


class Settled(StrEnum):
    """What `complete` made of a sink's result."""

    recorded = "recorded"
    """The worker still held the row: done."""
    late = "late"
    """The worker had lost the row, but it was not settled yet: done all the same (the object exists)."""
    settled = "settled"
    """Another worker had settled the row meanwhile: nothing written."""


def complete(conn: sa.Connection, key: str, token: str, remote_id: str, now: datetime) -> Settled:
    """Record the sink's result for the worker holding `token` (the fencing token).

    A worker whose lease ran out may finish after another worker took the row over: the object
    exists, so a row not settled meanwhile (claimed by the other, planned again, dead, cancelled)
    is still marked done and never retried (and a dead row's health record resolved); a row
    already done is left as it is and the late result is not stored twice.
    """
    values = {"status": ActionStatus.done.value, "remote_id": remote_id, "last_error": None, "lease_owner": None,
              "lease_until": None, "updated_at": now}
    held = conn.execute(sa.update(actions).where(
        actions.c.idempotency_key == key, actions.c.status == ActionStatus.claimed.value,
        actions.c.lease_owner == token,
    ).values(values)).rowcount == 1
    if held:
        return Settled.recorded
    unsettled = [ActionStatus.claimed.value, ActionStatus.planned.value, ActionStatus.dead.value,
                 ActionStatus.cancelled.value]  # cancelled after an earlier try: the object exists all the same
    late = conn.execute(sa.update(actions).where(
        actions.c.idempotency_key == key, actions.c.status.in_(unsettled)).values(values)).rowcount == 1
    if not late:
        return Settled.settled
    conn.execute(sa.update(health).where(
        health.c.kind == DEAD_HEALTH_KIND, health.c.subject == key, health.c.resolved_at.is_(None),
    ).values(resolved_at=now))
    return Settled.late


def retry(store: Store, key: str, token: str, error: str, due_at: datetime, now: datetime) -> bool:
    """Plan the row again for `due_at` after a failure that may pass (only while `token` holds it)."""
    with store.begin() as conn:
        moved = conn.execute(sa.update(actions).where(
            actions.c.idempotency_key == key, actions.c.status == ActionStatus.claimed.value,
            actions.c.lease_owner == token,
        ).values(status=ActionStatus.planned.value, due_at=due_at, last_error=error[:2000], lease_owner=None,
                 lease_until=None, updated_at=now))
    return moved.rowcount == 1


def bury(store: Store, action: Action, token: str, error: str, now: datetime) -> bool:
    """Park the row as dead with its error and raise a health record for people to look at."""
    with store.begin() as conn:
        moved = conn.execute(sa.update(actions).where(
            actions.c.idempotency_key == action.idempotency_key, actions.c.status == ActionStatus.claimed.value,
            actions.c.lease_owner == token,
        ).values(status=ActionStatus.dead.value, last_error=error[:2000], lease_owner=None, lease_until=None,
                 updated_at=now))
        if moved.rowcount != 1:
            return False
        about = f" for interview {action.interview_id}" if action.interview_id else ""
        conn.execute(sa.insert(health).values(
            tenant=action.tenant, kind=DEAD_HEALTH_KIND, subject=action.idempotency_key, raised_at=now,
            message=f"{action.kind} on {action.connector}{about} failed {action.attempts}x: {error}"[:4000],
        ))
    return True


def requeue(store: Store, tenant: str, keys: Sequence[str] | None, now: datetime) -> int:
    """Plan dead rows again (all of the tenant's when `keys` is None) and resolve their health records."""
    cond = [actions.c.tenant == tenant, actions.c.status == ActionStatus.dead.value]
    if keys is not None:
        cond.append(actions.c.idempotency_key.in_(keys))
    with store.begin() as conn:
        found = [r.idempotency_key for r in conn.execute(sa.select(actions.c.idempotency_key).where(*cond))]
        if not found:
            return 0
        conn.execute(sa.update(actions).where(*cond, actions.c.idempotency_key.in_(found)).values(
            status=ActionStatus.planned.value, attempts=0, due_at=now, updated_at=now))
        conn.execute(sa.update(health).where(
            health.c.kind == DEAD_HEALTH_KIND, health.c.subject.in_(found), health.c.resolved_at.is_(None),
        ).values(resolved_at=now))
    return len(found)


def cancel_superseded(conn: sa.Connection, now: datetime, interview_ids: Sequence[str] | None = None,
                      tenant: str | None = None) -> int:
    """Cancel planned rows whose outcome was superseded (reconcile may call it right after superseding)."""
    cond = [actions.c.status == ActionStatus.planned.value, actions.c.outcome_version.is_not(None),
            ~_current_outcome(actions)]
    if tenant is not None:
        cond.append(actions.c.tenant == tenant)
    if interview_ids is not None:
        cond.append(actions.c.interview_id.in_(interview_ids))
    result = conn.execute(sa.update(actions).where(*cond).values(
        status=ActionStatus.cancelled.value, last_error=SUPERSEDED, updated_at=now))
    return int(result.rowcount)


def cancel(conn: sa.Connection, keys: Sequence[str], reason: str, now: datetime) -> int:
    """Cancel the rows of `keys` that are still only planned."""
    result = conn.execute(sa.update(actions).where(
        actions.c.idempotency_key.in_(keys), actions.c.status == ActionStatus.planned.value,
    ).values(status=ActionStatus.cancelled.value, last_error=f"cancelled: {reason}"[:2000], updated_at=now))
    return int(result.rowcount)


def rows(store: Store, tenant: str, *, status: ActionStatus | None = None, interview_id: str | None = None,
         limit: int = 1000) -> list[Row]:
    """The tenant's outbox rows, newest change first."""
    query = sa.select(actions).where(actions.c.tenant == tenant)
    if status is not None:
        query = query.where(actions.c.status == status.value)
    if interview_id is not None:
        query = query.where(actions.c.interview_id == interview_id)
    with store.engine.connect() as conn:
        found = conn.execute(query.order_by(actions.c.updated_at.desc(), actions.c.id.desc()).limit(limit)).all()
    return [Row(_action(r), r.created_at, r.updated_at) for r in found]


def get(store: Store, key: str) -> Action | None:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(actions).where(actions.c.idempotency_key == key)).first()
    return None if row is None else _action(row)
