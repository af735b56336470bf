"""The store: evidence trail, sync cursors and watermarks, quarantine, outcomes, outbox, health.

SQLite file by default, PostgreSQL by URL. Records are upserted by (source, kind, remote_id), so
overlapping polls and duplicate callbacks are harmless. A stream's records and its checkpoint are
committed in one transaction: a crash never advances a cursor past data that was not stored.

Two rules keep the trail right whatever order records arrive in:
- An interview's appointment never goes back to an older version. A record with a lower
  `thread.sequence` than the stored one (an ATS resync that still reports the time Lifeline's
  approved reschedule replaced) keeps the stored version's window, zone, thread (UID, SEQUENCE),
  join link, platform and `source_updated_at`; the rest of it (status - a cancellation counts -,
  interviewers, ...) is taken. An equal or higher SEQUENCE is a newer report and is taken whole.
- A delivery receipt's `audience` and `sequence` columns are its notification's (candidate or staff;
  the interview version it told about), NULL while that notification is not stored; storing the
  notification later fills in its receipts.

Opens a vendor reports (a platform's "opened" event, an SMS provider's link tap) are judged by the
same scanner rule as Lifeline's own links when written (`_judge_reported_opens`): a known scanner's
user agent, or seconds after the latest send or delivery to the candidate, is stored machine-made
with its reason.

Quarantine keeps vendor payloads as they came but redacted (`redact_json`: secrets, phone numbers
and e-mail addresses masked), like everything outside the contact book. It is idempotent per bad
record: a record that stays malformed at the vendor is met again by every sync (cursors keep it in
view on purpose) and is kept once, under its fingerprint (see
`quarantine_fingerprint`), with the first and last time a sync met it and how many times.
`WriteSummary.quarantined` counts the meetings of one batch; `sync_state.quarantined_total` counts
distinct bad records (the rows a stream added to the quarantine).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import SecretStr
from sqlalchemy.dialects import postgresql, sqlite

from lifeline_hub.core.config import ConfigError
from lifeline_hub.core.connector import Checkpoint, Handoff, Malformed
from lifeline_hub.core.http.redact import redact, redact_json
from lifeline_hub.core.models import (
    Attendance,
    AttendanceReport,
    Audience,
    Candidate,
    Channel,
    Confirmation,
    ContactChange,
    ContactPoint,
    DeliveryEvent,
    Evidence,
    Interview,
    LinkEvent,
    LinkEventType,
    Notification,
    Record,
    RescheduleRequest,
    canonical_id,
    known_channel,
    utcnow,
)
from lifeline_hub.core.store import schema

MIGRATIONS = Path(__file__).with_name("migrations")
APPOINTMENT = ("start_at", "end_at", "timezone", "thread", "join_url", "platform", "source_updated_at")
"""What an interview record about an older appointment version cannot change (see the module docstring)."""


T = TypeVar("T")


@dataclass
class WriteSummary:
    inserted: int = 0
    updated: int = 0
    quarantined: int = 0
    """Malformed items met (a bad record met again counts again)."""
    quarantined_new: int = 0
    """Of those, the bad records not in quarantine before (what `sync_state.quarantined_total` adds up)."""

    def add(self, other: WriteSummary) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.quarantined += other.quarantined
        self.quarantined_new += other.quarantined_new


@dataclass(frozen=True)
class StreamState:
    cursor: Mapping[str, Any]
    watermark: datetime | None
    last_success_at: datetime | None
    last_error: str | None


def _evidence_columns(record: Evidence) -> dict[str, Any]:
    """The typed columns reconcile queries; the whole record is kept in `data` as well."""
    cols: dict[str, Any] = {"ended_at": None, "channel": None, "human": True, "code": None, "ref": None,
                            "audience": None, "sequence": None}
    match record:
        case Notification():
            cols.update(type=record.purpose.value, channel=record.channel.value, code=record.status.value,
                        audience=record.audience.value, sequence=record.sequence, ended_at=record.read_at)
        case DeliveryEvent():
            cols.update(type=record.type.value, channel=record.channel.value, code=record.code,
                        ref=record.notification_id)
        case LinkEvent():
            cols.update(type=record.type.value, human=not record.machine_made, code=record.code)
        case Attendance():
            cols.update(type=record.role.value, ended_at=record.left_at,
                        code="completed" if record.completed else None)
        case Confirmation():
            cols.update(type=record.action.value, channel=record.channel.value if record.channel else None,
                        sequence=record.sequence_seen)
        case AttendanceReport():
            cols.update(type=record.verdict.value, code=record.reporter_id, audience=Audience.staff.value,
                        sequence=record.sequence_seen)
        case RescheduleRequest():
            cols.update(type=record.status.value, code=record.reason_code)
        case ContactChange():
            contact = record.contact
            cols.update(type="reachable" if record.reachable else "unreachable", channel=record.channel.value,
                        code=contact.lookup if contact else None, ref=record.candidate_id,
                        audience=Audience.candidate.value)
        case _:
            raise TypeError(f"no store mapping for evidence type {type(record).__name__}")
    return cols


class StoreNotMigrated(ConfigError):
    """The store lacks a table its code uses: it was never migrated, or not to this version (no retry helps)."""

    def __init__(self, url: str) -> None:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        super().__init__([f"store {shown}: its schema is missing or out of date: run `lifeline db upgrade`"])


def _missing_table(error: BaseException | None) -> bool:
    """Whether a DBAPI error says a table does not exist (SQLite's message, PostgreSQL's SQLSTATE 42P01)."""
    return "no such table" in str(error) or getattr(error, "sqlstate", None) == "42P01"


class Store:
    """A handle on one database; cheap to create, safe to share within a process.

    A statement on a table the schema lacks raises `StoreNotMigrated` (naming `lifeline db upgrade`).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///") and ":memory:" not in url:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url, future=True, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        sa.event.listen(self.engine, "handle_error", self._not_migrated)

    def _not_migrated(self, context: sa.engine.ExceptionContext) -> None:
        if _missing_table(context.original_exception):
            raise StoreNotMigrated(self.url) from context.sqlalchemy_exception

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
                keys: Sequence[str], only_if: Callable[[Any], sa.ColumnElement[bool]] | None = None,
                set_: Callable[[Any], dict[str, Any]] | None = None) -> WriteSummary:
        """Insert-or-update `rows` by `keys`; counts which were new. `only_if(excluded)`: update only
        stored rows for which it holds. `set_(excluded)`: what a stored row is updated with (default:
        the new row's values)."""
        if not rows:
            return WriteSummary()
        rows = list({tuple(r[k] for k in keys): r for r in rows}.values())  # last one in a batch wins
        key_cols = [table.c[k] for k in keys]
        existing: set[tuple[Any, ...]] = set()
        for chunk in _chunks(rows, 400):
            cond = sa.tuple_(*key_cols).in_([tuple(r[k] for k in keys) for r in chunk])
            existing.update(tuple(row) for row in conn.execute(sa.select(*key_cols).where(cond)))
        stmt = self._insert(table)
        update = set_(stmt.excluded) if set_ is not None else {c: stmt.excluded[c] for c in rows[0] if c not in keys}
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=update,
                                          where=only_if(stmt.excluded) if only_if is not None else None)
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
        records = self._judge_reported_opens(conn, tenant, list(records))
        current = iter(self._not_behind(conn, [r for r in records if isinstance(r, Interview)]))
        for record in records:
            if isinstance(record, Interview):
                record = next(current)
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
        stored = schema.interviews.c.sequence
        summary.add(self._upsert(conn, schema.interviews, interviews, ("id",),
                                 only_if=lambda new: stored <= new.sequence))  # a concurrent reschedule won
        summary.add(self._write_candidates(conn, tenant, candidates, now))
        self._receipt_audiences(conn, tenant, evidence)
        summary.add(self._upsert(conn, schema.evidence, evidence, ("source", "kind", "remote_id")))
        self._share_audiences(conn, tenant, evidence)
        changes = [r for r in evidence if r["kind"] == ContactChange.record_type and r["code"]]
        learned = self._learn_contacts(conn, tenant, {r["ref"] for r in changes if r["ref"]})
        self._apply_contact_changes(conn, tenant, {(r["channel"], r["code"]) for r in changes} | learned)
        return summary

    def _judge_reported_opens(self, conn: sa.Connection, tenant: str, records: list[Record]) -> list[Record]:
        """`records`, opens a vendor reported (not Lifeline's own links') judged by the scanner rule
        (`core.links.scanners.reported_open_reason`): a machine's is flagged with its reason."""
        from lifeline_hub.core.links.events import DELIVERY_SKEW, links_source
        from lifeline_hub.core.links.scanners import reported_open_reason

        own, e = links_source(tenant), schema.evidence
        out: list[Record] = []
        for record in records:
            if (isinstance(record, LinkEvent) and record.type is LinkEventType.open and not record.machine_made
                    and record.source != own):
                last = None
                if record.interview_id is not None:
                    n = e.alias("n")
                    sent = sa.select(n.c.source + "/" + n.c.remote_id).where(
                        n.c.interview_id == record.interview_id, n.c.kind == Notification.record_type)
                    last = conn.execute(sa.select(sa.func.max(e.c.occurred_at)).where(
                        sa.or_(sa.and_(e.c.interview_id == record.interview_id, e.c.kind == Notification.record_type),
                               sa.and_(e.c.kind == DeliveryEvent.record_type, e.c.type == "delivered",
                                       sa.or_(e.c.interview_id == record.interview_id, e.c.ref.in_(sent)))),
                        e.c.audience == Audience.candidate.value,
                        e.c.occurred_at <= record.occurred_at + DELIVERY_SKEW)).scalar()
                reason = reported_open_reason(record.ua_family, last, record.occurred_at)
                if reason is not None:
                    record = record.model_copy(update={"machine_made": True, "machine_reason": reason})
            out.append(record)
        return out

    def _not_behind(self, conn: sa.Connection, records: list[Interview]) -> list[Interview]:
        """`records`, each reporting an older appointment version than the stored one (or one before it
        in the batch) given that version's appointment (see the module docstring)."""
        t = schema.interviews
        stored: dict[str, int] = {}
        for chunk in _chunks(sorted({r.id for r in records}), 400):
            for iv, sequence in conn.execute(sa.select(t.c.id, t.c.sequence).where(t.c.id.in_(chunk))):
                stored[iv] = sequence
        behind = sorted({r.id for r in records if r.id in stored and r.thread.sequence < stored[r.id]})
        latest: dict[str, Interview] = {}
        for chunk in _chunks(behind, 400):
            for data in conn.execute(sa.select(t.c.data).where(t.c.id.in_(chunk))).scalars():
                found = Interview.model_validate(data)
                latest[found.id] = found
        out = []
        for record in records:
            last = latest.get(record.id)
            if last is not None and record.thread.sequence < last.thread.sequence:
                record = record.model_copy(update={name: getattr(last, name) for name in APPOINTMENT})
            latest[record.id] = record
            out.append(record)
        return out

    def _receipt_audiences(self, conn: sa.Connection, tenant: str, rows: list[dict[str, Any]]) -> None:
        """Give each delivery receipt row its notification's audience and sequence (this batch's, else the
        stored one)."""
        known = {canonical_id(r["source"], r["remote_id"]): (r["audience"], r["sequence"])
                 for r in rows if r["kind"] == "notification"}
        wanted = sorted({r["ref"] for r in rows if r["kind"] == "delivery_event" and r["ref"] and r["ref"] not in known
                         and "/" in r["ref"]})
        e = schema.evidence
        for chunk in _chunks(wanted, 400):
            keys = [(source, Notification.record_type, remote)
                    for source, _, remote in (ref.partition("/") for ref in chunk)]
            for source, remote, audience, sequence in conn.execute(
                    sa.select(e.c.source, e.c.remote_id, e.c.audience, e.c.sequence).where(
                        sa.tuple_(e.c.source, e.c.kind, e.c.remote_id).in_(keys), e.c.tenant == tenant)):
                known[canonical_id(source, remote)] = (audience, sequence)
        for row in rows:
            if row["kind"] == "delivery_event":
                row["audience"], row["sequence"] = known.get(row["ref"], (None, None)) if row["ref"] else (None, None)

    def _share_audiences(self, conn: sa.Connection, tenant: str, rows: list[dict[str, Any]]) -> None:
        """Stored receipts of this batch's notifications (received before them) take their audience and sequence."""
        e = schema.evidence
        by_owner: dict[tuple[str, int | None], set[str]] = {}
        for r in rows:
            if r["kind"] == "notification":
                owner = (r["audience"], r["sequence"])
                by_owner.setdefault(owner, set()).add(canonical_id(r["source"], r["remote_id"]))
        for (audience, sequence), refs in by_owner.items():
            for chunk in _chunks(sorted(refs), 400):
                conn.execute(sa.update(e).where(
                    e.c.ref.in_(chunk), e.c.kind == DeliveryEvent.record_type, e.c.tenant == tenant,
                    sa.or_(e.c.audience.is_(None), e.c.audience != audience,
                           sa.not_(e.c.sequence.is_not_distinct_from(sequence))))
                    .values(audience=audience, sequence=sequence))

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
        learned = self._learn_contacts(conn, tenant, {c.id for c in records})
        self._apply_contact_changes(conn, tenant, {(p.channel.value, p.lookup) for c in records for p in c.contacts}
                                    | learned)
        return summary

    def _learn_contacts(self, conn: sa.Connection, tenant: str, candidate_ids: set[str]) -> set[tuple[str, str]]:
        """Add to these stored candidates the account contact points that reachable contact changes naming them
        announced (a candidate who added the recruiter's WeCom with a contact-me code naming them): the vendor's
        event is how Lifeline learns the account. Account ids are stored as they are (their mask is the id).
        Returns the (channel, look-up) keys of those points, learned now or before."""
        e, cp, c = schema.evidence, schema.contact_points, schema.candidates
        learned: set[tuple[str, str]] = set()
        for chunk in _chunks(sorted(candidate_ids), 400):
            rows = conn.execute(sa.select(e.c.ref, e.c.channel, e.c.data).join(c, c.c.id == e.c.ref).where(
                e.c.tenant == tenant, c.c.tenant == tenant, e.c.kind == ContactChange.record_type,
                e.c.type == "reachable", e.c.ref.in_(chunk)).order_by(e.c.occurred_at, e.c.id)).all()
            for row in rows:
                channel, address = known_channel(row.channel), str((row.data or {}).get("address") or "")
                if channel is None or channel.info.address != "account" or not address:
                    continue
                point = ContactPoint.im(channel, address)
                rank = conn.execute(sa.select(sa.func.coalesce(sa.func.max(cp.c.rank), -1) + 1)
                                    .where(cp.c.candidate_id == row.ref)).scalar_one()
                insert_new(conn, cp, [{"candidate_id": row.ref, "channel": channel.value, "value": address,
                                       "masked": point.masked, "lookup": point.lookup, "rank": rank}],
                           ("candidate_id", "channel", "lookup"))
                learned.add((channel.value, point.lookup))
        return learned

    def _apply_contact_changes(self, conn: sa.Connection, tenant: str, keys: set[tuple[str, str]]) -> None:
        """Set the reachability of the tenant's contact points with these (channel, look-up) keys from the
        latest stored contact change for each (by `occurred_at`; one naming a candidate applies to that
        candidate's only), whatever order changes and candidates arrived in."""
        e, cp, c = schema.evidence, schema.contact_points, schema.candidates
        changes: dict[tuple[str, str], list[Any]] = {}
        points: list[Any] = []
        for chunk in _chunks(sorted(keys), 400):
            for row in conn.execute(sa.select(e.c.id, e.c.channel, e.c.code, e.c.ref, e.c.type, e.c.occurred_at,
                                              e.c.data).where(
                    e.c.tenant == tenant, e.c.kind == ContactChange.record_type,
                    sa.tuple_(e.c.channel, e.c.code).in_(chunk))):
                changes.setdefault((row.channel, row.code), []).append(row)
            points.extend(conn.execute(sa.select(cp.c.id, cp.c.candidate_id, cp.c.channel, cp.c.lookup)
                                       .join(c, c.c.id == cp.c.candidate_id)
                                       .where(c.c.tenant == tenant, sa.tuple_(cp.c.channel, cp.c.lookup).in_(chunk))))
        updates = []
        for point in points:
            mine = [ch for ch in changes.get((point.channel, point.lookup), ())
                    if ch.ref is None or ch.ref == point.candidate_id]
            latest = max(mine, key=lambda ch: (ch.occurred_at, ch.id), default=None)
            if latest is None:
                updates.append({"point": point.id, "now_reachable": True, "reason": None, "at": None})
                continue
            reachable = latest.type == "reachable"
            updates.append({"point": point.id, "now_reachable": reachable, "at": latest.occurred_at,
                            "reason": None if reachable else latest.data.get("reason") or None})
        if updates:
            conn.execute(sa.update(cp).where(cp.c.id == sa.bindparam("point")).values(
                reachable=sa.bindparam("now_reachable"), unreachable_reason=sa.bindparam("reason"),
                changed_at=sa.bindparam("at")), updates)

    def quarantine(self, tenant: str, source: str, stream: str, items: Sequence[Malformed],
                   conn: sa.Connection | None = None) -> int:
        """Keep bad vendor records with their reason: never dropped, never fatal. A bad record met
        again (same fingerprint) is not kept twice: its row's `seen_count` and `last_seen_at` move on.
        Returns how many malformed items this call met."""
        if not items:
            return 0
        if conn is None:
            with self.begin() as own:
                return self.quarantine(tenant, source, stream, items, own)
        return self._quarantine(conn, tenant, source, stream, items).quarantined

    def _quarantine(self, conn: sa.Connection, tenant: str, source: str, stream: str,
                    items: Sequence[Malformed]) -> WriteSummary:
        """`quarantine`, also counting the bad records that were new to the quarantine."""
        now = utcnow()
        rows: dict[str, dict[str, Any]] = {}
        for m in items:
            payload, reason = redact_json(_jsonable(m.payload)), redact(m.reason)
            fingerprint = quarantine_fingerprint(tenant, source, stream, m.remote_id, reason, payload)
            if fingerprint in rows:  # met twice in one batch: one row, seen twice
                rows[fingerprint]["seen_count"] += 1
                continue
            rows[fingerprint] = {
                "fingerprint": fingerprint, "tenant": tenant, "source": source, "stream": stream,
                "remote_id": m.remote_id, "reason": reason, "payload": payload,
                "received_at": now, "last_seen_at": now, "seen_count": 1,
            }
        q = schema.quarantine
        upserted = self._upsert(conn, q, list(rows.values()), ("fingerprint",), set_=lambda new: {
            "seen_count": q.c.seen_count + new.seen_count, "last_seen_at": new.last_seen_at})
        return WriteSummary(quarantined=len(items), quarantined_new=upserted.inserted)

    def quarantined(self, limit: int = 20, **where: str | None) -> list[dict[str, Any]]:
        """The most recently met quarantined items matching `where` (column == value; None: any), newest first."""
        q = schema.quarantine
        cond = [q.c[k] == v for k, v in where.items() if v is not None]
        query = sa.select(q).where(*cond).order_by(q.c.last_seen_at.desc(), q.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def quarantine_seen(self, **where: Any) -> int:
        """How many times syncs met the quarantined records matching `where` (column == value)."""
        q = schema.quarantine
        cond = [q.c[k] == v for k, v in where.items()]
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(q.c.seen_count), 0)).where(*cond))
                       .scalar_one())

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
            summary.add(self._quarantine(conn, tenant, source, stream, malformed))
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
                "records_total": summary.inserted + summary.updated, "quarantined_total": summary.quarantined_new,
            }))
            return
        if found.watermark is not None and values.get("watermark") is not None:
            values["watermark"] = max(found.watermark, values["watermark"])  # watermarks never go back
        conn.execute(sa.update(t).where(*where).values(
            **values,
            records_total=t.c.records_total + summary.inserted + summary.updated,
            quarantined_total=t.c.quarantined_total + summary.quarantined_new,  # distinct bad records
        ))

    def record_sync_error(self, tenant: str, source: str, stream: str, error: str) -> None:
        with self.begin() as conn:
            self._touch_state(conn, tenant, source, stream, None, WriteSummary())
            t = schema.sync_state
            conn.execute(sa.update(t).where(t.c.source == source, t.c.stream == stream)
                         .values(last_error=error[:2000]))

    def contact(self, candidate_id: str, channel: Channel) -> ContactPoint | None:
        """The candidate's first reachable contact point on `channel` (the ContactBook a sending connector uses):
        None when a contact change made every one there unreachable, so nothing more is sent there."""
        cp = schema.contact_points
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(cp).where(cp.c.candidate_id == candidate_id, cp.c.channel == channel.value,
                                                   cp.c.reachable)
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


def insert_new(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]],
               keys: Sequence[str]) -> set[tuple[Any, ...]]:
    """Insert the `rows` whose `keys` are not stored yet; returns the keys of the rows this call inserted.

    Exact on both dialects and under concurrency: it asks the database (`ON CONFLICT DO NOTHING
    RETURNING`), never a rowcount (psycopg reports -1 for an INSERT ... ON CONFLICT) and never a
    look-up made before the insert. Decide "did I insert it" with this and nothing else.
    """
    if not rows:
        return set()
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    stmt = insert.on_conflict_do_nothing(index_elements=list(keys)).returning(*(table.c[k] for k in keys))
    return {tuple(row) for row in conn.execute(stmt, list(rows))}


def _chunks(rows: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def _jsonable(payload: Any) -> Any:
    """Quarantined payloads are kept as JSON; anything else is kept as its text."""
    try:
        json.dumps(payload)
        return payload
    except (TypeError, ValueError):
        return {"text": repr(payload)}


def quarantine_fingerprint(tenant: str, source: str, stream: str, remote_id: str | None, reason: str,
                           payload: Any) -> str:
    """What makes a quarantined record the same bad record again: sha256 hex of the canonical JSON of
    [tenant, source, stream, remote_id, reason, payload], the payload as it is stored (JSON, so
    tuples are lists and keys strings) with sorted keys. Migration 0007 computes the same."""
    stored = json.loads(json.dumps(payload))
    canonical = json.dumps([tenant, source, stream, remote_id, reason, stored], sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
