"""Report intake (scheduler.reports): what each report a worker relays does to the job."""

from __future__ import annotations

import openai
import pytest
from scheduler_factories import checkpoints, messages, model_ids, reload, report, training_job
from sqlalchemy.engine import Engine

from api.errors import InvalidRequest
from api.services import jobs as job_service
from core.bus.memory import InProcessBus
from core.db import session_scope
from core.settings import Settings
from core.store import Store
from scheduler.service import Scheduler


@pytest.fixture
def scheduler(settings: Settings, engine: Engine, store: Store) -> Scheduler:
    return Scheduler(settings, engine, store, InProcessBus())


def epoch_end(job, step: int):  # type: ignore[no-untyped-def]
    key = f"jobs/{job.id}/checkpoints/step-{step}"
    return report(job, "checkpoint", step=step, epoch_end=True, metrics={"train_loss": 1.0},
                  key=key, adapter_key=f"{key}/adapter")


def test_checkpoint_ids_share_the_jobs_model_id_and_resolve(
    scheduler: Scheduler, engine: Engine, client: openai.OpenAI,
) -> None:
    """Defect 3: every checkpoint is ``{ft id}:ckpt-step-N``; what an event names resolves while kept."""
    job = training_job(engine, status="queued")
    model = job.plan.fine_tuned_model
    scheduler.apply(report(job, "started", total_steps=40))
    for step in (10, 20, 30, 40):
        scheduler.apply(epoch_end(job, step))
    assert checkpoints(engine, job.id) == [(s, f"{model}:ckpt-step-{s}") for s in (20, 30, 40)]
    log = messages(engine, job.id)
    named = [m.rsplit(" ", 1)[-1] for m in log if m.startswith("Checkpoint created")]
    assert named == [f"{model}:ckpt-step-{s}" for s in (10, 20, 30, 40)]
    assert f"Checkpoint at step 10 removed ({model}:ckpt-step-10); the last 3 are kept" in log
    for kept in named[1:]:
        assert client.models.retrieve(kept).id == kept
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve(named[0])

    scheduler.apply(report(job, "succeeded", trained_tokens=100, model_key="models/x"))
    assert reload(engine, job.id).status == "succeeded"
    assert checkpoints(engine, job.id)[-1] == (40, model)  # the final checkpoint is the model (as OpenAI)
    for kept in [*named[1:], model]:  # the step-40 id the event named still resolves
        assert client.models.retrieve(kept).id == kept


def test_a_report_from_an_older_attempt_is_ignored(scheduler: Scheduler, engine: Engine) -> None:
    job = training_job(engine, attempts=2)
    scheduler.apply(report(job, "failed", attempt=1, code="out_of_memory", message="old"))
    assert reload(engine, job.id).status == "running"


def test_failed_report_records_the_error_once(scheduler: Scheduler, engine: Engine) -> None:
    job = training_job(engine)
    scheduler.apply(report(job, "failed", code="out_of_memory", message="CUDA out of memory"))
    row = reload(engine, job.id)
    assert (row.status, row.error, row.worker_id) == (
        "failed", {"code": "out_of_memory", "message": "CUDA out of memory", "param": None}, None)
    assert row.finished_at is not None
    assert messages(engine, job.id).count("Fine-tuning job failed: CUDA out of memory") == 1


def test_success_after_cancel_publishes_nothing(scheduler: Scheduler, engine: Engine) -> None:
    job = training_job(engine)
    with session_scope(engine) as session:
        job_service.cancel_job(session, job.project_id, job.id)
    scheduler.apply(report(job, "succeeded", trained_tokens=10))
    row = reload(engine, job.id)
    assert (row.status, row.fine_tuned_model) == ("cancelled", None)
    assert model_ids(engine, job.id) == set()


def test_a_job_that_finishes_before_its_pause_takes_effect_succeeds(scheduler: Scheduler, engine: Engine) -> None:
    job = training_job(engine)
    with session_scope(engine) as session:
        assert job_service.pause_job(session, job.project_id, job.id).status == "paused"
    scheduler.apply(report(job, "succeeded", trained_tokens=10))
    row = reload(engine, job.id)
    assert (row.status, row.fine_tuned_model) == ("succeeded", job.plan.fine_tuned_model)
    with session_scope(engine) as session, pytest.raises(InvalidRequest, match="Cannot resume a job with status"):
        job_service.resume_job(session, job.project_id, job.id)


def test_pause_takes_effect_once_and_a_stale_pause_only_releases_the_job(
    scheduler: Scheduler, engine: Engine,
) -> None:
    """Defect 2: a pause report for a job that was resumed meanwhile does not pause it again."""
    job = training_job(engine)
    with session_scope(engine) as session:
        job_service.pause_job(session, job.project_id, job.id)
    scheduler.apply(report(job, "paused", step=4))
    row = reload(engine, job.id)
    assert (row.status, row.resume_step, row.worker_id, row.requested) == ("paused", 4, None, None)
    with session_scope(engine) as session:
        assert job_service.resume_job(session, job.project_id, job.id).status == "queued"
    # the next attempt is told to pause by a leftover request, before it trains
    with session_scope(engine) as session:
        row = session.get(type(row), job.id)
        assert row is not None
        row.attempts, row.worker_id = 2, "w-1"
    scheduler.apply(report(job, "paused", attempt=2, message="Paused before training started"))
    row = reload(engine, job.id)
    assert (row.status, row.worker_id, row.resume_step) == ("queued", None, 4)
    log = messages(engine, job.id)
    assert [m for m in log if "paus" in m.lower()] == ["Pausing fine-tuning job", "Fine-tuning job paused at step 4"]
