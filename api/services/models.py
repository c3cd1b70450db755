"""Models a project can use: the catalog's base models and its own ``ft:`` models.

``ft:`` models (fine-tunes and epoch checkpoints) are rows of ``core.tables.Model`` whose
adapter lies in the store under ``artifact_key``. Another project's model reads as missing
(404 ``model_not_found``), exactly like an id that never existed.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import delete, or_
from sqlmodel import Session, col, select

from api.errors import InvalidRequest, NotFound, PermissionDenied
from api.inference.params import Target
from api.inference.server import ModelServer
from api.schemas.models import ModelDeleted, ModelList, ModelObject
from api.services import audit
from api.state import AppState
from core.catalog import ModelEntry, get_catalog
from core.db import session_scope
from core.settings import Settings
from core.store import MANIFEST, Store
from core.tables import CheckpointPermission, Job, Model
from scheduler.transitions import TERMINAL


def model_not_found(model_id: str, param: str | None = None) -> NotFound:
    """OpenAI's 404 for a model that does not exist or is not the caller's."""
    return NotFound(f"The model `{model_id}` does not exist or you do not have access to it.",
                    param=param, code="model_not_found")


@dataclass(frozen=True)
class Resolved:
    """A model id resolved for a project: its base entry and, for ``ft:`` models, its row."""

    id: str
    base: ModelEntry
    row: Model | None = None

    @property
    def target(self) -> Target:
        """What the inference engine runs for this model."""
        return Target(self.id, self.base.spec(), self.row.artifact_key if self.row is not None else None)


def can_use(session: Session, project_id: str, row: Model) -> bool:
    """The one rule of who may use an ``ft:`` model: its owner, or a project it is shared with
    (a checkpoint permission). Chat, completions, jobs' base model, evals and merges go through
    it; deleting and exporting need ownership (:func:`require_owner`)."""
    if row.project_id == project_id:
        return True
    granted = session.exec(select(CheckpointPermission.id).where(
        CheckpointPermission.model_id == row.id, CheckpointPermission.project_id == project_id)).first()
    return granted is not None


def require_owner(found: Resolved, project_id: str, action: str) -> None:
    """403 when a project a model is only shared with tries to ``action`` (delete, export) it."""
    if found.row is not None and found.row.project_id != project_id:
        raise PermissionDenied(f"The model `{found.id}` is shared with this project; only the project that owns "
                               f"it can {action} it.", code="insufficient_permissions")


def resolve(session: Session, settings: Settings, project_id: str, model_id: str,
            param: str | None = None) -> Resolved:
    """The base model or an ``ft:`` model called ``model_id`` the project may use; 404 otherwise."""
    catalog = get_catalog(settings)
    entry = catalog.get(model_id)
    if entry is not None:
        return Resolved(model_id, entry)
    row = session.get(Model, model_id)
    if row is None or not can_use(session, project_id, row):
        raise model_not_found(model_id, param)
    base = catalog.get(row.base_model)
    if base is None:
        raise InvalidRequest(f"The base model {row.base_model!r} of {model_id} is no longer in this "
                             "server's catalog, so the model cannot be served.", param=param,
                             code="model_not_available")
    return Resolved(model_id, base, row)


async def resolve_async(state: AppState, project_id: str, model_id: str, param: str | None = None) -> Resolved:
    """:func:`resolve` with its own short session, off the event loop (for async handlers)."""

    def work() -> Resolved:
        with session_scope(state.engine) as session:
            return resolve(session, state.settings, project_id, model_id, param)

    return await run_in_threadpool(work)


def to_object(row: Model) -> ModelObject:
    return ModelObject(id=row.id, created=row.created_at, owned_by=row.project_id)


def list_models(session: Session, settings: Settings, project_id: str) -> ModelList:
    """Base models first (catalog order), then the project's models, oldest first."""
    data = [ModelObject(id=e.name, created=e.created, owned_by=e.owned_by) for e in get_catalog(settings).entries()]
    shared = select(CheckpointPermission.model_id).where(CheckpointPermission.project_id == project_id)
    rows = session.exec(
        select(Model).where(or_(Model.project_id == project_id, col(Model.id).in_(shared)))
        .order_by(col(Model.created_at), col(Model.id))
    ).all()
    return ModelList(data=data + [to_object(r) for r in rows])


def retrieve_model(session: Session, settings: Settings, project_id: str, model_id: str) -> ModelObject:
    """One model; 404 ``model_not_found``."""
    found = resolve(session, settings, project_id, model_id)
    if found.row is None:
        return ModelObject(id=found.id, created=found.base.created, owned_by=found.base.owned_by)
    return to_object(found.row)


def _delete_row(state: AppState, project_id: str, model_id: str, actor_key_id: str | None) -> Resolved:
    with session_scope(state.engine) as session:
        found = resolve(session, state.settings, project_id, model_id)
        require_owner(found, project_id, "delete")
        if found.row is None:
            raise PermissionDenied(f"The model `{model_id}` is a base model and cannot be deleted.",
                                   code="model_not_deletable")
        session.delete(found.row)
        session.exec(delete(CheckpointPermission).where(col(CheckpointPermission.model_id) == model_id))  # type: ignore[call-overload]
        audit.record(session, actor_key_id, "resource.deleted", project_id, {"id": model_id, "type": "model"})
        shared = session.exec(
            select(Model).where(Model.artifact_key == found.row.artifact_key, Model.id != model_id)
        ).first()
        job = session.get(Job, found.row.job_id) if found.row.job_id is not None else None
        # a running job may still resume from this checkpoint's files; its pruning removes them
        in_use = shared is not None or (job is not None and job.status not in TERMINAL)
    # the row goes first: once it is committed nobody can start using the artifacts again
    if not in_use:
        delete_artifacts(state.store, found.row.artifact_key)
    return found


def delete_artifacts(store: Store, artifact_key: str) -> None:
    """Remove a model's files: its sealed tree, or the sealed tree (a checkpoint) holding it."""
    key = artifact_key.rstrip("/")
    parts = key.split("/")
    for cut in range(len(parts), 0, -1):
        prefix = "/".join(parts[:cut])
        if store.exists(f"{prefix}/{MANIFEST}"):
            store.delete_prefix(prefix)
            return
    store.delete_prefix(key)


async def delete_model(state: AppState, server: ModelServer, project_id: str, model_id: str,
                       actor_key_id: str | None = None) -> ModelDeleted:
    """Delete an ``ft:`` model: its row, its artifacts, and its adapter wherever it is loaded.

    403 for a base model; 404 ``model_not_found`` for an unknown or another project's model.
    The deletion is audited (``resource.deleted``) with ``actor_key_id``.
    """
    found = await run_in_threadpool(_delete_row, state, project_id, model_id, actor_key_id)
    await server.forget(found.target)
    return ModelDeleted(id=model_id, deleted=True)
