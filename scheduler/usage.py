"""What a fine-tuning job used, for the admin API's usage and costs reports and GPU-hour quotas.

Each job has one ``usage_records`` row (``job_id`` is unique). Every time the job leaves
``running`` its running time is added to the row's ``gpu_seconds`` (device-seconds: one device
per job, a CPU device counts the same), so a job that was paused, or lost its worker and
resumed elsewhere, is charged for each stretch it ran. While the job is not finished the row's
kind is ``fine_tuning.open``; when it ends (succeeded, failed or cancelled) it becomes
``fine_tuning`` with the job's trained tokens and the end time, and appears in the reports.
"""

from __future__ import annotations

import time

from sqlmodel import Session, select

from core.tables import Job, UsageRecord, now
from scheduler.transitions import TERMINAL

OPEN, CLOSED = "fine_tuning.open", "fine_tuning"


def _row(session: Session, job: Job) -> UsageRecord:
    row = session.exec(select(UsageRecord).where(UsageRecord.job_id == job.id)).first()
    if row is None:
        row = UsageRecord(kind=OPEN, project_id=job.project_id, model=job.base_model, job_id=job.id)
    return row


def on_status_change(session: Session, job: Job, new: str) -> None:
    """Account for ``job`` moving from its current status to ``new`` (called before the move)."""
    ran = job.status == "running" and new != "running" and job.started_at is not None
    if not ran and new not in TERMINAL:
        return
    row = _row(session, job)
    if ran:
        row.gpu_seconds += max(0.0, time.time() - float(job.started_at or 0.0))
    if new in TERMINAL:
        row.kind, row.created_at = CLOSED, now()
        row.trained_tokens = int(job.trained_tokens or 0)
    session.add(row)
