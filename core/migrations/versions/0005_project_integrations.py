"""project integrations: a project's own W&B key for jobs created with integrations=[{"type": "wandb"}]

Revision ID: 0005_project_integrations
Revises: 0004_job_placement
"""
import sqlalchemy as sa
from alembic import op

from core.migrations.columns import col, fk, text

revision = '0005_project_integrations'
down_revision = '0004_job_placement'


def upgrade() -> None:
    op.create_table(
        'project_integrations',
        text('project_id', 64), text('type', 32), text('secret', 512), text('secret_hint', 32),
        col('created_at', sa.Integer()), col('updated_at', sa.Integer()),
        fk('project_id', 'projects.id'), sa.PrimaryKeyConstraint('project_id', 'type'))


def downgrade() -> None:
    op.drop_table('project_integrations')
