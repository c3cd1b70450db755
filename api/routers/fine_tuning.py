"""``/v1/fine_tuning/jobs``: thin handlers over :mod:`api.services.jobs`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Request

from api.deps import CallerDep, ProjectDep, SessionDep, SettingsDep, StoreDep
from api.pagination import AfterQuery, CursorPage, limit_query
from api.schemas.jobs import (
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    JobCreate,
    checkpoint_object,
    event_object,
    job_object,
)
from api.services import audit, data_reports, jobs, rate_limits

router = APIRouter(prefix="/fine_tuning/jobs", tags=["fine_tuning"])

_METADATA_KEY = re.compile(r"^metadata\[(.+)\]$")


@router.post("", response_model=FineTuningJob)
def create_job(body: JobCreate, session: SessionDep, settings: SettingsDep, project: ProjectDep,
               caller: CallerDep) -> dict[str, Any]:
    """Create a job (200, status ``validating_files``); 400 for an unknown model, file or bad value;
    429 ``quota_exceeded`` when the project has its quota of waiting jobs."""
    rate_limits.check_job_quota(session, project)
    job = jobs.create_job(session, settings, project, body)
    audit.record(session, caller.key_id, "fine_tuning.job.created", project,
                 {"id": job.id, "data": {"model": job.model, "training_file": job.training_file}})
    return job_object(job)


@router.get("", response_model=CursorPage[FineTuningJob])
def list_jobs(
    request: Request, session: SessionDep, project: ProjectDep,
    after: AfterQuery = None, limit: Annotated[int, limit_query(1000)] = 20,
) -> CursorPage[dict[str, Any]]:
    """The project's jobs, newest first; ``metadata[k]=v`` filters (``metadata=null``: none set)."""
    metadata = {m.group(1): v for k, v in request.query_params.multi_items() if (m := _METADATA_KEY.match(k))}
    rows, more = jobs.list_jobs(
        session, project, after=after, limit=limit, metadata=metadata,
        metadata_null=request.query_params.get("metadata") == "null",
    )
    return CursorPage[dict[str, Any]](data=[job_object(j) for j in rows], has_more=more)


@router.get("/{fine_tuning_job_id}", response_model=FineTuningJob)
def retrieve_job(fine_tuning_job_id: str, session: SessionDep, project: ProjectDep) -> dict[str, Any]:
    """One job (404 if it is not the caller's)."""
    return job_object(jobs.get_job(session, project, fine_tuning_job_id))


@router.get("/{fine_tuning_job_id}/data_report")
def get_data_report(
    fine_tuning_job_id: str, session: SessionDep, store: StoreDep, project: ProjectDep
) -> dict[str, Any]:
    """openft extension: the job's data quality report (duplicates, leakage, personal data and
    secrets, answer balance). 404 for an unknown job, or before its files have been read."""
    return data_reports.data_report(session, store, project, fine_tuning_job_id)


@router.post("/{fine_tuning_job_id}/cancel", response_model=FineTuningJob)
def cancel_job(fine_tuning_job_id: str, session: SessionDep, project: ProjectDep, caller: CallerDep) -> dict[str, Any]:
    """Cancel (200 ``cancelled``); 400 if the job already finished."""
    job = jobs.cancel_job(session, project, fine_tuning_job_id)
    audit.record(session, caller.key_id, "fine_tuning.job.cancelled", project, {"id": job.id})
    return job_object(job)


@router.post("/{fine_tuning_job_id}/pause", response_model=FineTuningJob)
def pause_job(fine_tuning_job_id: str, session: SessionDep, project: ProjectDep) -> dict[str, Any]:
    """Pause (200 ``paused``); 400 unless the job is queued or running."""
    return job_object(jobs.pause_job(session, project, fine_tuning_job_id))


@router.post("/{fine_tuning_job_id}/resume", response_model=FineTuningJob)
def resume_job(fine_tuning_job_id: str, session: SessionDep, project: ProjectDep) -> dict[str, Any]:
    """Resume a paused job (200 ``queued``); 400 unless it is paused."""
    return job_object(jobs.resume_job(session, project, fine_tuning_job_id))


@router.get("/{fine_tuning_job_id}/events", response_model=CursorPage[FineTuningJobEvent])
def list_events(
    fine_tuning_job_id: str, session: SessionDep, project: ProjectDep,
    after: AfterQuery = None, limit: Annotated[int, limit_query(1000)] = 20,
) -> CursorPage[dict[str, Any]]:
    """The job's events, newest first."""
    rows, more = jobs.list_events(session, project, fine_tuning_job_id, after=after, limit=limit)
    return CursorPage[dict[str, Any]](data=[event_object(e) for e in rows], has_more=more)


@router.get("/{fine_tuning_job_id}/checkpoints", response_model=CursorPage[FineTuningJobCheckpoint])
def list_checkpoints(
    fine_tuning_job_id: str, session: SessionDep, project: ProjectDep,
    after: AfterQuery = None, limit: Annotated[int, limit_query(1000)] = 10,
) -> CursorPage[dict[str, Any]]:
    """The job's checkpoints (last three epochs), newest first."""
    rows, more = jobs.list_checkpoints(session, project, fine_tuning_job_id, after=after, limit=limit)
    return CursorPage[dict[str, Any]](data=[checkpoint_object(c) for c in rows], has_more=more)
