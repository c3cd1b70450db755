"""``POST /v1/completions`` (legacy): a thin handler over :mod:`api.services.completions`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response, StreamingResponse

from api.deps import ProjectDep, StateDep
from api.inference.server import ModelServerDep
from api.schemas.completions import Completion, CompletionRequest
from api.services import completions

router = APIRouter(tags=["completions"])


@router.post("/completions", response_model=Completion,
             responses={200: {"content": {"text/event-stream": {}}}})
async def create_completion(
    body: CompletionRequest, state: StateDep, project: ProjectDep, server: ModelServerDep
) -> Response:
    """A ``text_completion``, or with ``stream: true`` server-sent ``text_completion`` events.

    200; 400 bad parameter or prompt over the context (``context_length_exceeded``); 401;
    404 ``model_not_found`` (also another project's model); 503 serving backend unreachable.
    """
    result = await completions.create(state, server, project, body)
    if isinstance(result, dict):
        return JSONResponse(result)
    return StreamingResponse(result, media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
