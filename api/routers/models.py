"""``/v1/models``: list, retrieve, delete, and export (``/content``, our extension).

Model ids contain colons (``ft:…``) and catalog names may contain slashes (sent as ``%2F``), so
the id is a ``path`` parameter; the ``/content`` route is declared first so that it wins.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.deps import ProjectDep, SessionDep, StateDep
from api.inference.server import ModelServerDep
from api.schemas.models import ModelDeleted, ModelList, ModelObject
from api.services import export, models

router = APIRouter(tags=["models"])


@router.get("/models/{model:path}/content")
async def export_model(
    model: str,
    state: StateDep,
    project: ProjectDep,
    format: Annotated[Literal["adapter", "merged"], Query(description="adapter or merged")] = "adapter",
) -> StreamingResponse:
    """A tar of the model's PEFT adapter or of its merged full weights, streamed.

    200 ``application/x-tar``; 400 bad ``format`` or a base model; 404 ``model_not_found``.
    """
    found = await models.resolve_async(state, project, model)
    export.require_fine_tuned(found)
    if format == "adapter":
        archive: export.TarStream = export.adapter_archive(state.store, found)
    else:
        archive = await export.merged_archive(state.settings, state.store, found)
    suffix = "" if format == "adapter" else "-merged"
    name = f"{export.folder_name(found.id)}{suffix}.tar"
    return StreamingResponse(
        iter(archive), media_type="application/x-tar",
        headers={"content-length": str(len(archive)), "content-disposition": f'attachment; filename="{name}"'},
    )


@router.get("/models")
def list_models(session: SessionDep, state: StateDep, project: ProjectDep) -> ModelList:
    """The catalog's base models and the caller's ``ft:`` and checkpoint models, in one page. 200."""
    return models.list_models(session, state.settings, project)


@router.get("/models/{model:path}")
def retrieve_model(model: str, session: SessionDep, state: StateDep, project: ProjectDep) -> ModelObject:
    """One model. 200; 404 ``model_not_found`` (also for another project's model)."""
    return models.retrieve_model(session, state.settings, project, model)


@router.delete("/models/{model:path}")
async def delete_model(model: str, state: StateDep, project: ProjectDep, server: ModelServerDep) -> ModelDeleted:
    """Delete an ``ft:`` model and its artifacts. 200 ``{id, object:"model", deleted:true}``;
    403 for a base model; 404 ``model_not_found``."""
    return await models.delete_model(state, server, project, model)
