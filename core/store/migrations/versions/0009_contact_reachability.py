"""contact reachability: a vendor may say a contact point no longer reaches its candidate

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

`contact_points.reachable` (true unless a `contact_change` says otherwise), `unreachable_reason` (the
vendor's word) and `changed_at` (when the latest change applied happened). Contact changes are
evidence rows (kind `contact_change`, `code` = the contact point's look-up hash); the store derives
these columns from the latest one, so the existing rows are all reachable.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REACHABLE = 'false when the latest contact change says the vendor cannot deliver there'
REASON = "the vendor's word for it, e.g. del_follow_user"
CHANGED_AT = 'when the latest contact change applied here happened'


def upgrade() -> None:
    with op.batch_alter_table('contact_points', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reachable', sa.Boolean(), server_default=sa.true(), nullable=False,
                                      comment=REACHABLE))
        batch_op.add_column(sa.Column('unreachable_reason', sa.String(length=500), nullable=True, comment=REASON))
        batch_op.add_column(sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True, comment=CHANGED_AT))


def downgrade() -> None:
    with op.batch_alter_table('contact_points', schema=None) as batch_op:
        batch_op.drop_column('changed_at')
        batch_op.drop_column('unreachable_reason')
        batch_op.drop_column('reachable')
