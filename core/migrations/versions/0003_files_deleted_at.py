"""files.deleted_at: a file deleted by its owner while a job uses it stays pinned until the job ends

Revision ID: 0003_files_deleted_at
Revises: 0002
Create Date: 2026-11-30 05:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_files_deleted_at'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
