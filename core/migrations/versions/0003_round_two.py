"""round two: the job plan, pinned files, the admin API, merges, evals, key expiry, webhooks, checkpoint permissions

One revision for everything the second round added on top of the released schema (0002):
- ``files.deleted_at``: a file deleted by its owner while a job uses it stays pinned until the job ends;
- ``jobs.plan`` (one typed plan) and ``jobs.worker_losses`` replace the ``stats`` bag;
- the admin API: project names, archival and quotas; key ids, names, expiry and service accounts;
  the audit log, rate limits and windows, usage records;
- merges (``models.job_id`` becomes nullable: a merged model has no job);
- evals, eval runs, output items and fine-tuning job hooks;
- webhook endpoints and the delivery outbox;
- checkpoint permissions.

Revision ID: 0003_round_two
Revises: 0002
"""
import json
import secrets
import string
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

from core.migrations.columns import claim, col, fk, index, seq, text

revision = '0003_round_two'
down_revision = '0002'

_PLAN_KEYS = ("hyperparameters", "n_train_examples", "total_steps")
_ALPHABET = string.ascii_letters + string.digits
def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _plan_from_stats(row: Any) -> dict[str, Any] | None:
    """The plan of a job validated before this revision (its stats bag), else None."""
    stats = _json(row.stats) or {}
    if not all(k in stats for k in _PLAN_KEYS):
        return None
    model_id = stats.get("model_id") or "ft:{}:{}:{}:{}".format(
        row.base_model.rsplit("/", 1)[-1], row.project_id, row.suffix or "",
        "".join(secrets.choice(_ALPHABET) for _ in range(8)))
    plan = {"fine_tuned_model": model_id, "hyperparameters": stats["hyperparameters"],
            "n_train_examples": stats["n_train_examples"], "train_tokens": stats.get("train_tokens", 0),
            "n_truncated": stats.get("n_truncated", 0), "total_steps": stats["total_steps"]}
    if stats.get("file_sha256"):
        plan["file_sha256"] = stats["file_sha256"]
    if stats.get("n_valid_examples") is not None:
        plan["n_valid_examples"] = stats["n_valid_examples"]
    return plan


def _jobs_stats_to_plan() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('worker_losses', sa.Integer(), nullable=False, server_default='0'))
    conn = op.get_bind()
    jobs = sa.table('jobs', sa.column('id'), sa.column('stats', sa.JSON()), sa.column('plan', sa.JSON()),
                    sa.column('worker_losses'), sa.column('base_model'), sa.column('project_id'),
                    sa.column('suffix'))
    for row in conn.execute(sa.select(jobs.c.id, jobs.c.stats, jobs.c.base_model, jobs.c.project_id,
                                      jobs.c.suffix)).all():
        stats = _json(row.stats) or {}
        conn.execute(jobs.update().where(jobs.c.id == row.id).values(
            plan=_plan_from_stats(row), worker_losses=int(stats.get("worker_losses", 0))))
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('stats')


def _jobs_plan_to_stats() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stats', sa.JSON(), nullable=False, server_default='{}'))
    conn = op.get_bind()
    jobs = sa.table('jobs', sa.column('id'), sa.column('stats', sa.JSON()), sa.column('plan', sa.JSON()),
                    sa.column('worker_losses'))
    for row in conn.execute(sa.select(jobs.c.id, jobs.c.plan, jobs.c.worker_losses)).all():
        plan = _json(row.plan) or {}
        stats = {k: v for k, v in plan.items() if k != "fine_tuned_model"}
        if plan:
            stats["model_id"] = plan["fine_tuned_model"]
        if row.worker_losses:
            stats["worker_losses"] = row.worker_losses
        conn.execute(jobs.update().where(jobs.c.id == row.id).values(stats=stats))
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('plan')
        batch_op.drop_column('worker_losses')


def _key_id() -> str:
    return "key_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def _admin_columns() -> None:
    """Project names, archival and quotas; key ids (backfilled), names, service accounts and expiry."""
    with op.batch_alter_table('projects', schema=None) as batch_op:
        for column in (text('name', 256, True), col('archived_at', sa.Integer(), True),
                       col('max_running_jobs', sa.Integer(), True), col('max_queued_jobs', sa.Integer(), True),
                       col('max_gpu_hours_per_month', sa.Float(), True)):
            batch_op.add_column(column)
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        for column in (text('id', 64, True), text('name', 256, True), text('redacted_value', 64, True),
                       text('service_account_id', 64, True), col('last_used_at', sa.Integer(), True),
                       col('expires_at', sa.Integer(), True)):
            batch_op.add_column(column)
    conn = op.get_bind()
    for (key_hash,) in conn.execute(sa.text("SELECT key_hash FROM api_keys")).fetchall():
        conn.execute(sa.text("UPDATE api_keys SET id = :id, redacted_value = :r WHERE key_hash = :h"),
                     {"id": _key_id(), "r": "sk-openft-****" + key_hash[-4:], "h": key_hash})
    index('api_keys', 'ix_api_keys_id', ['id'], unique=True)
    index('api_keys', 'ix_api_keys_service_account_id', ['service_account_id'])


def _admin_tables() -> None:
    """Service accounts, the audit log, rate limits and their windows, usage records."""
    op.create_table(
        'service_accounts',
        text('id', 64), text('project_id', 64), text('name', 256), text('role', 16),
        col('created_at', sa.Integer()),
        fk('project_id', 'projects.id'), sa.PrimaryKeyConstraint('id'))
    index('service_accounts', 'ix_service_accounts_project_id', ['project_id'])
    op.create_table(
        'audit_logs',
        seq(), text('id', 64), col('effective_at', sa.Integer()), text('type', 64),
        text('project_id', 64, True), text('actor_key_id', 64, True), col('details', sa.JSON()),
        sa.PrimaryKeyConstraint('seq'), sa.UniqueConstraint('id'))
    index('audit_logs', 'ix_audit_logs_effective', ['effective_at', 'seq'])
    for column in ('type', 'project_id', 'actor_key_id'):
        index('audit_logs', f'ix_audit_logs_{column}', [column])
    op.create_table(
        'rate_limits',
        text('project_id', 64), text('model', 512),
        col('max_requests_per_1_minute', sa.Integer(), True), col('max_tokens_per_1_minute', sa.Integer(), True),
        fk('project_id', 'projects.id'), sa.PrimaryKeyConstraint('project_id', 'model'))
    op.create_table(
        'rate_windows',
        text('project_id', 64), text('model', 512), col('window_start', sa.Integer()),
        col('requests', sa.Integer()), col('tokens', sa.BigInteger()),
        sa.PrimaryKeyConstraint('project_id', 'model', 'window_start'))
    op.create_table(
        'usage_records',
        seq(), text('kind', 16), text('project_id', 64), text('model', 512), text('api_key_id', 64, True),
        text('job_id', 64, True), col('created_at', sa.Integer()), col('input_tokens', sa.BigInteger()),
        col('output_tokens', sa.BigInteger()), col('requests', sa.Integer()),
        col('trained_tokens', sa.BigInteger()), col('gpu_seconds', sa.Float()),
        sa.PrimaryKeyConstraint('seq'), sa.UniqueConstraint('job_id'))
    index('usage_records', 'ix_usage_records_created', ['created_at', 'project_id'])


def _merges() -> None:
    op.create_table(
        'merges',
        text('id', 64), text('project_id', 64), text('status', 16), text('base_model', 512),
        col('models', sa.JSON()), text('method', 16), col('weights', sa.JSON()),
        col('density', sa.Float(), True), text('suffix', 64, True), text('fine_tuned_model', 512),
        col('error', sa.JSON(), True), *claim(), col('created_at', sa.Integer()),
        col('finished_at', sa.Integer(), True),
        fk('project_id', 'projects.id'), sa.PrimaryKeyConstraint('id'))
    index('merges', 'ix_merges_project_created', ['project_id', 'created_at'])
    index('merges', 'ix_merges_status', ['status'])


def _models_job_id(nullable: bool) -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.alter_column('job_id', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=nullable)


def _evals() -> None:
    """Evals, fine-tuning job hooks, eval runs and their output items."""
    op.create_table(
        'evals',
        text('id', 64), col('seq', sa.BigInteger()), text('project_id', 64), text('name', 512),
        col('data_source_config', sa.JSON()), col('testing_criteria', sa.JSON()),
        col('metadata', sa.JSON(), True), col('created_at', sa.Integer()), col('updated_at', sa.Integer()),
        col('updated_seq', sa.BigInteger()),
        fk('project_id', 'projects.id'), sa.PrimaryKeyConstraint('id'))
    index('evals', 'ix_evals_project_created', ['project_id', 'created_at', 'seq'])
    op.create_table(
        'eval_job_hooks',
        text('job_id', 64), text('eval_id', 64), col('data_source', sa.JSON()), text('status', 16),
        col('created_at', sa.Integer()),
        fk('eval_id', 'evals.id'), fk('job_id', 'jobs.id'), sa.PrimaryKeyConstraint('job_id'))
    index('eval_job_hooks', 'ix_eval_job_hooks_status', ['status'])
    op.create_table(
        'eval_runs',
        text('id', 64), col('seq', sa.BigInteger()), text('eval_id', 64), text('project_id', 64),
        text('name', 512), text('model', 512), text('status', 16), col('data_source', sa.JSON()),
        col('metadata', sa.JSON(), True), col('error', sa.JSON(), True), col('result_counts', sa.JSON()),
        col('per_testing_criteria_results', sa.JSON()), col('per_model_usage', sa.JSON()),
        col('total_items', sa.Integer()), *claim(), text('job_id', 64, True),
        col('model_step', sa.Integer(), True), col('created_at', sa.Integer()),
        col('finished_at', sa.Integer(), True),
        fk('eval_id', 'evals.id'), fk('project_id', 'projects.id'), sa.PrimaryKeyConstraint('id'))
    index('eval_runs', 'ix_eval_runs_eval_created', ['eval_id', 'created_at', 'seq'])
    for column in ('job_id', 'project_id', 'status'):
        index('eval_runs', f'ix_eval_runs_{column}', [column])
    op.create_table(
        'eval_output_items',
        text('id', 64), text('run_id', 64), text('eval_id', 64), col('datasource_item_id', sa.Integer()),
        col('datasource_item', sa.JSON()), col('results', sa.JSON()), col('sample', sa.JSON()),
        text('status', 8), col('created_at', sa.Integer()),
        fk('run_id', 'eval_runs.id'), sa.PrimaryKeyConstraint('id'))
    index('eval_output_items', 'ix_eval_output_items_run_item', ['run_id', 'datasource_item_id'], unique=True)


def _webhooks() -> None:
    """The delivery outbox and the endpoints it delivers to."""
    op.create_table(
        'webhook_deliveries',
        seq(), text('id', 64), text('endpoint_id', 64), text('project_id', 64), text('event_type', 64),
        col('payload', sa.JSON()), text('status', 16), col('attempts', sa.JSON()),
        col('next_attempt_at', sa.Float()), col('claimed_at', sa.Float(), True), col('created_at', sa.Integer()),
        col('delivered_at', sa.Integer(), True),
        sa.PrimaryKeyConstraint('seq'), sa.UniqueConstraint('id'))
    index('webhook_deliveries', 'ix_webhook_deliveries_due', ['status', 'next_attempt_at'])
    index('webhook_deliveries', 'ix_webhook_deliveries_endpoint', ['endpoint_id', 'created_at', 'seq'])
    op.create_table(
        'webhook_endpoints',
        seq(), text('id', 64), text('project_id', 64), text('name', 256), text('url', 2048),
        col('event_types', sa.JSON()), text('secret', 128), text('old_secret', 128, True),
        col('old_secret_expires_at', sa.Integer(), True), col('created_at', sa.Integer()),
        col('updated_at', sa.Integer()),
        fk('project_id', 'projects.id'), sa.PrimaryKeyConstraint('seq'), sa.UniqueConstraint('id'))
    index('webhook_endpoints', 'ix_webhook_endpoints_project_created', ['project_id', 'created_at', 'seq'])


def _checkpoint_permissions() -> None:
    op.create_table(
        'checkpoint_permissions',
        seq(), text('id', 64), text('model_id', 512), text('project_id', 64), col('created_at', sa.Integer()),
        sa.PrimaryKeyConstraint('seq'), sa.UniqueConstraint('id'))
    index('checkpoint_permissions', 'ix_checkpoint_permissions_model_project', ['model_id', 'project_id'],
           unique=True)
    index('checkpoint_permissions', 'ix_checkpoint_permissions_project_id', ['project_id'])


def upgrade() -> None:
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.Integer(), nullable=True))
    _jobs_stats_to_plan()
    _admin_columns()
    _admin_tables()
    _merges()
    _models_job_id(nullable=True)
    _evals()
    _webhooks()
    _checkpoint_permissions()


def downgrade() -> None:
    for table in ('checkpoint_permissions', 'webhook_endpoints', 'webhook_deliveries', 'eval_output_items',
                  'eval_runs', 'eval_job_hooks', 'evals'):
        op.drop_table(table)
    _models_job_id(nullable=False)
    for table in ('merges', 'usage_records', 'rate_windows', 'rate_limits', 'audit_logs', 'service_accounts'):
        op.drop_table(table)
    # plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy of `projects` would
    # drop a table other tables reference
    op.drop_index('ix_api_keys_service_account_id', table_name='api_keys')
    op.drop_index('ix_api_keys_id', table_name='api_keys')
    for col in ('expires_at', 'last_used_at', 'service_account_id', 'redacted_value', 'name', 'id'):
        op.execute(f"ALTER TABLE api_keys DROP COLUMN {col}")
    for col in ('max_gpu_hours_per_month', 'max_queued_jobs', 'max_running_jobs', 'archived_at', 'name'):
        op.execute(f"ALTER TABLE projects DROP COLUMN {col}")
    _jobs_plan_to_stats()
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
