"""admin API: project names/archival/quotas, key ids, service accounts, audit log, rate limits, usage

Revision ID: 0004_admin_api
Revises: 0003_job_plan
Create Date: 2026-11-30 06:00:00
"""
import secrets
import string

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0004_admin_api'
down_revision = '0003_job_plan'
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _key_id() -> str:
    return "key_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24))


def upgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', _STR(length=256), nullable=True))
        batch_op.add_column(sa.Column('archived_at', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('max_running_jobs', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('max_queued_jobs', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('max_gpu_hours_per_month', sa.Float(), nullable=True))
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('id', _STR(length=64), nullable=True))
        batch_op.add_column(sa.Column('name', _STR(length=256), nullable=True))
        batch_op.add_column(sa.Column('redacted_value', _STR(length=64), nullable=True))
        batch_op.add_column(sa.Column('service_account_id', _STR(length=64), nullable=True))
        batch_op.add_column(sa.Column('last_used_at', sa.Integer(), nullable=True))
    conn = op.get_bind()
    for (key_hash,) in conn.execute(sa.text("SELECT key_hash FROM api_keys")).fetchall():
        conn.execute(sa.text("UPDATE api_keys SET id = :id, redacted_value = :r WHERE key_hash = :h"),
                     {"id": _key_id(), "r": "sk-openft-****" + key_hash[-4:], "h": key_hash})
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index('ix_api_keys_id', ['id'], unique=True)
        batch_op.create_index('ix_api_keys_service_account_id', ['service_account_id'], unique=False)

    op.create_table('service_accounts',
    sa.Column('id', _STR(length=64), nullable=False),
    sa.Column('project_id', _STR(length=64), nullable=False),
    sa.Column('name', _STR(length=256), nullable=False),
    sa.Column('role', _STR(length=16), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_service_accounts_project_id', 'service_accounts', ['project_id'], unique=False)

    op.create_table('audit_logs',
    sa.Column('seq', _SEQ, autoincrement=True, nullable=False),
    sa.Column('id', _STR(length=64), nullable=False),
    sa.Column('effective_at', sa.Integer(), nullable=False),
    sa.Column('type', _STR(length=64), nullable=False),
    sa.Column('project_id', _STR(length=64), nullable=True),
    sa.Column('actor_key_id', _STR(length=64), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id')
    )
    op.create_index('ix_audit_logs_effective', 'audit_logs', ['effective_at', 'seq'], unique=False)
    op.create_index('ix_audit_logs_type', 'audit_logs', ['type'], unique=False)
    op.create_index('ix_audit_logs_project_id', 'audit_logs', ['project_id'], unique=False)
    op.create_index('ix_audit_logs_actor_key_id', 'audit_logs', ['actor_key_id'], unique=False)

    op.create_table('rate_limits',
    sa.Column('project_id', _STR(length=64), nullable=False),
    sa.Column('model', _STR(length=512), nullable=False),
    sa.Column('max_requests_per_1_minute', sa.Integer(), nullable=True),
    sa.Column('max_tokens_per_1_minute', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('project_id', 'model')
    )
    op.create_table('rate_windows',
    sa.Column('project_id', _STR(length=64), nullable=False),
    sa.Column('model', _STR(length=512), nullable=False),
    sa.Column('window_start', sa.Integer(), nullable=False),
    sa.Column('requests', sa.Integer(), nullable=False),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'model', 'window_start')
    )
    op.create_table('usage_records',
    sa.Column('seq', _SEQ, autoincrement=True, nullable=False),
    sa.Column('kind', _STR(length=16), nullable=False),
    sa.Column('project_id', _STR(length=64), nullable=False),
    sa.Column('model', _STR(length=512), nullable=False),
    sa.Column('api_key_id', _STR(length=64), nullable=True),
    sa.Column('job_id', _STR(length=64), nullable=True),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('input_tokens', sa.BigInteger(), nullable=False),
    sa.Column('output_tokens', sa.BigInteger(), nullable=False),
    sa.Column('requests', sa.Integer(), nullable=False),
    sa.Column('trained_tokens', sa.BigInteger(), nullable=False),
    sa.Column('gpu_seconds', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('job_id')
    )
    op.create_index('ix_usage_records_created', 'usage_records', ['created_at', 'project_id'], unique=False)


def downgrade() -> None:
    op.drop_table('usage_records')
    op.drop_table('rate_windows')
    op.drop_table('rate_limits')
    op.drop_table('audit_logs')
    op.drop_table('service_accounts')
    # plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy of `projects` would
    # drop a table other tables reference
    op.drop_index('ix_api_keys_service_account_id', table_name='api_keys')
    op.drop_index('ix_api_keys_id', table_name='api_keys')
    for col in ('last_used_at', 'service_account_id', 'redacted_value', 'name', 'id'):
        op.execute(f"ALTER TABLE api_keys DROP COLUMN {col}")
    for col in ('max_gpu_hours_per_month', 'max_queued_jobs', 'max_running_jobs', 'archived_at', 'name'):
        op.execute(f"ALTER TABLE projects DROP COLUMN {col}")
