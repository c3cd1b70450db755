"""``POST /v1/chat/completions``: a thin handler over :mod:`api.services.chat`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response, StreamingResponse

from api.deps import CallerDep, ProjectDep, StateDep
from api.inference.server import ModelServerDep
from api.schemas.chat import ChatCompletion, ChatCompletionRequest
from api.services import chat, usage

router = APIRouter(tags=["chat"])

#: the OpenAPI note that ``stream: true`` answers with server-sent events instead of JSON
STREAMS: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}}}


def completion_response(result: dict[str, Any] | AsyncIterator[bytes]) -> Response:
    """A completion's JSON, or its server-sent events (never buffered by a proxy)."""
    if isinstance(result, dict):
        return JSONResponse(result)
    return StreamingResponse(result, media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


@router.post("/chat/completions", response_model=ChatCompletion, responses=STREAMS)
async def create_chat_completion(
    body: ChatCompletionRequest, state: StateDep, project: ProjectDep, server: ModelServerDep, caller: CallerDep
) -> Response:
    """A ``chat.completion``, or with ``stream: true`` server-sent ``chat.completion.chunk`` events.

    200; 400 bad parameter or prompt over the context (``context_length_exceeded``); 401;
    404 ``model_not_found`` (also another project's model); 429 ``rate_limit_exceeded``; 503
    serving backend unreachable.
    """
    meter = await usage.admit(state, caller, body.model)
    response = completion_response(await chat.create(state, server, project, body, meter.on_usage))
    response.headers.update(meter.admission.headers)
    return response
