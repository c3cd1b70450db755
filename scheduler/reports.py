"""Apply a worker's reports to the database, the source of truth.

A report from an attempt other than the job's current one (a worker that lost its lease and
came back, say) is ignored, and so is anything that arrives after the job reached a terminal
state: a cancelled job never publishes a model.
"""

from __future__ import annotations

import logging
import time

from sqlmodel import Session, col, select

from core import ids, protocol
from core.protocol import Report
from core.store import Store
from core.tables import Checkpoint, File, Job, Model, ServeCheck
from scheduler import events
from scheduler.jobs import change_status, fail_job, load_job
from scheduler.transitions import is_terminal

log = logging.getLogger(__name__)

KEEP_CHECKPOINTS = 3


def apply_report(session: Session, store: Store, report: Report) -> Job | None:
    """Record one report; returns the job when it changed state to ``succeeded``."""
    job = load_job(session, report.job_id)
    if job is None or report.attempt != job.attempts or is_terminal(job.status):
        log.info("ignoring %s report for %s (attempt %s)", report.kind, report.job_id, report.attempt)
        return None
    handler = _HANDLERS[report.kind]
    return handler(session, store, job, report)


def _started(session: Session, store: Store, job: Job, r: Report) -> None:
    if job.status == "queued":
        change_status(session, job, "running", events.STARTED)
        if job.resume_step:
            events.add_event(session, job.id, events.RESUMING.format(step=job.resume_step))


def _event(session: Session, store: Store, job: Job, r: Report) -> None:
    events.add_event(session, job.id, r.message or "", level=r.level, data=r.data)


def _metrics(session: Session, store: Store, job: Job, r: Report) -> None:
    assert r.step is not None
    total = r.total_steps or (job.plan.total_steps if job.plan else r.step)
    data = {**r.metrics, "step": r.step, "total_steps": total}
    events.add_event(
        session, job.id, events.metrics_message(r.step, total, r.metrics), type="metrics", data=data
    )
    if r.trained_tokens is not None:
        job.trained_tokens = r.trained_tokens
    if job.started_at and r.step > 0:
        rate = (time.time() - job.started_at) / r.step
        job.estimated_finish = int(time.time() + rate * max(0, total - r.step))


def _checkpoint(session: Session, store: Store, job: Job, r: Report) -> None:
    assert r.step is not None
    job.resume_step = r.step
    if not r.epoch_end:
        return
    assert job.plan is not None, "a job runs only once validated"
    model_id = checkpoint_model_id(job.plan.fine_tuned_model, r.step)
    session.add(Checkpoint(
        id=ids.checkpoint_id(), job_id=job.id, project_id=job.project_id, step_number=r.step,
        fine_tuned_model_checkpoint=model_id, metrics={"step": float(r.step), **r.metrics},
    ))
    session.add(Model(
        id=model_id, project_id=job.project_id, job_id=job.id, base_model=job.base_model,
        artifact_key=r.adapter_key or r.key or "", kind="checkpoint",
    ))
    events.add_event(session, job.id, events.CHECKPOINT.format(step=r.step, model=model_id))
    session.flush()
    _prune_checkpoints(session, job.id)


def checkpoint_model_id(fine_tuned_model: str, step: int) -> str:
    """``{the job's ft: id}:ckpt-step-{step}``: every checkpoint shares the final model's hash."""
    return f"{fine_tuned_model}:ckpt-step-{step}"


def _prune_checkpoints(session: Session, job_id: str) -> None:
    """Keep the checkpoints of the last three epochs, as OpenAI does; say which ones went."""
    rows = session.exec(
        select(Checkpoint).where(Checkpoint.job_id == job_id).order_by(col(Checkpoint.step_number).desc())
    ).all()
    for old in rows[KEEP_CHECKPOINTS:]:
        model = session.get(Model, old.fine_tuned_model_checkpoint)
        if model is not None:
            session.delete(model)
        session.delete(old)
        events.add_event(session, job_id, events.CHECKPOINT_PRUNED.format(
            step=old.step_number, model=old.fine_tuned_model_checkpoint, keep=KEEP_CHECKPOINTS))


def _paused(session: Session, store: Store, job: Job, r: Report) -> None:
    """The worker let go of the job after a pause request (the API already moved it to paused)."""
    if r.step is not None:
        job.resume_step = r.step
    job.worker_id = None
    job.dispatched_at = None
    job.lease_expires_at = None
    if job.status != "paused":  # a pause request outlived its job's resume: just place it again
        log.warning("stale pause of %s (status %s, attempt %s)", job.id, job.status, r.attempt)
        return
    job.requested = None
    events.add_event(session, job.id, events.PAUSED.format(step=job.resume_step or 0))


def _succeeded(session: Session, store: Store, job: Job, r: Report) -> Job:
    assert job.plan is not None, "a job runs only once validated"
    model_id = job.plan.fine_tuned_model
    result_file = _register_results(session, store, job, r)
    session.add(Model(
        id=model_id, project_id=job.project_id, job_id=job.id, base_model=job.base_model,
        artifact_key=r.model_key or protocol.model_prefix(model_id), kind="fine-tune",
    ))
    # the final checkpoint is the model itself (as on OpenAI)
    # the final checkpoint is the model itself (as on OpenAI); its ckpt-step id, named by an
    # earlier event, keeps resolving while the checkpoint is kept
    last = session.exec(
        select(Checkpoint).where(Checkpoint.job_id == job.id).order_by(col(Checkpoint.step_number).desc())
    ).first()
    if last is not None:
        last.fine_tuned_model_checkpoint = model_id
    job.fine_tuned_model = model_id
    job.trained_tokens = r.trained_tokens if r.trained_tokens is not None else job.trained_tokens or 0
    job.result_files = [result_file] if result_file else []
    job.worker_id = None
    events.add_event(session, job.id, events.MODEL_CREATED.format(model=model_id))
    change_status(session, job, "succeeded", events.SUCCEEDED)  # also from paused: it finished first
    if r.samples:  # the train-to-serve check, run by an API process (api.services.serve_checks)
        session.add(ServeCheck(job_id=job.id, model_id=model_id, samples=r.samples))
    return job


def _register_results(session: Session, store: Store, job: Job, r: Report) -> str | None:
    key = r.results_key or protocol.results_key(job.id)
    if not store.exists(key):
        return None
    file_id = ids.file_id()
    with store.writer(protocol.file_key(file_id)) as w:
        for chunk in store.iter_bytes(key):
            w.write(chunk)
    session.add(File(
        id=file_id, project_id=job.project_id, purpose="fine-tune-results", filename=f"{job.id}_results.csv",
        bytes=w.bytes_written, status="processed",
    ))
    return file_id


def _failed(session: Session, store: Store, job: Job, r: Report) -> None:
    job.worker_id = None
    fail_job(session, job, r.code or "training_failed", r.message or "training failed")


_HANDLERS = {
    "started": _started,
    "event": _event,
    "metrics": _metrics,
    "checkpoint": _checkpoint,
    "paused": _paused,
    "succeeded": _succeeded,
    "failed": _failed,
}
