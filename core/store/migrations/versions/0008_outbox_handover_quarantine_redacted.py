"""outbox hand-overs and redacted quarantine: an action's vendor may hold its object; no raw contacts kept

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

`actions.handed_over` counts the times a worker handed the row to its vendor (a fenced write just
before the call) and `handed_at` is the first time: a row handed over before is performed with
`maybe_sent`, and the sink looks its object up (made no earlier than `handed_at`) before creating
it. A row not done yet that was claimed before this revision (or failed: `requeue` and a re-plan
reset `attempts`) may have reached its vendor: it counts as handed over (its `attempts`, at least
once) when it was created, so it is looked up too.

Quarantined payloads and reasons were kept as the vendor sent them, raw e-mail addresses and phone
numbers included. They are redacted now (`lifeline_hub.core.http.redact.redact_json`) and fingerprinted again;
rows that become the same bad record are collapsed as revision 0007 did (the earliest kept, counts
and last sighting summed up), and `sync_state.quarantined_total` recounted. The downgrade drops the
column; redaction cannot be undone.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lifeline_hub.core.http.redact import redact, redact_json
from lifeline_hub.core.store.store import quarantine_fingerprint

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HANDED_OVER = 'times a worker handed the row to its vendor (more than none: look the object up first)'
HANDED_AT = 'the first hand-over: no vendor object of the row is older'
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_quarantine = sa.table(
    'quarantine', sa.column('id', sa.Integer()), sa.column('tenant'), sa.column('source'), sa.column('stream'),
    sa.column('remote_id'), sa.column('reason'), sa.column('payload', _JSON), sa.column('received_at'),
    sa.column('fingerprint'), sa.column('last_seen_at'), sa.column('seen_count', sa.Integer()),
)
_UNSETTLED = """
    UPDATE actions SET handed_over = CASE WHEN attempts > 1 THEN attempts ELSE 1 END, handed_at = created_at
    WHERE status <> 'done' AND (attempts > 0 OR last_error IS NOT NULL)"""
_DISTINCT = """
    UPDATE sync_state SET quarantined_total = (
        SELECT count(*) FROM quarantine AS q WHERE q.source = sync_state.source AND q.stream = sync_state.stream)"""


def _redact_quarantine(conn: sa.Connection) -> None:
    """Redact every row; rows that become one bad record collapse into the earliest."""
    q = _quarantine
    kept: dict[str, dict[str, Any]] = {}
    extra: list[int] = []
    rows = conn.execute(sa.select(q).order_by(q.c.received_at, q.c.id)).all()
    for row in rows:
        payload, reason = redact_json(row.payload), redact(row.reason)
        fingerprint = quarantine_fingerprint(row.tenant, row.source, row.stream, row.remote_id, reason, payload)
        first = kept.get(fingerprint)
        if first is None:
            kept[fingerprint] = {'row_id': row.id, 'row_fingerprint': fingerprint, 'row_payload': payload,
                                 'row_reason': reason, 'row_last': row.last_seen_at, 'row_count': row.seen_count}
        else:
            first['row_count'] += row.seen_count
            first['row_last'] = max(first['row_last'], row.last_seen_at)
            extra.append(row.id)
    for i in range(0, len(extra), 500):  # first, so no fingerprint is held twice while rows are rewritten
        conn.execute(sa.delete(q).where(q.c.id.in_(extra[i:i + 500])))
    if kept:  # through temporary fingerprints: a row may take the fingerprint another row still holds
        conn.execute(sa.update(q).where(q.c.id == sa.bindparam('row_id')).values(fingerprint=sa.bindparam('row_tmp')),
                     [{'row_id': k['row_id'], 'row_tmp': f"tmp-{k['row_id']}"} for k in kept.values()])
        conn.execute(sa.update(q).where(q.c.id == sa.bindparam('row_id')).values(
            fingerprint=sa.bindparam('row_fingerprint'), payload=sa.bindparam('row_payload', type_=_JSON),
            reason=sa.bindparam('row_reason'), last_seen_at=sa.bindparam('row_last'),
            seen_count=sa.bindparam('row_count')), list(kept.values()))


def upgrade() -> None:
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handed_over', sa.Integer(), server_default='0', nullable=False,
                                      comment=HANDED_OVER))
        batch_op.add_column(sa.Column('handed_at', sa.DateTime(timezone=True), nullable=True, comment=HANDED_AT))
    op.execute(_UNSETTLED)
    _redact_quarantine(op.get_bind())
    op.execute(_DISTINCT)


def downgrade() -> None:
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_column('handed_at')
        batch_op.drop_column('handed_over')
