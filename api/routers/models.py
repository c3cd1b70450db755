"""``/v1/models``: list, retrieve, delete, and export (``/content``, our extension).

Model ids contain colons (``ft:…``) and catalog names may contain slashes (sent as ``%2F``), so
the id is a ``path`` parameter; the ``/merges`` and ``/content`` routes are declared first so that
they win.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.deps import CallerDep, ProjectDep, SessionDep, StateDep
from api.errors import InvalidRequest
from api.inference.server import ModelServerDep
from api.schemas.models import MergeCreate, MergeObject, ModelDeleted, ModelList, ModelObject
from api.services import export, export_gguf, merges, models

router = APIRouter(tags=["models"])


@router.post("/models/merges")
def create_merge(body: MergeCreate, session: SessionDep, state: StateDep, project: ProjectDep) -> MergeObject:
    """Queue a merge of two or more ``ft:`` models of one base into a new ``ft:`` model.

    200 the ``model.merge`` object (``queued``; ``fine_tuned_model`` names the model to come);
    400 naming ``models``, ``method``, ``weights``, ``density`` or ``suffix``; 404 on ``models``.
    """
    return merges.merge_object(merges.create_merge(session, state.settings, state.store, project, body))


@router.get("/models/merges/{merge_id}")
def retrieve_merge(merge_id: str, session: SessionDep, project: ProjectDep) -> MergeObject:
    """A merge and its status. 200; 404 for an unknown or another project's merge."""
    return merges.merge_object(merges.get_merge(session, project, merge_id))


@router.get("/models/{model:path}/content")
async def export_model(
    model: str,
    state: StateDep,
    project: ProjectDep,
    format: Annotated[Literal["adapter", "merged", "gguf", "ollama"],
                      Query(description="adapter, merged, gguf or ollama")] = "adapter",
    quantization: Annotated[str | None, Query(description="GGUF tensor type: f16 (default), q8_0, ...")] = None,
) -> StreamingResponse:
    """The model's PEFT adapter, merged weights, GGUF file or Ollama bundle, streamed.

    200 ``application/x-tar`` (``application/octet-stream`` for ``gguf``); 400 bad ``format`` or
    ``quantization``, a base model, a base without GGUF support; 404 ``model_not_found``.
    """
    found = await models.resolve_async(state, project, model)
    models.require_owner(found, project, "export")
    export.require_fine_tuned(found)
    top = export.folder_name(found.id)
    media = "application/x-tar"
    if format in ("gguf", "ollama"):
        q = export_gguf.parse_quantization(quantization)
    elif quantization is not None:
        raise InvalidRequest("quantization applies to format=gguf and format=ollama only.",
                             param="quantization", code="invalid_quantization")
    body: export.TarStream | export.TempFile
    if format == "adapter":
        body, name = export.adapter_archive(state.store, found), f"{top}.tar"
    elif format == "merged":
        body, name = await export.merged_archive(state.settings, state.store, found), f"{top}-merged.tar"
    elif format == "gguf":
        body, name = await export.gguf_file(state.settings, state.store, found, q), export.gguf_name(found, q)
        media = "application/octet-stream"
    else:
        body, name = await export.ollama_archive(state.settings, state.store, found, q), f"{top}-ollama.tar"
    return StreamingResponse(
        iter(body), media_type=media,
        headers={"content-length": str(len(body)), "content-disposition": f'attachment; filename="{name}"'},
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
async def delete_model(model: str, state: StateDep, project: ProjectDep, server: ModelServerDep,
                       caller: CallerDep) -> ModelDeleted:
    """Delete an ``ft:`` model and its artifacts. 200 ``{id, object:"model", deleted:true}``;
    403 for a base model; 404 ``model_not_found``."""
    return await models.delete_model(state, server, project, model, actor_key_id=caller.key_id)
