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
Create Date: 2026-11-30 08:30:00
"""
import json
import secrets
import string
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003_round_two'
down_revision = '0002'
branch_labels = None
depends_on = None

_PLAN_KEYS = ("hyperparameters", "n_train_examples", "total_steps")
_ALPHABET = string.ascii_letters + string.digits
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _text(name: str, length: int, nullable: bool = False) -> sa.Column:
    """A ``VARCHAR(length)`` column, as SQLModel declares a ``str`` field."""
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def _col(name: str, type_: Any, nullable: bool = False) -> sa.Column:
    return sa.Column(name, type_, nullable=nullable)


def _seq() -> sa.Column:
    """The autoincrement ``seq`` primary key of an append-only table."""
    return sa.Column('seq', _SEQ, autoincrement=True, nullable=False)


def _claim() -> list[sa.Column]:
    """The lease columns of a row that a background runner claims (attempts, claimed_at)."""
    return [_col('attempts', sa.Integer()), _col('claimed_at', sa.Float(), True)]


def _fk(column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [target])


def _index(table: str, name: str, columns: list[str], unique: bool = False) -> None:
    op.create_index(name, table, columns, unique=unique)


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
        for column in (_text('name', 256, True), _col('archived_at', sa.Integer(), True),
                       _col('max_running_jobs', sa.Integer(), True), _col('max_queued_jobs', sa.Integer(), True),
                       _col('max_gpu_hours_per_month', sa.Float(), True)):
            batch_op.add_column(column)
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        for column in (_text('id', 64, True), _text('name', 256, True), _text('redacted_value', 64, True),
                       _text('service_account_id', 64, True), _col('last_used_at', sa.Integer(), True),
                       _col('expires_at', sa.Integer(), True)):
            batch_op.add_column(column)
    conn = op.get_bind()
    for (key_hash,) in conn.execute(sa.text("SELECT key_hash FROM api_keys")).fetchall():
        conn.execute(sa.text("UPDATE api_keys SET id = :id, redacted_value = :r WHERE key_hash = :h"),
                     {"id": _key_id(), "r": "sk-openft-****" + key_hash[-4:], "h": key_hash})
    _index('api_keys', 'ix_api_keys_id', ['id'], unique=True)
    _index('api_keys', 'ix_api_keys_service_account_id', ['service_account_id'])


def _admin_tables() -> None:
    """Service accounts, the audit log, rate limits and their windows, usage records."""
    op.create_table(
        'service_accounts',
        _text('id', 64), _text('project_id', 64), _text('name', 256), _text('role', 16),
        _col('created_at', sa.Integer()),
        _fk('project_id', 'projects.id'), sa.PrimaryKeyConstraint('id'))
    _index('service_accounts', 'ix_service_accounts_project_id', ['project_id'])
    op.create_table(
        'audit_logs',
        _seq(), _text('id', 64), _col('effective_at', sa.Integer()), _text('type', 64),
        _text('project_id', 64, True), _text('actor_key_id', 64, True), _col('details', sa.JSON()),
        sa.PrimaryKeyConstraint('seq'), sa.UniqueConstraint('id'))
    _index('audit_logs', 'ix_audit_logs_effective', ['effective_at', 'seq'])
    for column in ('type', 'project_id', 'actor_key_id'):
        _index('audit_logs', f'ix_audit_logs_{column}', [column])
    op.create_table(
        'rate_limits',
        _text('project_id', 64), _text('model', 512),
        _col('max_requests_per_1_minute', sa.Integer(), True), _col('max_tokens_per_1_minute', sa.Integer(), True),
        _fk('project_id', 'projects.id'), sa.PrimaryKeyConstraint('project_id', 'model'))
    op.create_table(
        'rate_windows',
        _text('project_id', 64), _text('model', 512), _col('window_start', sa.Integer()),
        _col('requests', sa.Integer()), _col('tokens', sa.BigInteger()),
        sa.PrimaryKeyConstraint('project_id', 'model', 'window_start'))
    op.create_table(
        'usage_records',
        _seq(), _text('kind', 16), _text('project_id', 64), _text('model', 512), _text('api_key_id', 64, True),
        _text('job_id', 64, True), _col('created_at', sa.Integer()), _col('input_tokens', sa.BigInteger()),
        _col('output_tokens', sa.BigInteger()), _col('requests', sa.Integer()),
        _col('trained_tokens', sa.BigInteger()), _col('gpu_seconds', sa.Float()),
        sa.PrimaryKeyConstraint('seq'), sa.UniqueConstraint('job_id'))
    _index('usage_records', 'ix_usage_records_created', ['created_at', 'project_id'])


def _merges() -> None:
    op.create_table(
        'merges',
        _text('id', 64), _text('project_id', 64), _text('status', 16), _text('base_model', 512),
        _col('models', sa.JSON()), _text('method', 16), _col('weights', sa.JSON()),
        _col('density', sa.Float(), True), _text('suffix', 64, True), _text('fine_tuned_model', 512),
        _col('error', sa.JSON(), True), *_claim(), _col('created_at', sa.Integer()),
        _col('finished_at', sa.Integer(), True),
        _fk('project_id', 'projects.id'), sa.PrimaryKeyConstraint('id'))
    _index('merges', 'ix_merges_project_created', ['project_id', 'created_at'])
    _index('merges', 'ix_merges_status', ['status'])


def _models_job_id(nullable: bool) -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.alter_column('job_id', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=nullable)


def _evals() -> None:
    """Evals, fine-tuning job hooks, eval runs and their output items."""
    op.create_table(
        'evals',
        _text('id', 64), _col('seq', sa.BigInteger()), _text('project_id', 64), _text('name', 512),
        _col('data_source_config', sa.JSON()), _col('testing_criteria', sa.JSON()),
        _col('metadata', sa.JSON(), True), _col('created_at', sa.Integer()), _col('updated_at', sa.Integer()),
        _col('updated_seq', sa.BigInteger()),
        _fk('project_id', 'projects.id'), sa.PrimaryKeyConstraint('id'))
    _index('evals', 'ix_evals_project_created', ['project_id', 'created_at', 'seq'])
    op.create_table(
        'eval_job_hooks',
        _text('job_id', 64), _text('eval_id', 64), _col('data_source', sa.JSON()), _text('status', 16),
        _col('created_at', sa.Integer()),
        _fk('eval_id', 'evals.id'), _fk('job_id', 'jobs.id'), sa.PrimaryKeyConstraint('job_id'))
    _index('eval_job_hooks', 'ix_eval_job_hooks_status', ['status'])
    op.create_table(
        'eval_runs',
        _text('id', 64), _col('seq', sa.BigInteger()), _text('eval_id', 64), _text('project_id', 64),
        _text('name', 512), _text('model', 512), _text('status', 16), _col('data_source', sa.JSON()),
        _col('metadata', sa.JSON(), True), _col('error', sa.JSON(), True), _col('result_counts', sa.JSON()),
        _col('per_testing_criteria_results', sa.JSON()), _col('per_model_usage', sa.JSON()),
        _col('total_items', sa.Integer()), *_claim(), _text('job_id', 64, True),
        _col('model_step', sa.Integer(), True), _col('created_at', sa.Integer()),
        _col('finished_at', sa.Integer(), True),
        _fk('eval_id', 'evals.id'), _fk('project_id', 'projects.id'), sa.PrimaryKeyConstraint('id'))
    _index('eval_runs', 'ix_eval_runs_eval_created', ['eval_id', 'created_at', 'seq'])
    for column in ('job_id', 'project_id', 'status'):
        _index('eval_runs', f'ix_eval_runs_{column}', [column])
    op.create_table(
        'eval_output_items',
        _text('id', 64), _text('run_id', 64), _text('eval_id', 64), _col('datasource_item_id', sa.Integer()),
        _col('datasource_item', sa.JSON()), _col('results', sa.JSON()), _col('sample', sa.JSON()),
        _text('status', 8), _col('created_at', sa.Integer()),
        _fk('run_id', 'eval_runs.id'), sa.PrimaryKeyConstraint('id'))
    _index('eval_output_items', 'ix_eval_output_items_run_item', ['run_id', 'datasource_item_id'], unique=True)


def _webhooks() -> None:
    """The delivery outbox and the endpoints it delivers to."""
    op.create_table(
        'webhook_deliveries',
        _seq(), _text('id', 64), _text('endpoint_id', 64), _text('project_id', 64), _text('event_type', 64),
        _col('payload', sa.JSON()), _text('status', 16), _col('attempts', sa.JSON()),
        _col('next_attempt_at', sa.Float()), _col('claimed_at', sa.Float(), True), _col('created_at', sa.Integer()),
        _col('delivered_at', sa.Integer(), True),
        sa.PrimaryKeyConstraint('seq'), sa.UniqueConstraint('id'))
    _index('webhook_deliveries', 'ix_webhook_deliveries_due', ['status', 'next_attempt_at'])
    _index('webhook_deliveries', 'ix_webhook_deliveries_endpoint', ['endpoint_id', 'created_at', 'seq'])
    op.create_table(
        'webhook_endpoints',
        _seq(), _text('id', 64), _text('project_id', 64), _text('name', 256), _text('url', 2048),
        _col('event_types', sa.JSON()), _text('secret', 128), _text('old_secret', 128, True),
        _col('old_secret_expires_at', sa.Integer(), True), _col('created_at', sa.Integer()),
        _col('updated_at', sa.Integer()),
        _fk('project_id', 'projects.id'), sa.PrimaryKeyConstraint('seq'), sa.UniqueConstraint('id'))
    _index('webhook_endpoints', 'ix_webhook_endpoints_project_created', ['project_id', 'created_at', 'seq'])


def _checkpoint_permissions() -> None:
    op.create_table(
        'checkpoint_permissions',
        _seq(), _text('id', 64), _text('model_id', 512), _text('project_id', 64), _col('created_at', sa.Integer()),
        sa.PrimaryKeyConstraint('seq'), sa.UniqueConstraint('id'))
    _index('checkpoint_permissions', 'ix_checkpoint_permissions_model_project', ['model_id', 'project_id'],
           unique=True)
    _index('checkpoint_permissions', 'ix_checkpoint_permissions_project_id', ['project_id'])


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
