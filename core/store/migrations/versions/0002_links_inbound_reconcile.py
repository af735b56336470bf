"""link tokens, inbound events, reconcile state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op



revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('inbound_events',
    sa.Column('source', sa.String(length=128), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('source', 'event_id', name=op.f('pk_inbound_events'))
    )
    op.create_table('link_tokens',
    sa.Column('token', sa.String(length=64), nullable=False, comment='unguessable; one per candidate per interview version'),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('interview_id', sa.String(length=255), nullable=False),
    sa.Column('candidate_id', sa.String(length=255), nullable=True),
    sa.Column('purpose', sa.String(length=32), nullable=False, comment='join, confirm, reschedule'),
    sa.Column('sequence', sa.Integer(), nullable=False, comment='interview version the token belongs to'),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replaced_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_link_tokens'))
    )
    with op.batch_alter_table('link_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_tokens_interview_id_purpose'), ['interview_id', 'purpose'], unique=False)

    op.create_table('reconcile_state',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('last_evidence_id', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('rule_version', sa.String(length=32), nullable=True),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tenant', name=op.f('pk_reconcile_state'))
    )



def downgrade() -> None:

    op.drop_table('reconcile_state')
    with op.batch_alter_table('link_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_tokens_interview_id_purpose'))

    op.drop_table('link_tokens')
    op.drop_table('inbound_events')

