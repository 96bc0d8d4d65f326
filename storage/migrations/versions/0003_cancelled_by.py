"""who stopped a reply: chat_messages.cancelled_by (a user id; kept when the user is deleted, like run_id)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 02:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('chat_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_by', sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('chat_messages', schema=None) as batch_op:
        batch_op.drop_column('cancelled_by')
