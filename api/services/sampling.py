"""What chat and legacy completions share: OpenAI sampling fields -> engine parameters, the
errors of preparing a request, and the server-sent-event framing of streams."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from api.errors import APIError, InvalidRequest, NotFound, ServiceUnavailable
from api.inference.engine import Prepared
from api.inference.params import Target
from api.inference.server import ModelServer
from api.schemas.sampling import MAX_STOP, SamplingRequest
from api.services.models import resolve_async
from api.state import AppState
from core.generation import SamplingParams
from core.model_cache import ModelUnavailable
from core.store import ObjectNotFound

DONE = b"data: [DONE]\n\n"


def sampling_params(req: SamplingRequest, max_tokens: int | None) -> SamplingParams:
    """The engine's parameters for ``req`` (OpenAI's defaults: temperature 1, top_p 1, n 1).

    The schema already checked every range; this adds the checks that span a field's entries
    (400 ``stop``, ``logit_bias``).
    """
    stop: list[str] = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
    if len(stop) > MAX_STOP:
        raise InvalidRequest(f"stop accepts at most {MAX_STOP} sequences, got {len(stop)}.",
                             param="stop", code="invalid_value")
    bias: dict[int, float] = {}
    for key, value in (req.logit_bias or {}).items():
        if not (key.isascii() and key.isdigit()) or not -100 <= value <= 100:
            raise InvalidRequest(f"Invalid logit_bias entry {key!r}: {value!r} (token id -> -100..100).",
                                 param="logit_bias", code="invalid_value")
        bias[int(key)] = float(value)
    return SamplingParams(
        temperature=1.0 if req.temperature is None else req.temperature,
        top_p=1.0 if req.top_p is None else req.top_p,
        max_tokens=max_tokens,
        stop=tuple(s for s in stop if s),
        n=req.n or 1,
        seed=req.seed,
        presence_penalty=req.presence_penalty or 0.0,
        frequency_penalty=req.frequency_penalty or 0.0,
        logit_bias=bias,
    )


def check_vocabulary(params: SamplingParams, prepared: Prepared) -> None:
    """400 ``logit_bias`` when it names a token the model does not have."""
    vocab = prepared.tokenizer.vocab_size
    bad = [t for t in params.logit_bias if t >= vocab]
    if bad:
        raise InvalidRequest(f"logit_bias names token {bad[0]}, outside this model's vocabulary of {vocab}.",
                             param="logit_bias", code="invalid_value")


@contextlib.contextmanager
def preparing(model: str) -> Iterator[None]:
    """Turn a model that cannot be loaded into 404 ``model_not_found`` / 503."""
    try:
        yield
    except ObjectNotFound as exc:
        raise NotFound(f"The files of model `{model}` are missing from the artifact store.",
                       code="model_not_found") from exc
    except ModelUnavailable as exc:
        raise ServiceUnavailable(f"The base model of `{model}` cannot be loaded here: {exc}") from exc


Result = dict[str, Any] | AsyncIterator[bytes]

#: called once per request with (prompt tokens, completion tokens) when they are known
UsageHook = Callable[[int, int], Awaitable[None]]


async def report_usage(on_usage: UsageHook | None, usage: Any) -> None:
    """Hand a finished request's token counts (an OpenAI ``usage`` object or dict) to ``on_usage``."""
    if on_usage is None:
        return
    if isinstance(usage, dict):
        await on_usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
    else:
        await on_usage(int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0))


async def _metered_stream(events: AsyncIterator[bytes], on_usage: UsageHook) -> AsyncIterator[bytes]:
    usage: Any = None
    async for event in events:
        if event.startswith(b"data: {") and b'"usage"' in event:
            with contextlib.suppress(ValueError):
                usage = json.loads(event[6:]).get("usage") or usage
        yield event
    await report_usage(on_usage, usage)


async def resolve_or_proxy(state: AppState, server: ModelServer, project_id: str, req: SamplingRequest,
                           path: str, on_usage: UsageHook | None = None) -> tuple[Target, Result | None]:
    """The request's model (404 ``model_not_found``) and, when a vLLM server serves its base,
    that server's answer to ``req`` on ``path`` (else None: the local engine answers); the
    answer's ``usage`` (when the server sends one) goes to ``on_usage``."""
    target = (await resolve_async(state, project_id, req.model, param="model")).target
    remote = server.remote(target)
    if remote is None:
        return target, None
    body = req.model_dump(exclude_unset=True)
    if req.stream:
        stream = await remote.stream(target, body, path=path)
        return target, stream if on_usage is None else _metered_stream(stream, on_usage)
    answer = await remote.complete(target, body, path=path)
    await report_usage(on_usage, answer.get("usage"))
    return target, answer


def sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


async def framed(events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``events`` then ``data: [DONE]``; a failure after the stream started becomes an error
    event (which the official client raises), since the status line is already sent."""
    try:
        async for event in events:
            yield event
    except APIError as exc:
        yield sse(exc.body())
    except Exception:
        yield sse({"error": {"message": "The server had an error while generating the completion.",
                             "type": "server_error", "param": None, "code": None}})
        raise
    yield DONE
