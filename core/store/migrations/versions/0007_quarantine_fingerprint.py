"""quarantine fingerprint: a bad record that stays bad is kept once, with how often syncs met it

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

A record that stays malformed at the vendor is read again by every sync (cursors keep it in view on
purpose) and was quarantined again each time. A quarantine row now has a `fingerprint` (sha256 hex
of the canonical JSON of [tenant, source, stream, remote_id, reason, payload], unique), `received_at`
(unchanged: the first time a sync met it), `last_seen_at` and `seen_count`; meeting it again updates
those two. Existing rows get their fingerprint and are collapsed: the earliest row of each bad record
(by received_at, then id) is kept, with `seen_count` the number of rows it stands for and
`last_seen_at` the latest of their `received_at`; the others are deleted.

`sync_state.quarantined_total` counted meetings; it now counts distinct bad records (rows a stream
added to the quarantine) and is recounted from the collapsed rows. The downgrade sets it back to the
meetings (the sum of `seen_count`) and drops the new columns; collapsed rows stay one row each.
"""

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINGERPRINT = 'sha256 hex of tenant, source, stream, remote_id, reason and the canonical JSON payload'
RECEIVED = 'first time a sync met this bad record'
LAST_SEEN = 'last time a sync met it'
SEEN_COUNT = 'times syncs met it'
TOTAL = 'distinct bad records this stream quarantined (new quarantine rows), not sightings'

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_quarantine = sa.table(
    'quarantine', sa.column('id', sa.Integer()), sa.column('tenant'), sa.column('source'), sa.column('stream'),
    sa.column('remote_id'), sa.column('reason'), sa.column('payload', _JSON), sa.column('received_at'),
    sa.column('fingerprint'), sa.column('last_seen_at'), sa.column('seen_count', sa.Integer()),
)

_DISTINCT = """
    UPDATE sync_state SET quarantined_total = (
        SELECT count(*) FROM quarantine AS q WHERE q.source = sync_state.source AND q.stream = sync_state.stream)"""
_MEETINGS = """
    UPDATE sync_state SET quarantined_total = (
        SELECT coalesce(sum(q.seen_count), 0) FROM quarantine AS q
        WHERE q.source = sync_state.source AND q.stream = sync_state.stream)"""


def _dialect() -> str:
    name = op.get_bind().dialect.name
    if name not in ('sqlite', 'postgresql'):
        raise NotImplementedError(f"migration 0007 supports SQLite and PostgreSQL, not {name}")
    return name


def _fingerprint(tenant: str, source: str, stream: str, remote_id: str | None, reason: str, payload: Any) -> str:
    """As `lifeline_hub.core.store.store.quarantine_fingerprint` computes it at this revision."""
    stored = json.loads(json.dumps(payload))
    canonical = json.dumps([tenant, source, stream, remote_id, reason, stored], sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(canonical.encode('ascii')).hexdigest()


def _collapse(conn: sa.Connection) -> None:
    """Fingerprint the existing rows and keep the earliest of each bad record, counting the rest."""
    q = _quarantine
    kept: dict[str, dict[str, Any]] = {}
    extra: list[int] = []
    rows = conn.execute(sa.select(q.c.id, q.c.tenant, q.c.source, q.c.stream, q.c.remote_id, q.c.reason,
                                  q.c.payload, q.c.received_at).order_by(q.c.received_at, q.c.id)
                        .execution_options(yield_per=1000))
    for row in rows:
        fingerprint = _fingerprint(row.tenant, row.source, row.stream, row.remote_id, row.reason, row.payload)
        first = kept.get(fingerprint)
        if first is None:
            kept[fingerprint] = {'row_id': row.id, 'row_fingerprint': fingerprint, 'row_last': row.received_at,
                                 'row_count': 1}
        else:
            first['row_count'] += 1
            first['row_last'] = row.received_at  # rows come oldest first
            extra.append(row.id)
    if kept:
        conn.execute(sa.update(q).where(q.c.id == sa.bindparam('row_id')).values(
            fingerprint=sa.bindparam('row_fingerprint'), last_seen_at=sa.bindparam('row_last'),
            seen_count=sa.bindparam('row_count')), list(kept.values()))
    for i in range(0, len(extra), 500):
        conn.execute(sa.delete(q).where(q.c.id.in_(extra[i:i + 500])))


def upgrade() -> None:
    dialect = _dialect()
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=True, comment=FINGERPRINT))
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True, comment=LAST_SEEN))
        batch_op.add_column(sa.Column('seen_count', sa.Integer(), server_default='1', nullable=False,
                                      comment=SEEN_COUNT))
    _collapse(op.get_bind())
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.alter_column('fingerprint', existing_type=sa.String(length=64), nullable=False,
                              existing_comment=FINGERPRINT)
        batch_op.alter_column('last_seen_at', existing_type=sa.DateTime(timezone=True), nullable=False,
                              existing_comment=LAST_SEEN)
        batch_op.alter_column('received_at', existing_type=sa.DateTime(timezone=True), existing_nullable=False,
                              comment=RECEIVED)
        batch_op.create_index(batch_op.f('ix_quarantine_fingerprint'), ['fingerprint'], unique=True)
    op.execute(_DISTINCT)
    if dialect == 'postgresql':  # SQLite keeps no comments: no need to rebuild sync_state for one
        op.alter_column('sync_state', 'quarantined_total', existing_type=sa.BigInteger(), existing_nullable=False,
                        existing_server_default='0', comment=TOTAL)


def downgrade() -> None:
    dialect = _dialect()
    op.execute(_MEETINGS)  # before this revision the total counted every meeting
    if dialect == 'postgresql':
        op.alter_column('sync_state', 'quarantined_total', existing_type=sa.BigInteger(), existing_nullable=False,
                        existing_server_default='0', comment=None, existing_comment=TOTAL)
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantine_fingerprint'))
        batch_op.alter_column('received_at', existing_type=sa.DateTime(timezone=True), existing_nullable=False,
                              comment=None, existing_comment=RECEIVED)
        batch_op.drop_column('seen_count')
        batch_op.drop_column('last_seen_at')
        batch_op.drop_column('fingerprint')
