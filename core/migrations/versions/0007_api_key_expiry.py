"""api_keys.expires_at: admin keys created with expires_in_seconds stop working then

Revision ID: 0007_api_key_expiry
Revises: 0006_evals
Create Date: 2026-11-30 06:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_api_key_expiry'
down_revision = '0006_evals'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('api_keys', sa.Column('expires_at', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE api_keys DROP COLUMN expires_at")
