"""Defect 10: a cancel racing a success on PostgreSQL ends in a consistent pair, and a cancel
racing the end of validation on SQLite is not lost.

The success is applied in a transaction that is held open until the cancel request waits on
the job row; then it commits. A cancel that read the row without a lock would overwrite
``succeeded`` with ``cancelled`` after the model was published.
"""

from __future__ import annotations

import threading
import time

import pytest
from scheduler_factories import model_ids, reload, report, training_job
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.errors import InvalidRequest
from api.services import jobs as job_service
from core.db import session_scope
from core.store import Store
from scheduler import events
from scheduler.jobs import change_status, load_job
from scheduler.reports import apply_report


def wait_for_a_lock_waiter(engine: Engine, timeout: float = 30) -> None:
    """Until another backend of this database waits on a row lock."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).scalar()
            if waiting:
                return
            conn.rollback()
            time.sleep(0.02)
    raise AssertionError("the cancel never waited for the job row")


@pytest.mark.parametrize("backend", ["postgres-s3"], indirect=True)
def test_cancel_racing_success_ends_succeeded_with_a_model_or_cancelled_without(
    engine: Engine, store: Store,
) -> None:
    job = training_job(engine)
    outcome: dict[str, object] = {}

    def cancel() -> None:
        try:
            with session_scope(engine) as session:
                outcome["status"] = job_service.cancel_job(session, job.project_id, job.id).status
        except InvalidRequest as exc:
            outcome["refused"] = exc.message

    with Session(engine) as session:
        assert apply_report(session, store, report(job, "succeeded", trained_tokens=10)) is not None
        session.flush()  # the row is written (and locked) but not committed
        canceller = threading.Thread(target=cancel)
        canceller.start()
        wait_for_a_lock_waiter(engine)
        session.commit()
    canceller.join(30)
    row = reload(engine, job.id)
    models = model_ids(engine, job.id)
    assert job.plan is not None
    assert (row.status, row.fine_tuned_model) == ("succeeded", job.plan.fine_tuned_model)
    assert models == {row.fine_tuned_model}
    assert outcome == {"refused": "Cannot cancel a job with status succeeded."}


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_cancel_during_validation_on_sqlite_is_not_overwritten_by_queued(engine: Engine) -> None:
    job = training_job(engine, status="validating_files", worker_id=None)

    def cancel() -> None:
        with session_scope(engine) as session:
            job_service.cancel_job(session, job.project_id, job.id)

    with session_scope(engine) as session:  # the validation stage's closing transaction
        row = load_job(session, job.id)
        assert row is not None and row.status == "validating_files"
        canceller = threading.Thread(target=cancel)
        canceller.start()
        canceller.join(1.0)
        assert canceller.is_alive(), "the cancel must wait for the validation's write lock"
        change_status(session, row, "queued", events.VALIDATED)
    canceller.join(30)
    # the cancel came second and applies to the queued job; without the lock it came first and
    # the validation wrote `queued` over it
    assert reload(engine, job.id).status == "cancelled"
