"""``POST /v1/completions`` (legacy): a thin handler over :mod:`api.services.completions`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import CallerDep, ProjectDep, StateDep
from api.inference.server import ModelServerDep
from api.routers.chat import STREAMS, completion_response
from api.schemas.completions import Completion, CompletionRequest
from api.services import completions, usage

router = APIRouter(tags=["completions"])


@router.post("/completions", response_model=Completion, responses=STREAMS)
async def create_completion(
    body: CompletionRequest, state: StateDep, project: ProjectDep, server: ModelServerDep, caller: CallerDep
) -> Response:
    """A ``text_completion``, or with ``stream: true`` server-sent ``text_completion`` events.

    200; 400 bad parameter or prompt over the context (``context_length_exceeded``, param
    ``prompt``); 401; 404 ``model_not_found`` (also another project's model); 503 serving
    backend unreachable; 429 ``rate_limit_exceeded``.
    """
    meter = await usage.admit(state, caller, body.model)
    response = completion_response(await completions.create(state, server, project, body, meter.on_usage))
    response.headers.update(meter.admission.headers)
    return response
