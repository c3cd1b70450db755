"""Status changes of a job: every move goes through the transition table."""

from __future__ import annotations

import time

from sqlmodel import Session, select

from core.tables import Job, now
from scheduler.transitions import check_transition, is_terminal


def set_status(job: Job, new: str) -> None:
    """Move ``job`` to ``new`` (raises IllegalTransition) and stamp the times that go with it."""
    check_transition(job.status, new)
    job.status = new
    if new == "queued":
        job.queued_at = time.time()
    elif new == "running":
        job.started_at = time.time()
    if is_terminal(new):
        job.finished_at = now()
        job.estimated_finish = None
        job.requested = None


def load_job(session: Session, job_id: str, *, lock: bool = True) -> Job | None:
    """The job row, locked for update on PostgreSQL so scheduler and API do not interleave."""
    stmt = select(Job).where(Job.id == job_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.exec(stmt).first()
