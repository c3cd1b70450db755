"""Revision 0003_round_two upgrades a round-one (0002) database with data: a job validated under the old
``stats`` bag keeps its plan, an API key gets an id and a redacted value, and downgrading gives the bag back."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlmodel import Session

from core.db import _alembic_config, make_engine
from core.plan import JobPlan
from core.protocol import Hyperparameters
from core.settings import Settings
from core.tables import ApiKey, Job

HP = {"n_epochs": 3, "batch_size": 4, "learning_rate_multiplier": 1.0, "learning_rate": 0.0002, "beta": None}
OLD_STATS = {"model_id": "ft:tiny-chat:p:s:abcdEFGH", "n_train_examples": 12, "train_tokens": 340,
             "n_truncated": 1, "total_steps": 9, "hyperparameters": HP, "worker_losses": 2, "n_valid_examples": 5,
             "file_sha256": {"training_file": "ab" * 32}}


def _insert_job(conn, job_id: str, stats: dict) -> None:  # type: ignore[no-untyped-def]
    conn.execute(text(
        "INSERT INTO jobs (id, seq, project_id, model, base_model, training_file, status, method, hyperparameters, "
        "extensions, seed, suffix, result_files, created_at, priority, stats, requirements, attempts) VALUES "
        "(:id, 1, 'p', 'tiny-chat', 'org/tiny-chat', 'file-1', 'queued', '{}', '{}', '{}', 1, 's', '[]', 1, 0, "
        ":stats, '{}', 0)"), {"id": job_id, "stats": json.dumps(stats)})


def test_a_round_one_database_upgrades_with_its_jobs_and_keys_and_back(tmp_path: Path) -> None:
    engine = make_engine(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}"))
    cfg = _alembic_config(engine)
    command.upgrade(cfg, "0002")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO projects (id, created_at) VALUES ('p', 1)"))
        _insert_job(conn, "ftjob-validated", OLD_STATS)
        _insert_job(conn, "ftjob-not-dispatched", {k: v for k, v in OLD_STATS.items() if k != "model_id"})
        _insert_job(conn, "ftjob-validating", {})
        conn.execute(text("INSERT INTO api_keys (key_hash, project_id, admin, created_at) VALUES (:h, 'p', 0, 1)"),
                     {"h": "0123456789abcdef" * 4})
    command.upgrade(cfg, "head")
    with Session(engine) as session:
        validated = session.get(Job, "ftjob-validated")
        assert validated is not None and validated.worker_losses == 2
        assert validated.plan == JobPlan(
            fine_tuned_model="ft:tiny-chat:p:s:abcdEFGH", hyperparameters=Hyperparameters(**HP),
            n_train_examples=12, n_valid_examples=5, train_tokens=340, n_truncated=1, total_steps=9,
            file_sha256={"training_file": "ab" * 32})
        undispatched = session.get(Job, "ftjob-not-dispatched")
        assert undispatched is not None and undispatched.plan is not None
        assert undispatched.plan.fine_tuned_model.startswith("ft:tiny-chat:p:s:")
        assert len(undispatched.plan.fine_tuned_model.rsplit(":", 1)[-1]) == 8
        validating = session.get(Job, "ftjob-validating")
        assert validating is not None and (validating.plan, validating.worker_losses) == (None, 0)
        key = session.get(ApiKey, "0123456789abcdef" * 4)
        assert key is not None and key.redacted_value == "sk-openft-****cdef"
        assert key.id is not None and key.id.startswith("key_") and len(key.id) == 28
    command.downgrade(cfg, "0002")
    with engine.connect() as conn:
        stats = json.loads(conn.execute(text("SELECT stats FROM jobs WHERE id = 'ftjob-validated'")).scalar_one())
    assert stats == OLD_STATS
    engine.dispose()
