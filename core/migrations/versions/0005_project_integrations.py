"""project integrations: a project's own W&B key for jobs created with integrations=[{"type": "wandb"}]

Revision ID: 0005_project_integrations
Revises: 0004_job_placement
Create Date: 2026-11-30 08:40:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005_project_integrations'
down_revision = '0004_job_placement'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'project_integrations',
        sa.Column('project_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('secret', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column('secret_hint', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('created_at', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id']),
        sa.PrimaryKeyConstraint('project_id', 'type'))


def downgrade() -> None:
    op.drop_table('project_integrations')
