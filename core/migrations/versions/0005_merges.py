"""merges table; models.job_id nullable (a merged model has no job)

Revision ID: 0005_merges
Revises: 0004_admin_api
Create Date: 2026-11-30 05:45:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005_merges'
down_revision = '0004_admin_api'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('merges',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('project_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('base_model', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('models', sa.JSON(), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('weights', sa.JSON(), nullable=False),
    sa.Column('density', sa.Float(), nullable=True),
    sa.Column('suffix', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('fine_tuned_model', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_at', sa.Float(), nullable=True),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('finished_at', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('merges', schema=None) as batch_op:
        batch_op.create_index('ix_merges_project_created', ['project_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_merges_status'), ['status'], unique=False)
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.alter_column('job_id', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.alter_column('job_id', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
    with op.batch_alter_table('merges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merges_status'))
        batch_op.drop_index('ix_merges_project_created')
    op.drop_table('merges')
