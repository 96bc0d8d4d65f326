"""test case history: test_case_revisions (one row per created, edited or deleted case of a test_cases artifact)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 05:40:00
"""
import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('test_case_revisions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('artifact_id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('tc_id', sa.String(length=64), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('changed_by', sa.String(length=36), nullable=True),
    sa.Column('changed_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifacts.id'], name=op.f('fk_test_case_revisions_artifact_id_artifacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['changed_by'], ['users.id'], name=op.f('fk_test_case_revisions_changed_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_test_case_revisions'))
    )
    with op.batch_alter_table('test_case_revisions', schema=None) as batch_op:
        batch_op.create_index('ix_test_case_revisions_case', ['artifact_id', 'tc_id', 'revision'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('test_case_revisions', schema=None) as batch_op:
        batch_op.drop_index('ix_test_case_revisions_case')
    op.drop_table('test_case_revisions')
