"""The store: evidence trail, sync cursors and watermarks, quarantine, outcomes, outbox, health.

SQLite file by default, PostgreSQL by URL. Records are upserted by (source, kind, remote_id), so
overlapping polls and duplicate callbacks are harmless. A stream's records and its checkpoint are
committed in one transaction: a crash never advances a cursor past data that was not stored.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import SecretStr
from sqlalchemy.dialects import postgresql, sqlite

from core.connector import Checkpoint, Handoff, Malformed
from core.models import (
    Attendance,
    Candidate,
    Channel,
    Confirmation,
    ContactPoint,
    DeliveryEvent,
    Evidence,
    Interview,
    LinkEvent,
    Notification,
    Record,
    RescheduleRequest,
    utcnow,
)
from core.store import schema

MIGRATIONS = Path(__file__).with_name("migrations")


@dataclass
class WriteSummary:
    inserted: int = 0
    updated: int = 0
    quarantined: int = 0

    def add(self, other: WriteSummary) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.quarantined += other.quarantined


@dataclass(frozen=True)
class StreamState:
    cursor: Mapping[str, Any]
    watermark: datetime | None
    last_success_at: datetime | None
    last_error: str | None


def _evidence_columns(record: Evidence) -> dict[str, Any]:
    """The typed columns reconcile queries; the whole record is kept in `data` as well."""
    cols: dict[str, Any] = {"ended_at": None, "channel": None, "human": True, "code": None, "ref": None}
    match record:
        case Notification():
            cols.update(type=record.purpose.value, channel=record.channel.value, code=record.status.value)
        case DeliveryEvent():
            cols.update(type=record.type.value, channel=record.channel.value, code=record.code,
                        ref=record.notification_id)
        case LinkEvent():
            cols.update(type=record.type.value, human=not record.machine_made, code=record.code)
        case Attendance():
            cols.update(type=record.role.value, ended_at=record.left_at,
                        code="completed" if record.completed else None)
        case Confirmation():
            cols.update(type=record.action.value, channel=record.channel.value if record.channel else None)
        case RescheduleRequest():
            cols.update(type=record.status.value, code=record.reason_code)
        case _:
            raise TypeError(f"no store mapping for evidence type {type(record).__name__}")
    return cols


class Store:
    """A handle on one database; cheap to create, safe to share within a process."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///") and ":memory:" not in url:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url, future=True, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # schema -------------------------------------------------------------------------------------

    def _alembic(self, connection: sa.Connection) -> AlembicConfig:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = connection
        return cfg

    def upgrade(self, revision: str = "head") -> str | None:
        """Apply migrations up to `revision`; returns the revision the database is now at."""
        with self.engine.begin() as conn:
            command.upgrade(self._alembic(conn), revision)
        return self.revision()

    def revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head(self) -> str | None:
        with self.engine.connect() as conn:
            return ScriptDirectory.from_config(self._alembic(conn)).get_current_head()

    @contextlib.contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as conn:
            yield conn

    # records ------------------------------------------------------------------------------------

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def _upsert(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]],
                keys: Sequence[str]) -> WriteSummary:
        """Insert-or-update `rows` by `keys`; counts which were new."""
        if not rows:
            return WriteSummary()
        rows = list({tuple(r[k] for k in keys): r for r in rows}.values())  # last one in a batch wins
        key_cols = [table.c[k] for k in keys]
        existing: set[tuple[Any, ...]] = set()
        for chunk in _chunks(rows, 400):
            cond = sa.tuple_(*key_cols).in_([tuple(r[k] for k in keys) for r in chunk])
            existing.update(tuple(row) for row in conn.execute(sa.select(*key_cols).where(cond)))
        stmt = self._insert(table)
        update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=update)
        conn.execute(stmt, rows)
        updated = sum(1 for r in rows if tuple(r[k] for k in keys) in existing)
        return WriteSummary(inserted=len(rows) - updated, updated=updated)

    def write(self, tenant: str, records: Iterable[Record], conn: sa.Connection | None = None) -> WriteSummary:
        """Upsert canonical records (idempotent: writing the same record twice changes nothing)."""
        if conn is None:
            with self.begin() as own:
                return self.write(tenant, records, own)
        now = utcnow()
        interviews: list[dict[str, Any]] = []
        candidates: list[Candidate] = []
        evidence: list[dict[str, Any]] = []
        for record in records:
            if isinstance(record, Interview):
                interviews.append({
                    "id": record.id, "tenant": tenant, "source": record.source, "remote_id": record.remote_id,
                    "kind": record.kind.value, "status": record.status.value, "status_raw": record.status_raw,
                    "start_at": record.start_at, "end_at": record.end_at, "timezone": record.timezone,
                    "thread_id": record.thread.thread_id, "ical_uid": record.thread.ical_uid,
                    "sequence": record.thread.sequence, "application_id": record.application_id,
                    "candidate_id": record.candidate_id, "platform": record.platform,
                    "source_updated_at": record.source_updated_at, "synced_at": now,
                    "data": record.model_dump(mode="json"),
                })
            elif isinstance(record, Candidate):
                candidates.append(record)
            elif isinstance(record, Evidence):
                evidence.append({
                    "tenant": tenant, "source": record.source, "kind": record.record_type,
                    "remote_id": record.remote_id, "interview_id": record.interview_id,
                    "occurred_at": record.occurred_at, "synced_at": now, "data": record.model_dump(mode="json"),
                    **_evidence_columns(record),
                })
            else:
                raise TypeError(f"cannot store {type(record).__name__}")
        summary = WriteSummary()
        summary.add(self._upsert(conn, schema.interviews, interviews, ("id",)))
        summary.add(self._write_candidates(conn, tenant, candidates, now))
        summary.add(self._upsert(conn, schema.evidence, evidence, ("source", "kind", "remote_id")))
        return summary

    def _write_candidates(self, conn: sa.Connection, tenant: str, records: list[Candidate],
                          now: datetime) -> WriteSummary:
        rows = [{
            "id": c.id, "tenant": tenant, "source": c.source, "remote_id": c.remote_id, "name": c.name,
            "locale": c.locale, "timezone": c.timezone, "synced_at": now,
            "data": c.model_dump(mode="json", exclude={"contacts"})
            | {"contacts": [{"channel": p.channel.value, "masked": p.masked} for p in c.contacts]},
        } for c in records]
        summary = self._upsert(conn, schema.candidates, rows, ("id",))
        cp = schema.contact_points
        for c in records:
            conn.execute(sa.delete(cp).where(cp.c.candidate_id == c.id))
            if c.contacts:
                conn.execute(sa.insert(cp), [{
                    "candidate_id": c.id, "channel": p.channel.value, "value": p.value.get_secret_value(),
                    "masked": p.masked, "lookup": p.lookup, "rank": rank,
                } for rank, p in enumerate(c.contacts)])
        return summary

    def quarantine(self, tenant: str, source: str, stream: str, items: Sequence[Malformed],
                   conn: sa.Connection | None = None) -> int:
        """Keep bad vendor records with their reason: never dropped, never fatal."""
        if not items:
            return 0
        if conn is None:
            with self.begin() as own:
                return self.quarantine(tenant, source, stream, items, own)
        now = utcnow()
        conn.execute(sa.insert(schema.quarantine), [{
            "tenant": tenant, "source": source, "stream": stream, "remote_id": m.remote_id,
            "reason": m.reason, "payload": _jsonable(m.payload), "received_at": now,
        } for m in items])
        return len(items)

    # sync state ---------------------------------------------------------------------------------

    def stream_state(self, source: str, stream: str) -> StreamState:
        t = schema.sync_state
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.source == source, t.c.stream == stream)).first()
        if row is None:
            return StreamState({}, None, None, None)
        return StreamState(row.cursor, row.watermark, row.last_success_at, row.last_error)

    def commit_batch(self, tenant: str, source: str, stream: str, records: Sequence[Record],
                     malformed: Sequence[Malformed], checkpoint: Checkpoint | None,
                     consumed_handoffs: Sequence[int] = ()) -> WriteSummary:
        """Store a batch and (if given) its checkpoint atomically, with the handoffs it took in."""
        with self.begin() as conn:
            summary = self.write(tenant, records, conn)
            summary.quarantined = self.quarantine(tenant, source, stream, malformed, conn)
            self._touch_state(conn, tenant, source, stream, checkpoint, summary)
            if checkpoint is not None and consumed_handoffs:
                h = schema.handoffs
                conn.execute(sa.update(h).where(h.c.id.in_(list(consumed_handoffs))).values(consumed_at=utcnow()))
        return summary

    # handoffs from actions to streams -----------------------------------------------------------

    def add_handoff(self, conn: sa.Connection, source: str, handoff: Handoff) -> None:
        """Queue work an action hands to its instance's streams (inside the caller's transaction)."""
        rows = [{"source": source, "stream": stream, "items": {k: list(v) for k, v in items.items()},
                 "created_at": utcnow()} for stream, items in handoff.items() if any(items.values())]
        if rows:
            conn.execute(sa.insert(schema.handoffs), rows)

    def pending_handoffs(self, source: str, stream: str) -> tuple[list[int], dict[str, list[Any]]]:
        """Unconsumed handoffs for one stream: their ids and their items merged per cursor key."""
        h = schema.handoffs
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(h.c.id, h.c["items"]).where(
                h.c.source == source, h.c.stream == stream, h.c.consumed_at.is_(None)).order_by(h.c.id)).all()
        merged: dict[str, list[Any]] = {}
        for row in rows:
            for key, items in row._mapping["items"].items():
                merged.setdefault(key, []).extend(items)
        return [row.id for row in rows], merged

    def _touch_state(self, conn: sa.Connection, tenant: str, source: str, stream: str,
                     checkpoint: Checkpoint | None, summary: WriteSummary) -> None:
        t = schema.sync_state
        now = utcnow()
        values: dict[str, Any] = {"tenant": tenant, "last_run_at": now}
        if checkpoint is not None:
            values.update(cursor=dict(checkpoint.cursor), last_success_at=now, last_error=None)
            if checkpoint.watermark is not None:
                values["watermark"] = checkpoint.watermark
        where = (t.c.source == source, t.c.stream == stream)
        found = conn.execute(sa.select(t.c.watermark).where(*where)).first()
        if found is None:
            conn.execute(sa.insert(t).values({
                "source": source, "stream": stream, "cursor": {}, **values,
                "records_total": summary.inserted + summary.updated, "quarantined_total": summary.quarantined,
            }))
            return
        if found.watermark is not None and values.get("watermark") is not None:
            values["watermark"] = max(found.watermark, values["watermark"])  # watermarks never go back
        conn.execute(sa.update(t).where(*where).values(
            **values,
            records_total=t.c.records_total + summary.inserted + summary.updated,
            quarantined_total=t.c.quarantined_total + summary.quarantined,
        ))

    def record_sync_error(self, tenant: str, source: str, stream: str, error: str) -> None:
        with self.begin() as conn:
            self._touch_state(conn, tenant, source, stream, None, WriteSummary())
            t = schema.sync_state
            conn.execute(sa.update(t).where(t.c.source == source, t.c.stream == stream)
                         .values(last_error=error[:2000]))

    def contact(self, candidate_id: str, channel: Channel) -> ContactPoint | None:
        """The candidate's first contact point on `channel` (the ContactBook a sending connector uses)."""
        cp = schema.contact_points
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(cp).where(cp.c.candidate_id == candidate_id, cp.c.channel == channel.value)
                               .order_by(cp.c.rank).limit(1)).first()
        if row is None:
            return None
        return ContactPoint(channel=channel, value=SecretStr(row.value), masked=row.masked, lookup=row.lookup)

    # counts (for the CLI and tests) ---------------------------------------------------------------

    def count(self, table: str, **where: Any) -> int:
        t = schema.metadata.tables[table]
        cond = [t.c[k] == v for k, v in where.items()]
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(*cond)).scalar_one())


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def _jsonable(payload: Any) -> Any:
    """Quarantined payloads are kept as JSON; anything else is kept as its text."""
    try:
        json.dumps(payload)
        return payload
    except (TypeError, ValueError):
        return {"text": repr(payload)}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
