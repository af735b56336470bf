"""reconcile: incremental state and change indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


from sqlalchemy.dialects import postgresql
revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_reconcile', ['interview_id', 'kind', 'type', 'occurred_at', 'ended_at', 'human', 'channel', 'code', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_tenant_synced_at'), ['tenant', 'synced_at'], unique=False)

    with op.batch_alter_table('interviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_interviews_tenant_synced_at'), ['tenant', 'synced_at'], unique=False)

    with op.batch_alter_table('reconcile_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cutoffs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True, comment='per interview kind: end_at up to which interviews were decidable'))
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=True, comment='rules + thresholds + needed streams of the last run'))



def downgrade() -> None:

    with op.batch_alter_table('reconcile_state', schema=None) as batch_op:
        batch_op.drop_column('fingerprint')
        batch_op.drop_column('cutoffs')

    with op.batch_alter_table('interviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_interviews_tenant_synced_at'))

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_tenant_synced_at'))
        batch_op.drop_index('ix_evidence_reconcile')

