"""``/v1/organization/projects/{id}/integrations/wandb``: a project's own W&B key (admin key; openft)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AdminDep, SessionDep
from api.schemas.integrations import ProjectIntegrationDeleted, ProjectIntegrationObject, WandbKeySet
from api.services import integrations

router = APIRouter(prefix="/organization/projects", tags=["admin"])


@router.post("/{project_id}/integrations/wandb")
def set_wandb_key(project_id: str, body: WandbKeySet, session: SessionDep,
                  caller: AdminDep) -> ProjectIntegrationObject:
    """Set the key the project's W&B-integrated jobs log with. 200; 400 bad body or archived; 403; 404."""
    return integrations.set_wandb_key(session, caller, project_id, body)


@router.get("/{project_id}/integrations/wandb")
def retrieve_wandb_key(project_id: str, session: SessionDep, _: AdminDep) -> ProjectIntegrationObject:
    """The key's hint (never the key). 200; 403; 404 no key set or unknown project."""
    return integrations.retrieve_wandb_key(session, project_id)


@router.delete("/{project_id}/integrations/wandb")
def delete_wandb_key(project_id: str, session: SessionDep, caller: AdminDep) -> ProjectIntegrationDeleted:
    """Forget the project's key (its jobs fall back to the operator's). 200; 403; 404."""
    return integrations.delete_wandb_key(session, caller, project_id)
