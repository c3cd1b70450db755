"""``/v1/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions`` (admin key)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import AdminDep, SessionDep
from api.pagination import AfterQuery, CursorPage, limit_query
from api.schemas.checkpoint_permissions import PermissionCreate, PermissionDeleted, PermissionObject
from api.services import checkpoint_permissions as permissions

router = APIRouter(prefix="/fine_tuning/checkpoints", tags=["fine-tuning"])


@router.post("/{fine_tuned_model_checkpoint:path}/permissions")
def create_permissions(fine_tuned_model_checkpoint: str, body: PermissionCreate, session: SessionDep,
                       caller: AdminDep) -> CursorPage[PermissionObject]:
    """Share the model with ``project_ids``. 200; 400 unknown/owner project; 403 project key; 404 model."""
    return permissions.create(session, caller, fine_tuned_model_checkpoint, body.project_ids)


@router.get("/{fine_tuned_model_checkpoint:path}/permissions")
def list_permissions(fine_tuned_model_checkpoint: str, session: SessionDep, _: AdminDep, after: AfterQuery = None,
                     limit: Annotated[int, limit_query(100)] = 10, project_id: str | None = None,
                     order: Annotated[Literal["ascending", "descending"], Query()] = "descending",
                     ) -> CursorPage[PermissionObject]:
    """The model's grants. 200; 400; 403; 404."""
    return permissions.list_permissions(session, fine_tuned_model_checkpoint, project_id, after, limit,
                                        "asc" if order == "ascending" else "desc")


@router.delete("/{fine_tuned_model_checkpoint:path}/permissions/{permission_id}")
def delete_permission(fine_tuned_model_checkpoint: str, permission_id: str, session: SessionDep,
                      caller: AdminDep) -> PermissionDeleted:
    """Revoke a grant. 200; 403; 404."""
    return permissions.delete(session, caller, fine_tuned_model_checkpoint, permission_id)
