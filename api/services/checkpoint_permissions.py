"""Checkpoint permissions (admin API): share an ``ft:`` model or checkpoint with other projects.

A grant lets the grantee list the model in ``/v1/models``, chat with it, run evals on it and
fine-tune on top of it (:func:`api.services.models.can_use`); deleting and exporting stay with
the owner. Revoking takes effect on the next request (access is read from the table each time).
Changes are audited as ``checkpoint.permission.created|deleted``.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from api.errors import InvalidRequest, NotFound
from api.pagination import CursorPage, Order, paginate
from api.schemas.checkpoint_permissions import PermissionDeleted, PermissionObject
from api.services import audit
from api.services.keys import Caller
from core import ids
from core.tables import CheckpointPermission, Model, Project


def _object(row: CheckpointPermission) -> PermissionObject:
    return PermissionObject(id=row.id, created_at=row.created_at, project_id=row.project_id)


def _model(session: Session, model_id: str) -> Model:
    row = session.get(Model, model_id)
    if row is None:
        raise NotFound(f"No such fine-tuned model or checkpoint: {model_id}", param="fine_tuned_model_checkpoint",
                       code="model_not_found")
    return row


def create(session: Session, caller: Caller, model_id: str, project_ids: list[str]) -> CursorPage[PermissionObject]:
    """Grant ``model_id`` to each project (an existing grant is returned as it is)."""
    model = _model(session, model_id)
    if not project_ids:
        raise InvalidRequest("project_ids must name at least one project.", param="project_ids", code="invalid_value")
    out = []
    for project_id in dict.fromkeys(project_ids):
        if session.get(Project, project_id) is None:
            raise InvalidRequest(f"No such project: {project_id}", param="project_ids", code="invalid_value")
        if project_id == model.project_id:
            raise InvalidRequest(f"Project {project_id} owns {model_id} already.", param="project_ids",
                                 code="invalid_value")
        row = session.exec(select(CheckpointPermission).where(
            col(CheckpointPermission.model_id) == model_id, col(CheckpointPermission.project_id) == project_id)).first()
        if row is None:
            row = CheckpointPermission(id=ids.new_id("cp_"), model_id=model_id, project_id=project_id)
            session.add(row)
            audit.record(session, caller.key_id, "checkpoint.permission.created", project_id,
                         {"id": row.id, "data": {"project_id": project_id, "fine_tuned_model_checkpoint": model_id}})
        out.append(_object(row))
    session.flush()
    return CursorPage[PermissionObject](data=out, has_more=False)


def list_permissions(session: Session, model_id: str, project_id: str | None, after: str | None, limit: int,
                     order: Order) -> CursorPage[PermissionObject]:
    """The model's grants (``project_id`` filters to one grantee)."""
    _model(session, model_id)
    stmt = select(CheckpointPermission).where(col(CheckpointPermission.model_id) == model_id)
    if project_id is not None:
        stmt = stmt.where(col(CheckpointPermission.project_id) == project_id)
    rows, has_more = paginate(session, stmt, CheckpointPermission, sort=(col(CheckpointPermission.created_at),
                              col(CheckpointPermission.seq)), after=after, limit=limit, order=order)
    return CursorPage[PermissionObject](data=[_object(r) for r in rows], has_more=has_more)


def delete(session: Session, caller: Caller, model_id: str, permission_id: str) -> PermissionDeleted:
    """Revoke one grant; the grantee loses access on its next request."""
    row = session.exec(select(CheckpointPermission).where(col(CheckpointPermission.id) == permission_id,
                                                          col(CheckpointPermission.model_id) == model_id)).first()
    if row is None:
        raise NotFound(f"No such checkpoint permission: {permission_id}", param="permission_id")
    audit.record(session, caller.key_id, "checkpoint.permission.deleted", row.project_id,
                 {"id": row.id})
    session.delete(row)
    return PermissionDeleted(id=permission_id)
