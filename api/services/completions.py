"""Legacy completions (``POST /v1/completions``): a raw prompt continued by any served model.

The prompt is tokenized as plain text (no chat template), so a base model continues it the way
it was pretrained and an ``ft:`` model continues whatever the caller wrote. Each prompt of a
list gets ``n`` choices, numbered prompt by prompt (``index = prompt * n + k``), as OpenAI does.
Streams are server-sent ``text_completion`` events ending with ``data: [DONE]``; like OpenAI's,
a choice's events carry ``finish_reason: null`` until its last one. A vLLM-served base gets the
request proxied to its ``/completions``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Literal

from api.errors import InvalidRequest
from api.inference.engine import Prepared
from api.inference.params import Completion as EngineCompletion
from api.inference.server import ModelServer
from api.inference.vllm import LEGACY
from api.schemas.chat import Usage
from api.schemas.completions import Completion, CompletionChoice, CompletionRequest
from api.services import sampling
from api.state import AppState
from core import ids
from core.generation import FinishReason, SamplingParams


def prompts(req: CompletionRequest) -> list[str | list[int]]:
    """The request's prompts: one string, strings, one list of token ids, or lists of them."""
    p = req.prompt
    if isinstance(p, str):
        return [p]
    if not p:
        raise InvalidRequest("prompt must not be an empty list.", param="prompt", code="invalid_value")
    if all(isinstance(x, int) for x in p):
        return [list(p)]  # type: ignore[arg-type]
    out: list[str | list[int]] = list(p)  # type: ignore[arg-type]
    if any(isinstance(x, list) and not x for x in out):
        raise InvalidRequest("A token-id prompt must not be empty.", param="prompt", code="invalid_value")
    return out


def check_supported(req: CompletionRequest) -> None:
    """400 for what this server cannot honour, rather than silently ignoring it."""
    if req.logprobs is not None:
        raise InvalidRequest("logprobs is not supported by this server.", param="logprobs",
                             code="unsupported_parameter")
    if req.suffix:
        raise InvalidRequest("suffix (insertion) is not supported by this server.", param="suffix",
                             code="unsupported_parameter")
    if req.best_of is not None and req.best_of != (req.n or 1):
        raise InvalidRequest("best_of other than n is not supported by this server.", param="best_of",
                             code="unsupported_parameter")


def _usage(results: list[EngineCompletion]) -> Usage:
    prompt = sum(r.prompt_tokens for r in results)
    completion = sum(r.completion_tokens for r in results)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def _echo(prompt: str | list[int], prepared: Prepared) -> str:
    """The prompt as ``echo`` returns it: the caller's own string, or its token ids decoded."""
    return prompt if isinstance(prompt, str) else prepared.tokenizer.decode(prepared.prompt_ids)


def _finish(reason: FinishReason) -> Literal["stop", "length"]:
    return "length" if reason == "length" else "stop"


async def _stream(server: ModelServer, batch: list[tuple[str | list[int], Prepared]], params: SamplingParams,
                  model: str, echo: bool, include_usage: bool,
                  on_usage: sampling.UsageHook | None) -> AsyncIterator[bytes]:
    cid, created = ids.new_id("cmpl-"), int(time.time())

    def event(choices: list[CompletionChoice], usage: Usage | None = None) -> bytes:
        data = Completion(id=cid, created=created, model=model, choices=choices,
                          system_fingerprint=batch[0][1].fingerprint, usage=usage).model_dump(mode="json")
        if usage is None:
            data.pop("usage")  # only the last event of a stream with include_usage carries usage
        return sampling.sse(data)

    results: list[EngineCompletion] = []
    for p, (prompt, prepared) in enumerate(batch):
        base = p * params.n
        if echo:
            for k in range(params.n):
                yield event([CompletionChoice(text=_echo(prompt, prepared), index=base + k, finish_reason=None)])
        async for item in server.engine.stream(prepared, params):
            if isinstance(item, EngineCompletion):
                results.append(item)
            elif item.text or item.finish_reason:
                finish = _finish(item.finish_reason) if item.finish_reason else None
                yield event([CompletionChoice(text=item.text, index=base + item.index, finish_reason=finish)])
    await sampling.report_usage(on_usage, _usage(results))
    if include_usage:
        yield event([], _usage(results))


async def create(state: AppState, server: ModelServer, project_id: str,
                 req: CompletionRequest, on_usage: sampling.UsageHook | None = None) -> sampling.Result:
    """A ``text_completion`` (a JSON-ready dict) or, for ``stream: true``, the SSE byte stream;
    the token counts go to ``on_usage`` once known.

    400 bad parameter / prompt over the context (``context_length_exceeded``, param
    ``prompt``); 404 ``model_not_found``; 503 when the model's serving backend is unreachable.
    """
    params = sampling.sampling_params(req, req.max_tokens)
    batch_prompts = prompts(req)
    target, proxied = await sampling.resolve_or_proxy(state, server, project_id, req, LEGACY, on_usage)
    if proxied is not None:
        return proxied
    check_supported(req)
    batch: list[tuple[str | list[int], Prepared]] = []
    with sampling.preparing(req.model):
        for prompt in batch_prompts:
            batch.append((prompt, await server.engine.prepare_text(target, prompt, max_tokens=params.max_tokens)))
    sampling.check_vocabulary(params, batch[0][1])
    echo = bool(req.echo)
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return sampling.framed(_stream(server, batch, params, req.model, echo, include_usage, on_usage))
    results = [await server.engine.generate(prepared, params) for _, prepared in batch]
    choices = [CompletionChoice(text=(_echo(prompt, prepared) if echo else "") + c.text,
                                index=p * params.n + c.index, finish_reason=_finish(c.finish_reason))
               for p, ((prompt, prepared), result) in enumerate(zip(batch, results, strict=True))
               for c in result.choices]
    completion = Completion(id=ids.new_id("cmpl-"), created=int(time.time()), model=req.model, choices=choices,
                            system_fingerprint=batch[0][1].fingerprint, usage=_usage(results))
    await sampling.report_usage(on_usage, completion.usage)
    return completion.model_dump(mode="json")
