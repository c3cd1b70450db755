"""Fine-tuning jobs: create, read, and the state changes a caller may ask for.

Creation only records the job (status ``validating_files``); the scheduler picks it up from
the database. Cancel, pause and resume change the row at once (the database is the truth) and
leave a ``requested`` mark that the scheduler relays to the worker holding the job.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from api.errors import InvalidRequest, NotFound
from api.pagination import paginate
from api.schemas.jobs import JobCreate
from api.services import files
from api.services.evals_finetune import attach as attach_eval
from api.services.evals_finetune import take_job_option
from api.services.models import can_use
from core import ids
from core.catalog import get_catalog
from core.protocol import Extensions
from core.settings import Settings
from core.tables import Checkpoint, Job, JobEvent, Model
from scheduler import events, reinforcement
from scheduler.hyperparams import HyperparameterError, job_hyperparameters, validate_method
from scheduler.jobs import change_status, load_job
from scheduler.transitions import IllegalTransition


def create_job(session: Session, settings: Settings, project_id: str, req: JobCreate) -> Job:
    """Record a new job; 400 for an unknown model or file, or hyperparameters out of range."""
    base_model, parent_model = _resolve_model(session, settings, project_id, req.model)
    _check_file(session, project_id, req.training_file, "training_file")
    if req.validation_file is not None:
        _check_file(session, project_id, req.validation_file, "validation_file")
    try:
        method = validate_method(req.method, req.hyperparameters)
        method = reinforcement.check_grader(method, settings, req.validation_file)
    except HyperparameterError as exc:
        raise InvalidRequest(exc.message, param=exc.param, code=exc.code) from exc
    eval_hook = take_job_option(session, project_id, req.openft)  # openft.eval_id (api.services.evals_finetune)
    extensions, priority = _extensions(req.openft)
    job = Job(
        id=ids.job_id(),
        project_id=project_id,
        model=req.model,
        base_model=base_model,
        parent_model=parent_model,
        training_file=req.training_file,
        validation_file=req.validation_file,
        method=method,
        hyperparameters=job_hyperparameters(method),
        extensions=extensions,
        priority=priority,
        seed=req.seed if req.seed is not None else secrets.randbelow(2**31),
        suffix=req.suffix,
        metadata_=req.metadata,
        integrations=[i.model_dump(exclude_none=True) for i in req.integrations] if req.integrations else None,
    )
    session.add(job)
    session.flush()
    attach_eval(session, job, eval_hook)
    events.add_event(session, job.id, events.CREATED.format(job_id=job.id))
    events.add_event(session, job.id, events.validating_message(job.training_file, job.validation_file))
    return job


def _resolve_model(session: Session, settings: Settings, project_id: str, name: str) -> tuple[str, str | None]:
    """(catalog base name, parent ft: model or None) for a job's ``model``."""
    if name.startswith("ft:"):
        model = session.get(Model, name)
        if model is not None and can_use(session, project_id, model):
            return model.base_model, model.id
    elif get_catalog(settings).get(name) is not None:
        return name, None
    raise InvalidRequest(
        f"Model {name} is not available for fine-tuning or does not exist.",
        param="model", code="model_not_available",
    )


def _check_file(session: Session, project_id: str, file_id: str, param: str) -> None:
    file = files.find_file(session, project_id, file_id)
    if file is None:
        raise InvalidRequest(f"invalid {param}: {file_id}", param=param)
    if file.purpose != "fine-tune":
        raise InvalidRequest(
            f"invalid {param}: {file_id} has purpose '{file.purpose}', expected 'fine-tune'", param=param
        )


def _extensions(raw: dict[str, Any] | None) -> tuple[dict[str, Any], int]:
    """The job's engine extension fields (as sent) and its scheduling ``priority``; 400 naming the field."""
    fields = dict(raw or {})
    priority = fields.pop("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise InvalidRequest("openft.priority must be an integer", param="openft[priority]")
    unknown = sorted(set(fields) - set(Extensions.model_fields))
    if unknown:
        raise InvalidRequest(f"Unknown openft extension field(s): {', '.join(unknown)}",
                             param=f"openft[{unknown[0]}]", code="invalid_value")
    try:
        Extensions.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        raise InvalidRequest(f"openft.{name}: {error['msg']}", param=f"openft[{name}]") from exc
    return fields, priority


def get_job(session: Session, project_id: str, job_id: str, *, lock: bool = False) -> Job:
    """The caller's job, or 404 (another project's job reads as missing).

    ``lock``: load it ``FOR UPDATE`` (on PostgreSQL), as every state change must, so that a
    change the scheduler commits meanwhile (a success, say) is seen rather than overwritten.
    """
    job = load_job(session, job_id, lock=lock)
    if job is None or job.project_id != project_id:
        raise NotFound(f"Could not find fine-tune: {job_id}", param="fine_tuning_job_id", code="fine_tune_not_found")
    return job


def list_jobs(
    session: Session, project_id: str, *, after: str | None, limit: int, metadata: dict[str, str] | None,
    metadata_null: bool = False,
) -> tuple[list[Job], bool]:
    """Newest first; ``metadata`` keeps jobs whose metadata holds every given pair."""
    stmt = select(Job).where(Job.project_id == project_id)
    if metadata_null:
        stmt = stmt.where(col(Job.metadata_).is_(None))
    if not metadata:
        return paginate(session, stmt, Job, sort=(Job.created_at, Job.seq), after=after, limit=limit)
    # JSON filtering differs between SQLite and PostgreSQL; filter in Python over a keyset scan.
    rows: list[Job] = []
    cursor = after
    while True:
        page, more = paginate(session, stmt, Job, sort=(Job.created_at, Job.seq), after=cursor, limit=200)
        for job in page:
            if job.metadata_ and all(job.metadata_.get(k) == v for k, v in metadata.items()):
                rows.append(job)
                if len(rows) > limit:
                    return rows[:limit], True
        if not more or not page:
            return rows, False
        cursor = page[-1].id


def cancel_job(session: Session, project_id: str, job_id: str) -> Job:
    """Cancel now; a worker still holding the job is told to stop. 400 if already finished."""
    job = get_job(session, project_id, job_id, lock=True)
    _move(session, job, "cancelled", "cancel", events.CANCELLED)
    if job.worker_id:
        job.requested = "cancel"
    return job


def pause_job(session: Session, project_id: str, job_id: str) -> Job:
    """Pause a queued or running job; a running one writes a checkpoint and frees its device."""
    job = get_job(session, project_id, job_id, lock=True)
    held = job.worker_id is not None
    message = events.PAUSE_REQUESTED if held else events.PAUSED.format(step=job.resume_step or 0)
    _move(session, job, "paused", "pause", message)
    if held:
        job.requested = "pause"
    return job


def resume_job(session: Session, project_id: str, job_id: str) -> Job:
    """Queue a paused job again; it continues from the checkpoint written when it paused."""
    job = get_job(session, project_id, job_id, lock=True)
    if job.status == "paused" and job.worker_id:
        raise InvalidRequest(
            f"Job {job_id} is still writing its pause checkpoint; resume it in a few seconds.",
            param="fine_tuning_job_id", code="invalid_state",
        )
    _move(session, job, "queued", "resume", events.RESUMED.format(step=job.resume_step or 0))
    return job


def _move(session: Session, job: Job, new: str, verb: str, message: str) -> None:
    try:
        change_status(session, job, new, message, action=verb)
    except IllegalTransition as exc:
        raise InvalidRequest(
            f"Cannot {verb} a job with status {job.status}.", param="fine_tuning_job_id", code="invalid_state"
        ) from exc


def list_events(
    session: Session, project_id: str, job_id: str, *, after: str | None, limit: int
) -> tuple[list[JobEvent], bool]:
    """A job's events, newest first."""
    get_job(session, project_id, job_id)
    stmt = select(JobEvent).where(JobEvent.job_id == job_id)
    return paginate(session, stmt, JobEvent, sort=(JobEvent.seq,), after=after, limit=limit)


def list_checkpoints(
    session: Session, project_id: str, job_id: str, *, after: str | None, limit: int
) -> tuple[list[Checkpoint], bool]:
    """A job's checkpoints, newest first (the last three epochs)."""
    get_job(session, project_id, job_id)
    stmt = select(Checkpoint).where(Checkpoint.job_id == job_id)
    return paginate(
        session, stmt, Checkpoint, sort=(Checkpoint.step_number, Checkpoint.id), after=after, limit=limit
    )
