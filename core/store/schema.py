"""Store tables (SQLAlchemy Core). Alembic migrations in `migrations/` create and evolve them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcTimestamp(sa.TypeDecorator[datetime]):
    """timestamptz on PostgreSQL; naive-UTC text on SQLite, handed back timezone-aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Json: sa.types.TypeEngine[Any] = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, UtcTimestamp(), nullable=nullable)


interviews = sa.Table(
    "interviews", metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("remote_id", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("status_raw", sa.String(64)),
    _ts("start_at", False),
    _ts("end_at", False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("thread_id", sa.String(255), nullable=False),
    sa.Column("ical_uid", sa.String(255), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("application_id", sa.String(255)),
    sa.Column("candidate_id", sa.String(255)),
    sa.Column("platform", sa.String(64)),
    _ts("source_updated_at"),
    _ts("synced_at", False),
    sa.Column("data", Json, nullable=False),
    sa.UniqueConstraint("source", "remote_id"),
    sa.Index(None, "tenant", "end_at"),
    sa.Index(None, "thread_id"),
    sa.Index(None, "tenant", "synced_at"),
)

candidates = sa.Table(
    "candidates", metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("remote_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    _ts("synced_at", False),
    sa.Column("data", Json, nullable=False),
    sa.UniqueConstraint("source", "remote_id"),
)

contact_points = sa.Table(
    "contact_points", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("candidate_id", sa.String(255), sa.ForeignKey("candidates.id", ondelete="CASCADE"), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("value", sa.String(320), nullable=False, comment="raw normalised value; never leaves the store"),
    sa.Column("masked", sa.String(320), nullable=False),
    sa.Column("lookup", sa.String(64), nullable=False, comment="keyed hash for look-up"),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("reachable", sa.Boolean, nullable=False, server_default=sa.true(),
              comment="false when the latest contact change says the vendor cannot deliver there"),
    sa.Column("unreachable_reason", sa.String(500), comment="the vendor's word for it, e.g. del_follow_user"),
    sa.Column("changed_at", UtcTimestamp(), comment="when the latest contact change applied here happened"),
    sa.UniqueConstraint("candidate_id", "channel", "lookup"),
    sa.Index(None, "lookup"),
)

evidence = sa.Table(
    "evidence", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("remote_id", sa.String(255), nullable=False),
    sa.Column("interview_id", sa.String(255)),
    _ts("occurred_at", False),
    _ts("ended_at"),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(16)),
    sa.Column("human", sa.Boolean, nullable=False),
    sa.Column("code", sa.String(64)),
    sa.Column("ref", sa.String(255), comment="canonical id of a related record (e.g. the notification)"),
    sa.Column("audience", sa.String(16),
              comment="notification: candidate or staff; delivery_event: its notification's (NULL while unknown)"),
    sa.Column("sequence", sa.Integer,
              comment="interview version (thread.sequence) the evidence was about; NULL: not said"),
    sa.Column("data", Json, nullable=False),
    _ts("synced_at", False),
    sa.UniqueConstraint("source", "kind", "remote_id"),
    sa.Index(None, "interview_id", "occurred_at"),
    sa.Index(None, "ref"),
    sa.Index(None, "tenant", "synced_at"),
    sa.Index("ix_evidence_reconcile", "interview_id", "kind", "type", "occurred_at", "ended_at", "human", "channel",
             "code", "audience", "sequence", "id"),
)

sync_state = sa.Table(
    "sync_state", metadata,
    sa.Column("source", sa.String(128), primary_key=True),
    sa.Column("stream", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("cursor", Json, nullable=False),
    _ts("watermark", True),
    _ts("last_run_at"),
    _ts("last_success_at"),
    sa.Column("last_error", sa.Text),
    sa.Column("records_total", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("quarantined_total", sa.BigInteger, nullable=False, server_default="0",
              comment="distinct bad records this stream quarantined (new quarantine rows), not sightings"),
)

quarantine = sa.Table(
    "quarantine", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("stream", sa.String(64), nullable=False),
    sa.Column("remote_id", sa.String(255)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payload", Json, nullable=False),
    sa.Column("received_at", UtcTimestamp(), nullable=False, comment="first time a sync met this bad record"),
    sa.Column("fingerprint", sa.String(64), nullable=False,
              comment="sha256 hex of tenant, source, stream, remote_id, reason and the canonical JSON payload"),
    sa.Column("last_seen_at", UtcTimestamp(), nullable=False, comment="last time a sync met it"),
    sa.Column("seen_count", sa.Integer, nullable=False, server_default="1", comment="times syncs met it"),
    sa.Index(None, "source", "stream"),
    sa.Index(None, "fingerprint", unique=True),
)

outcomes = sa.Table(
    "outcomes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("interview_id", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("sub_reason", sa.String(64)),
    sa.Column("confidence", sa.String(8), nullable=False),
    sa.Column("evidence_ids", Json, nullable=False),
    sa.Column("rule_version", sa.String(32), nullable=False),
    _ts("decided_at", False),
    _ts("superseded_at"),
    sa.UniqueConstraint("interview_id", "version"),
)

actions = sa.Table(
    "actions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(128), nullable=False, unique=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("connector", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("interview_id", sa.String(255)),
    sa.Column("outcome_version", sa.Integer),
    sa.Column("payload", Json, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("handed_over", sa.Integer, nullable=False, server_default="0",
              comment="times a worker handed the row to its vendor (more than none: look the object up first)"),
    sa.Column("handed_at", UtcTimestamp(), comment="the first hand-over: no vendor object of the row is older"),
    _ts("due_at", False),
    sa.Column("lease_owner", sa.String(64)),
    _ts("lease_until"),
    sa.Column("remote_id", sa.String(255)),
    sa.Column("last_error", sa.Text),
    _ts("created_at", False),
    _ts("updated_at", False),
    sa.Index(None, "status", "due_at"),
    sa.Index(None, "interview_id"),
)

health = sa.Table(
    "health", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(64)),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    _ts("raised_at", False),
    _ts("resolved_at"),
    sa.Index(None, "kind", "subject"),
)

link_tokens = sa.Table(
    "link_tokens", metadata,
    sa.Column("token", sa.String(64), primary_key=True, comment="unguessable; one per candidate per interview version"),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("interview_id", sa.String(255), nullable=False),
    sa.Column("candidate_id", sa.String(255)),
    sa.Column("purpose", sa.String(32), nullable=False, comment="join, confirm, reschedule"),
    sa.Column("sequence", sa.Integer, nullable=False, comment="interview version the token belongs to"),
    _ts("created_at", False),
    _ts("expires_at"),
    _ts("rotated_at", True),
    sa.Column("replaced_by", sa.String(64)),
    sa.Index(None, "interview_id", "purpose"),
)

inbound_events = sa.Table(
    "inbound_events", metadata,
    sa.Column("source", sa.String(128), primary_key=True),
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(64)),
    _ts("received_at", False),
)

reconcile_state = sa.Table(
    "reconcile_state", metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("last_evidence_id", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rule_version", sa.String(32)),
    _ts("last_run_at"),
    sa.Column("cutoffs", Json, comment="per interview kind: end_at up to which interviews were decidable"),
    sa.Column("fingerprint", sa.String(64), comment="rules + thresholds + needed streams of the last run"),
)

remediation_cases = sa.Table(
    "remediation_cases", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("interview_id", sa.String(255), nullable=False),
    sa.Column("outcome_version", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("origin_version", sa.Integer, nullable=False,
              comment="first version of this same decision: action keys derive from it"),
    sa.Column("sequence", sa.Integer, nullable=False, comment="appointment SEQUENCE the decision is about"),
    sa.Column("application_id", sa.String(255)),
    sa.Column("playbook", sa.String(128), nullable=False),
    sa.Column("steps", Json, nullable=False),
    _ts("planned_at", False),
    sa.UniqueConstraint("interview_id", "outcome_version"),
    sa.Index(None, "tenant", "application_id"),
)

reschedule_requests = sa.Table(
    "reschedule_requests", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("interview_id", sa.String(255), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False, comment="interview version the request is about"),
    sa.Column("requested_by", sa.String(16), nullable=False),
    sa.Column("reason_code", sa.String(32)),
    sa.Column("reason_text", sa.String(500)),
    sa.Column("slots", Json, nullable=False, comment="wished windows, first choice first"),
    sa.Column("evidence_ref", sa.String(512), comment="canonical id of the RescheduleRequest evidence"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("approval_key", sa.String(128), comment="idempotency key of the approval action"),
    _ts("created_at", False),
    _ts("decided_at"),
    sa.Column("decision_ref", sa.String(512), comment="canonical id of the evidence that carried the decision"),
    _ts("applied_at"),
    sa.UniqueConstraint("interview_id", "sequence"),
    sa.Index(None, "tenant", "status"),
)

handoffs = sa.Table(
    "handoffs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("stream", sa.String(64), nullable=False),
    sa.Column("items", Json, nullable=False, comment="cursor key -> list of items to merge into the next read"),
    _ts("created_at", False),
    _ts("consumed_at"),
    sa.Index(None, "source", "stream", "consumed_at"),
)
