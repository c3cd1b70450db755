"""Rows for jobs, their events and workers, written straight to the database.

For tests that need a job in a given state without running the scheduler (metrics, the SDK's
event following): nothing here goes through the transition table, so only use it where no
scheduler runs against the same database.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.services.keys import ensure_project
from core import ids
from core.tables import Job, JobEvent, Worker


def create_job(
    engine: Engine, project_id: str, *, status: str = "running", model: str = "tiny-chat",
    requirements: dict[str, Any] | None = None, **fields: Any,
) -> Job:
    """A job row of ``project_id`` in ``status``; ``fields`` set or override any column."""
    with Session(engine, expire_on_commit=False) as session:
        ensure_project(session, project_id)
        defaults: dict[str, Any] = {
            "id": ids.job_id(), "training_file": ids.file_id(), "seed": 42,
            "method": {"type": "supervised", "supervised": {"hyperparameters": {}}},
        }
        job = Job(**{**defaults, **fields}, project_id=project_id, model=model, base_model=model, status=status,
                  requirements=requirements or {})
        session.add(job)
        session.commit()
    return job


def set_job_status(engine: Engine, job_id: str, status: str) -> None:
    with Session(engine) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status = status
        session.commit()


def add_events(engine: Engine, job_id: str, events: list[dict[str, Any]]) -> list[str]:
    """Append events (``message`` plus optional ``type``, ``level``, ``data``) in order; their ids."""
    with Session(engine) as session:
        rows = [JobEvent(id=ids.event_id(), job_id=job_id, **event) for event in events]
        session.add_all(rows)
        session.commit()
        return [r.id for r in rows]


def metrics_event(step: int, total: int, **metrics: float) -> dict[str, Any]:
    """A ``metrics`` event as the scheduler writes it."""
    text = ", ".join(f"{k}={v:.2f}" for k, v in metrics.items())
    return {"message": f"Step {step}/{total}: {text}", "type": "metrics",
            "data": {"step": step, "total_steps": total, **metrics}}


def add_worker(engine: Engine, worker_id: str, devices: list[dict[str, Any]], *, age_s: float = 0.0) -> None:
    """A worker row whose last heartbeat was ``age_s`` seconds ago."""
    with Session(engine) as session:
        session.add(Worker(id=worker_id, devices=devices, last_heartbeat=time.time() - age_s))
        session.commit()
