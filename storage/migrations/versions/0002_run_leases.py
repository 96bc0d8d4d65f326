"""run leases: the chat's active run, the process running it, and until when its lease holds; an index
for the sweep's look at `streaming` replies

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 23:20:00
"""
import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('chat_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('run_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('run_owner', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('run_lease_until', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_chat_sessions_run_lease_until'), ['run_lease_until'], unique=False)
    with op.batch_alter_table('chat_messages', schema=None) as batch_op:
        batch_op.create_index('ix_chat_messages_status', ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('chat_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_chat_messages_status')
    with op.batch_alter_table('chat_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_sessions_run_lease_until'))
        batch_op.drop_column('run_lease_until')
        batch_op.drop_column('run_owner')
        batch_op.drop_column('run_id')
