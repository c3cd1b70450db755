"""The token loop: prefill the prompt once, then sample token by token over the KV cache.

One loop serves non-streamed and streamed requests alike (the latter read the deltas it emits),
so both give the same text for the same seed. ``n`` choices decode together as rows of one
batch; sampling happens on the CPU in float32 with one ``torch.Generator`` per request, which
makes seeded sampling reproducible on any device. This module imports torch: the engine imports
it lazily, inside the generation thread.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Collection
from typing import Any

import torch

from api.inference.params import ChoiceResult, Delta, FinishReason, SamplingParams
from api.inference.text import TextStream


def _process(logits: torch.Tensor, params: SamplingParams, counts: torch.Tensor | None) -> torch.Tensor:
    """Apply logit bias and presence/frequency penalties (OpenAI's formula) to ``[n, vocab]``."""
    if params.logit_bias:
        ids = torch.tensor(list(params.logit_bias), dtype=torch.long)
        bias = torch.tensor(list(params.logit_bias.values()), dtype=logits.dtype)
        logits[:, ids] += bias
    if counts is not None:
        logits -= counts * params.frequency_penalty + (counts > 0).to(logits.dtype) * params.presence_penalty
    return logits


def sample(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None) -> torch.Tensor:
    """Next token per row of ``[n, vocab]`` float32 logits: argmax, or temperature + top-p sampling."""
    if params.greedy:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # drop a token when the tokens before it already cover top_p; the first always stays
        drop = sorted_probs.cumsum(dim=-1) - sorted_probs >= params.top_p
        sorted_probs[drop] = 0.0
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def run(
    model: Any,
    prompt_ids: list[int],
    params: SamplingParams,
    *,
    max_new_tokens: int,
    end_ids: Collection[int],
    decode: Callable[[list[int]], str],
    emit: Callable[[Delta], None] | None = None,
    cancelled: threading.Event | None = None,
) -> list[ChoiceResult]:
    """Generate ``params.n`` choices for ``prompt_ids`` on ``model`` (already on its device).

    A choice ends at an end-of-turn token or a stop sequence (``stop``) or after
    ``max_new_tokens`` (``length``). ``emit`` receives text deltas as they become final and one
    delta with the finish reason per choice; ``cancelled`` aborts early (a client went away).
    """
    device = next(model.parameters()).device
    n = params.n
    generator = None
    if not params.greedy:
        generator = torch.Generator(device="cpu")
        generator.manual_seed(params.seed if params.seed is not None else secrets.randbits(63))
    penalties = params.presence_penalty != 0.0 or params.frequency_penalty != 0.0
    streams = [TextStream(decode, params.stop) for _ in range(n)]
    tokens: list[list[int]] = [[] for _ in range(n)]
    finish: list[FinishReason | None] = [None] * n
    counts: torch.Tensor | None = None

    def finish_choice(i: int, reason: FinishReason) -> None:
        finish[i] = reason
        rest = "" if streams[i].stopped else streams[i].finish()
        if emit:
            if rest:
                emit(Delta(i, rest))
            emit(Delta(i, finish_reason=reason))

    with torch.inference_mode():
        input_ids = torch.tensor([prompt_ids] * n, dtype=torch.long, device=device)
        out = model(input_ids=input_ids, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        for step in range(max_new_tokens):
            logits = out.logits[:, -1, :].float().cpu()
            if penalties:
                if counts is None:
                    counts = torch.zeros_like(logits)
                logits = _process(logits, params, counts)
            elif params.logit_bias:
                logits = _process(logits, params, None)
            next_ids = sample(logits, params, generator).tolist()
            for i, tok in enumerate(next_ids):
                if finish[i] is not None:
                    continue
                tokens[i].append(tok)
                if counts is not None:
                    counts[i, tok] += 1
                if tok in end_ids:
                    finish_choice(i, "stop")
                    continue
                piece = streams[i].push(tok)
                if piece and emit:
                    emit(Delta(i, piece))
                if streams[i].stopped:
                    finish_choice(i, "stop")
                elif step == max_new_tokens - 1:
                    finish_choice(i, "length")
            if all(f is not None for f in finish) or (cancelled is not None and cancelled.is_set()):
                break
            step_ids = torch.tensor(next_ids, dtype=torch.long, device=device).unsqueeze(-1)
            out = model(input_ids=step_ids, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
    for i in range(n):
        if finish[i] is None:  # cancelled, or max_new_tokens == 0
            finish_choice(i, "length")
    return [
        ChoiceResult(index=i, text=streams[i].text, finish_reason=finish[i] or "length",
                     completion_tokens=len(tokens[i]), token_ids=tokens[i])
        for i in range(n)
    ]
