"""A job ready for the scheduler's report intake and placement, and reading it back."""

from __future__ import annotations

from typing import Any

from job_factories import create_job
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core import ids
from core.plan import JobPlan
from core.protocol import Hyperparameters, Report
from core.tables import Checkpoint, Job, JobEvent, Model

HYPERPARAMETERS = Hyperparameters(n_epochs=2, batch_size=2, learning_rate_multiplier=1.0, learning_rate=2e-4)


def training_job(engine: Engine, project_id: str = "proj-a", *, status: str = "running", attempts: int = 1,
                 worker_id: str | None = "w-1", **fields: Any) -> Job:
    """A validated job (its plan as validation writes it) held by ``worker_id``."""
    plan = JobPlan(fine_tuned_model=ids.fine_tuned_model_id("tiny-chat", project_id, None),
                   hyperparameters=HYPERPARAMETERS, n_train_examples=10, train_tokens=200, total_steps=10)
    return create_job(engine, project_id, status=status, attempts=attempts, worker_id=worker_id, plan=plan,
                      **fields)


def report(job: Job, kind: str, **fields: Any) -> Report:
    return Report(kind=kind, job_id=job.id, attempt=fields.pop("attempt", job.attempts), **fields)  # type: ignore[arg-type]


def reload(engine: Engine, job_id: str) -> Job:
    with Session(engine, expire_on_commit=False) as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def messages(engine: Engine, job_id: str) -> list[str]:
    """The job's event messages, oldest first."""
    with Session(engine) as session:
        rows = session.exec(select(JobEvent).where(JobEvent.job_id == job_id).order_by(col(JobEvent.seq))).all()
        return [e.message for e in rows]


def checkpoints(engine: Engine, job_id: str) -> list[tuple[int, str]]:
    """``(step, fine_tuned_model_checkpoint)`` of the job's checkpoints, oldest first."""
    with Session(engine) as session:
        rows = session.exec(select(Checkpoint).where(Checkpoint.job_id == job_id)
                            .order_by(col(Checkpoint.step_number))).all()
        return [(c.step_number, c.fine_tuned_model_checkpoint) for c in rows]


def model_ids(engine: Engine, job_id: str) -> set[str]:
    with Session(engine) as session:
        return set(session.exec(select(Model.id).where(Model.job_id == job_id)).all())
