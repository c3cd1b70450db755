"""jobs: one typed plan (``plan``) and a ``worker_losses`` counter replace the ``stats`` bag

Revision ID: 0003_job_plan
Revises: 0003_files_deleted_at
"""
import json
import secrets
import string

import sqlalchemy as sa
from alembic import op

revision = '0003_job_plan'
down_revision = '0003_files_deleted_at'
branch_labels = None
depends_on = None

_PLAN_KEYS = ("hyperparameters", "n_train_examples", "total_steps")
_ALPHABET = string.ascii_letters + string.digits


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _plan_from_stats(row) -> dict | None:
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


def upgrade() -> None:
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


def downgrade() -> None:
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
