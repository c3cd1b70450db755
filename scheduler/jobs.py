"""Status changes of a job: the one place that writes ``Job.status``.

:func:`change_status` checks the move against the transition table, stamps the times that go
with it, writes the event and, for a failure, the error; :func:`fail_job` is its failure form.
Every caller (the API's cancel/pause/resume, validation, placement, lease reconciliation, the
worker's reports) goes through them, with the row loaded by :func:`load_job` (locked for update
on PostgreSQL), so a state change never overwrites one that committed meanwhile.
"""

from __future__ import annotations

import time
from typing import Any

from sqlmodel import Session, select

from core.tables import Job, now
from scheduler import events, usage, webhook_outbox
from scheduler.events import Level
from scheduler.transitions import TERMINAL, check_transition


def change_status(
    session: Session, job: Job, new: str, message: str | None, *,
    level: Level = "info", action: str | None = None, data: dict[str, Any] | None = None,
) -> None:
    """Move ``job`` to ``new`` and log ``message`` as its event (None: no event).

    Raises :class:`~scheduler.transitions.IllegalTransition` for a move the table refuses
    (``action`` words the refusal: "Cannot {action} a job with status X"); nothing is written then.
    """
    check_transition(job.status, new, action)
    usage.on_status_change(session, job, new)
    job.status = new
    if new == "queued":
        job.queued_at = time.time()
    elif new == "running":
        job.started_at = time.time()
    if new in TERMINAL:
        job.finished_at = now()
        job.estimated_finish = None
        job.requested = None
    if message is not None:
        events.add_event(session, job.id, message, level=level, data=data)
    if new in webhook_outbox.JOB_EVENTS:  # the delivery commits with the status (the outbox)
        webhook_outbox.enqueue(session, job.project_id, webhook_outbox.JOB_EVENTS[new], job.id)


def fail_job(session: Session, job: Job, code: str, message: str, param: str | None = None) -> None:
    """Move ``job`` to ``failed`` with ``error = {code, message, param}`` and the failure event."""
    check_transition(job.status, "failed")
    job.error = {"code": code, "message": message, "param": param}
    change_status(session, job, "failed", events.FAILED.format(message=message), level="error")


def load_job(session: Session, job_id: str, *, lock: bool = True) -> Job | None:
    """The job row, locked for update so that the API, the scheduler and report intake never
    interleave their changes to one job: ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the
    database's one write lock, taken before the read (:func:`_hold_sqlite_write_lock`)."""
    stmt = select(Job).where(Job.id == job_id)
    dialect = session.get_bind().dialect.name
    if lock and dialect == "postgresql":
        stmt = stmt.with_for_update()
    elif lock and dialect == "sqlite":
        _hold_sqlite_write_lock(session)
    return session.exec(stmt).first()


def _hold_sqlite_write_lock(session: Session) -> None:
    """Open the session's SQLite transaction with ``BEGIN IMMEDIATE``. The driver begins one only
    at the first write, so a read before it sees a row that another writer may change before this
    session writes its own version back (a cancel lost under a validation's ``queued``); holding
    the write lock from the read on makes the other writer wait, as ``FOR UPDATE`` does."""
    raw = session.connection().connection.dbapi_connection
    if raw is not None and not raw.in_transaction:  # in one already: this session wrote, it holds the lock
        raw.execute("BEGIN IMMEDIATE")
