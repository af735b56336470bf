"""remediation cases and reschedule requests

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


from sqlalchemy.dialects import postgresql
revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('remediation_cases',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('interview_id', sa.String(length=255), nullable=False),
    sa.Column('outcome_version', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('origin_version', sa.Integer(), nullable=False, comment='first version of this same decision: action keys derive from it'),
    sa.Column('sequence', sa.Integer(), nullable=False, comment='appointment SEQUENCE the decision is about'),
    sa.Column('application_id', sa.String(length=255), nullable=True),
    sa.Column('playbook', sa.String(length=128), nullable=False),
    sa.Column('steps', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_remediation_cases')),
    sa.UniqueConstraint('interview_id', 'outcome_version', name=op.f('uq_remediation_cases_interview_id_outcome_version'))
    )
    with op.batch_alter_table('remediation_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_remediation_cases_tenant_application_id'), ['tenant', 'application_id'], unique=False)

    op.create_table('reschedule_requests',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('interview_id', sa.String(length=255), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False, comment='interview version the request is about'),
    sa.Column('requested_by', sa.String(length=16), nullable=False),
    sa.Column('reason_code', sa.String(length=32), nullable=True),
    sa.Column('reason_text', sa.String(length=500), nullable=True),
    sa.Column('slots', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, comment='wished windows, first choice first'),
    sa.Column('evidence_ref', sa.String(length=512), nullable=True, comment='canonical id of the RescheduleRequest evidence'),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('approval_key', sa.String(length=128), nullable=True, comment='idempotency key of the approval action'),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_ref', sa.String(length=512), nullable=True, comment='canonical id of the evidence that carried the decision'),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reschedule_requests')),
    sa.UniqueConstraint('interview_id', 'sequence', name=op.f('uq_reschedule_requests_interview_id_sequence'))
    )
    with op.batch_alter_table('reschedule_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reschedule_requests_tenant_status'), ['tenant', 'status'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('reschedule_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reschedule_requests_tenant_status'))

    op.drop_table('reschedule_requests')
    with op.batch_alter_table('remediation_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_remediation_cases_tenant_application_id'))

    op.drop_table('remediation_cases')

