"""jobs: ``placement``, the devices of a worker that the latest dispatch gave the job (gang placement)

Revision ID: 0004_job_placement
Revises: 0003_round_two
"""
import sqlalchemy as sa
from alembic import op

revision = '0004_job_placement'
down_revision = '0003_round_two'


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('placement', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('placement')
