"""A stand-in for an external OpenAI-compatible judge endpoint (outside openft's boundary).

``POST /v1/embeddings`` embeds each text as its counts of ``a``, ``b``, ``c``;
``POST /v1/chat/completions`` answers ``REPLIES[model]`` (``{"refusal": …}`` for a refusal; an
unknown model is a 404 as OpenAI words it) with fixed usage, and records every request body.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from live_server import run_server_in_thread

USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}


def letter_counts(text: str) -> list[float]:
    """The fake embedding: how often ``a``, ``b`` and ``c`` occur (so cosines are hand-checkable)."""
    return [float(text.count(ch)) for ch in "abc"]


@contextmanager
def fake_judge(replies: dict[str, str | dict[str, str]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """``(base_url, requests)`` of a running fake judge."""
    app = FastAPI()
    seen: list[dict[str, Any]] = []

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append(body)
        reply = replies.get(body["model"])
        if reply is None:
            return JSONResponse({"error": {"message": f"The model `{body['model']}` does not exist",
                                           "type": "invalid_request_error", "param": None,
                                           "code": "model_not_found"}}, status_code=404)
        message = ({"role": "assistant", "content": None, **reply} if isinstance(reply, dict)
                   else {"role": "assistant", "content": reply})
        return JSONResponse({"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                             "model": body["model"], "usage": USAGE,
                             "choices": [{"index": 0, "finish_reason": "stop", "message": message}]})

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append(body)
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        data = [{"object": "embedding", "index": i, "embedding": letter_counts(t)} for i, t in enumerate(texts)]
        return JSONResponse({"object": "list", "model": body["model"], "data": data,
                             "usage": {"prompt_tokens": 2, "total_tokens": 2}})

    with run_server_in_thread(app) as live:
        yield live.base_url, seen
