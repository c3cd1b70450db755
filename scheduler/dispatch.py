"""Dispatch: turn placement decisions into job specs in the store and tasks on the bus."""

from __future__ import annotations

import time

from sqlmodel import Session

from core import protocol
from core.catalog import get_catalog
from core.settings import Settings
from core.store import Store
from core.tables import Job, Model, ProjectIntegration
from scheduler.placement import Assignment


def build_spec(session: Session, settings: Settings, job: Job) -> protocol.JobSpec:
    """The :class:`JobSpec` a worker runs for ``job``'s current attempt, from its plan."""
    plan = job.plan
    if plan is None:
        raise ValueError(f"job {job.id} has no plan: it was never validated")
    entry = get_catalog(settings).require(job.base_model)
    parent = None
    if job.parent_model:
        model = session.get(Model, job.parent_model)
        if model is not None:
            parent = protocol.ParentModelSpec(id=model.id, artifact_key=model.artifact_key)
    return protocol.JobSpec(
        job_id=job.id,
        attempt=job.attempts,
        project_id=job.project_id,
        method=job.method["type"],
        grader=job.method.get("reinforcement", {}).get("grader"),
        base_model=entry.spec(),
        parent_model=parent,
        training_file=job.training_file,
        validation_file=job.validation_file,
        hyperparameters=plan.hyperparameters,
        seed=job.seed,
        fine_tuned_model=plan.fine_tuned_model,
        extensions=dict(job.extensions),
        resume_step=job.resume_step,
        n_train_examples=plan.n_train_examples,
        total_steps=plan.total_steps,
        file_sha256=dict(plan.file_sha256),
        data_keys=dict(plan.data_keys),
        devices=list((job.placement or {}).get("devices") or []),
        parallelism=(job.placement or {}).get("parallelism", "single"),
        wandb=wandb_spec(session, job),
    )


def wandb_spec(session: Session, job: Job) -> protocol.WandbSpec | None:
    """The job's W&B integration with the project's own key (when the admin API set one), or None."""
    entry = next((i for i in job.integrations or [] if i.get("type") == "wandb"), None)
    if entry is None:
        return None
    key = session.get(ProjectIntegration, (job.project_id, "wandb"))
    options = entry["wandb"]
    return protocol.WandbSpec(project=options["project"], entity=options.get("entity"), name=options.get("name"),
                              tags=list(options.get("tags") or []), api_key=key.secret if key else None)


def prepare_dispatch(session: Session, settings: Settings, store: Store, job: Job,
                     assignment: Assignment) -> None:
    """Claim ``job`` for the assignment's worker and devices (a new attempt) and write its spec
    to the store."""
    job.attempts += 1
    job.worker_id = assignment.worker_id
    job.placement = {"devices": list(assignment.devices), "kind": assignment.device_kind,
                     "parallelism": assignment.parallelism, "memory": assignment.memory}
    job.dispatched_at = time.time()
    job.lease_expires_at = time.time() + settings.worker_lease_seconds + settings.dispatch_timeout_seconds
    store.write_json(protocol.spec_key(job.id), build_spec(session, settings, job).model_dump(mode="json"))
