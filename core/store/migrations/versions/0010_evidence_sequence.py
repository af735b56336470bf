"""evidence sequence: the interview version (thread.sequence) a piece of evidence was about

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

`evidence.sequence`: a confirmation's or an attendance report's `sequence_seen`, a notification's
`sequence`, a receipt its notification's (NULL while unknown or never said: it counts for every version,
as before). Reconciliation counts as reach for a version only evidence about that version or a later
one, so the covering index `ix_evidence_reconcile` gets the column too. Existing confirmations are
filled in from their `data`; everything else stays NULL, as the code before this revision treated it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_INDEX = ['interview_id', 'kind', 'type', 'occurred_at', 'ended_at', 'human', 'channel', 'code', 'audience', 'id']
NEW_INDEX = ['interview_id', 'kind', 'type', 'occurred_at', 'ended_at', 'human', 'channel', 'code', 'audience',
             'sequence', 'id']
COMMENT = 'interview version (thread.sequence) the evidence was about; NULL: not said'

_CONFIRMATIONS = {
    'sqlite': "UPDATE evidence SET sequence = CAST(json_extract(data, '$.sequence_seen') AS INTEGER) "
              "WHERE kind = 'confirmation' AND json_extract(data, '$.sequence_seen') IS NOT NULL",
    'postgresql': "UPDATE evidence SET sequence = CAST(data ->> 'sequence_seen' AS INTEGER) "
                  "WHERE kind = 'confirmation' AND data ->> 'sequence_seen' IS NOT NULL",
}


def upgrade() -> None:
    name = op.get_bind().dialect.name
    if name not in _CONFIRMATIONS:
        raise NotImplementedError(f"migration 0010 supports SQLite and PostgreSQL, not {name}")
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sequence', sa.Integer(), nullable=True, comment=COMMENT))
        batch_op.drop_index('ix_evidence_reconcile')
    op.execute(_CONFIRMATIONS[name])
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_reconcile', NEW_INDEX, unique=False)


def downgrade() -> None:
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index('ix_evidence_reconcile')
        batch_op.drop_column('sequence')
        batch_op.create_index('ix_evidence_reconcile', OLD_INDEX, unique=False)
