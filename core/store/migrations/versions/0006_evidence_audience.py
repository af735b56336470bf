"""evidence audience: who a notification went to (candidate or staff), and so its receipts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

Reconciliation counts only what reached the candidate: the covering index `ix_evidence_reconcile`
gets the column too. Existing rows are filled in as the code before this revision wrote them:
HR tasks are staff, and so are T-1d/T-1h reminders sent by DingTalk or Feishu message (those were
only ever the interviewers': candidates got their reminders by SMS and e-mail); every other
notification is the candidate's. Those interviewer reminders say so in their `data` as well (an
HR task's record defaults to staff by itself). A receipt takes its notification's audience, and
keeps NULL (not counted) when that notification is not stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_INDEX = ['interview_id', 'kind', 'type', 'occurred_at', 'ended_at', 'human', 'channel', 'code', 'id']
NEW_INDEX = ['interview_id', 'kind', 'type', 'occurred_at', 'ended_at', 'human', 'channel', 'code', 'audience', 'id']
COMMENT = "notification: candidate or staff; delivery_event: its notification's (NULL while unknown)"

_AUDIENCES = """
    UPDATE evidence SET audience = CASE
        WHEN type = 'hr_task' OR (type IN ('reminder_t1d', 'reminder_t1h') AND channel IN ('dingtalk', 'feishu'))
        THEN 'staff' ELSE 'candidate' END
    WHERE kind = 'notification'"""

_RECEIPTS = {
    'sqlite': """
        UPDATE evidence SET audience = (
            SELECT n.audience FROM evidence AS n
            WHERE n.source = substr(evidence.ref, 1, instr(evidence.ref, '/') - 1) AND n.kind = 'notification'
              AND n.remote_id = substr(evidence.ref, instr(evidence.ref, '/') + 1) AND n.tenant = evidence.tenant)
        WHERE kind = 'delivery_event' AND ref IS NOT NULL AND instr(ref, '/') > 0""",
    'postgresql': """
        UPDATE evidence AS d SET audience = n.audience FROM evidence AS n
        WHERE d.kind = 'delivery_event' AND d.ref IS NOT NULL AND strpos(d.ref, '/') > 0
          AND n.source = split_part(d.ref, '/', 1) AND n.kind = 'notification'
          AND n.remote_id = substr(d.ref, strpos(d.ref, '/') + 1) AND n.tenant = d.tenant""",
}
_SAY_STAFF = {
    'sqlite': "UPDATE evidence SET data = json_set(data, '$.audience', 'staff') "
              "WHERE kind = 'notification' AND audience = 'staff'",
    'postgresql': """UPDATE evidence SET data = jsonb_set(data, '{audience}', '"staff"') """
                  "WHERE kind = 'notification' AND audience = 'staff'",
}
_FORGET = {
    'sqlite': "UPDATE evidence SET data = json_remove(data, '$.audience') WHERE kind = 'notification'",
    'postgresql': "UPDATE evidence SET data = data - 'audience' WHERE kind = 'notification'",
}


def _dialect() -> str:
    name = op.get_bind().dialect.name
    if name not in _RECEIPTS:
        raise NotImplementedError(f"migration 0006 supports SQLite and PostgreSQL, not {name}")
    return name


def upgrade() -> None:
    dialect = _dialect()
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience', sa.String(length=16), nullable=True, comment=COMMENT))
        batch_op.drop_index('ix_evidence_reconcile')
    op.execute(_AUDIENCES)
    op.execute(_SAY_STAFF[dialect])
    op.execute(_RECEIPTS[dialect])
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_reconcile', NEW_INDEX, unique=False)


def downgrade() -> None:
    dialect = _dialect()
    op.execute(_FORGET[dialect])  # the records before this revision have no `audience` field
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index('ix_evidence_reconcile')
        batch_op.drop_column('audience')
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_reconcile', OLD_INDEX, unique=False)
