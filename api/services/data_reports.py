"""The data quality report of a job (``GET /v1/fine_tuning/jobs/{id}/data_report``).

Written by the scheduler's ``validating_files`` stage (``scheduler.data_policy``) once the files
parsed; see ``core.data_quality`` for what it holds.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from api.errors import NotFound
from api.services.jobs import get_job
from core import protocol
from core.store import ObjectNotFound, Store


def data_report(session: Session, store: Store, project_id: str, job_id: str) -> dict[str, Any]:
    """The report with ``object``, ``job_id`` and ``file_id`` (its ``fine-tune-results`` file);
    404 for another project's job, or while (or when) the files could not be read."""
    job = get_job(session, project_id, job_id)
    try:
        report: dict[str, Any] = json.loads(store.read_bytes(protocol.data_report_key(job.id)))
    except ObjectNotFound as exc:
        raise NotFound(f"Fine-tuning job {job_id} has no data report yet: it is written once its files "
                       "have been read in validating_files.", param="fine_tuning_job_id",
                       code="data_report_not_found") from exc
    return {"object": "fine_tuning.job.data_report", "job_id": job.id,
            "file_id": job.plan.data_report_file if job.plan is not None else None, **report}
