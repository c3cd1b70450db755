"""Every Redis key the bus uses, in one place.

arq keeps its own keys under ``arq:`` (``arq:job:{id}``, ``arq:in-progress:{id}``,
``arq:result:{id}``, ``arq:retry:{id}``); our task ids are ``{job_id}:{attempt}``, so those keys
name the job and attempt too. Everything of ours lives under :data:`PREFIX`.
"""

from __future__ import annotations

PREFIX = "openft:"

TASK_QUEUE_PREFIX = PREFIX + "queue:"
"""``openft:queue:{worker_id}``: the arq queue (sorted set) of one worker."""

REPORTS_STREAM = PREFIX + "reports"
"""The stream of reports from all workers to the scheduler."""

REPORTS_GROUP = "scheduler"
"""The consumer group (and consumer) the scheduler reads :data:`REPORTS_STREAM` with."""

WORKER_PREFIX = PREFIX + "worker:"
"""``openft:worker:{worker_id}``: WorkerInfo JSON with a TTL (the heartbeat)."""

CONTROL_PREFIX = PREFIX + "control:"
"""``openft:control:{job_id}``: ``cancel`` or ``pause`` with a TTL."""

ATTEMPT_PREFIX = PREFIX + "attempt:"
"""``openft:attempt:{job_id}``: the newest attempt dispatched; older attempts must stop."""

TRAIN_FUNCTION = "train"
"""The arq function name of a training task."""


def task_queue(worker_id: str) -> str:
    return TASK_QUEUE_PREFIX + worker_id


def task_id(job_id: str, attempt: int) -> str:
    """arq job id of a task: unique per ``(job_id, attempt)``, which makes dispatch idempotent."""
    return f"{job_id}:{attempt}"


def worker(worker_id: str) -> str:
    return WORKER_PREFIX + worker_id


def control(job_id: str) -> str:
    return CONTROL_PREFIX + job_id


def attempt(job_id: str) -> str:
    return ATTEMPT_PREFIX + job_id
