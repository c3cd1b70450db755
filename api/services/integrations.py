"""A project's W&B key (admin API): set, read (as a hint), delete; the scheduler reads it for a job's spec.

Changes are audited as ``project.integration.updated|deleted`` with the integration's id
(``wandb``) and never the key. Jobs of the project created with a ``wandb`` integration log with
this key; without one, the workers use the operator's ``OPENFT_WANDB_API_KEY``.
"""

from __future__ import annotations

from sqlmodel import Session

from api.errors import NotFound
from api.schemas.integrations import ProjectIntegrationDeleted, ProjectIntegrationObject, WandbKeySet
from api.services import audit, projects
from api.services.keys import Caller
from core.tables import ProjectIntegration, now

WANDB = "wandb"


def _object(row: ProjectIntegration) -> ProjectIntegrationObject:
    return ProjectIntegrationObject(project_id=row.project_id, api_key_hint=row.secret_hint,
                                    created_at=row.created_at, updated_at=row.updated_at)


def _row(session: Session, project_id: str) -> ProjectIntegration:
    projects.get(session, project_id)
    row = session.get(ProjectIntegration, (project_id, WANDB))
    if row is None:
        raise NotFound(f"Project {project_id} has no W&B key; set one with POST.", param="project_id",
                       code="not_found")
    return row


def set_wandb_key(session: Session, caller: Caller, project_id: str, body: WandbKeySet) -> ProjectIntegrationObject:
    """Set or replace the project's W&B key. 400 when the project is archived; 404 unknown project."""
    projects.get(session, project_id, active=True)
    key = body.api_key.get_secret_value()
    row = session.get(ProjectIntegration, (project_id, WANDB))
    if row is None:
        row = ProjectIntegration(project_id=project_id, type=WANDB, secret=key, secret_hint="")
        session.add(row)
    row.secret, row.secret_hint, row.updated_at = key, "..." + key[-4:], now()
    audit.record(session, caller.key_id, "project.integration.updated", project_id, {"id": WANDB})
    session.flush()
    return _object(row)


def retrieve_wandb_key(session: Session, project_id: str) -> ProjectIntegrationObject:
    """The project's W&B key as a hint. 404 when none is set."""
    return _object(_row(session, project_id))


def delete_wandb_key(session: Session, caller: Caller, project_id: str) -> ProjectIntegrationDeleted:
    """Remove the project's key; jobs dispatched from now on use the operator's. 404 when none is set."""
    row = _row(session, project_id)
    audit.record(session, caller.key_id, "project.integration.deleted", project_id, {"id": WANDB})
    session.delete(row)
    return ProjectIntegrationDeleted()

