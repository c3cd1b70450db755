"""Logits processors for OpenAI's sampling parameters, on top of transformers' own.

transformers has temperature, top-p and token bias; OpenAI's additive presence/frequency
penalties and sampling from a request's own ``torch.Generator`` (so a ``seed`` repeats on any
device and is unaffected by other requests) are added here. Sampling is done by
:class:`SeededSampler`, the last processor: it draws one token per row and leaves only that
token finite, so ``generate`` runs greedy selection over its choice.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import LogitsProcessor

from core.generation.params import SamplingParams


class OpenAIPenalties(LogitsProcessor):
    """``logit -= count * frequency_penalty + (count > 0) * presence_penalty`` over generated ids."""

    def __init__(self, prompt_len: int, presence: float, frequency: float) -> None:
        self.prompt_len = prompt_len
        self.presence = presence
        self.frequency = frequency

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self.prompt_len:]
        if generated.shape[1] == 0:
            return scores
        counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        return scores - counts * self.frequency - (counts > 0).to(scores.dtype) * self.presence  # type: ignore[return-value]


class LogitBias(LogitsProcessor):
    """Adds OpenAI's ``logit_bias`` (token id -> -100..100) to every step's logits."""

    def __init__(self, bias: dict[int, float]) -> None:
        self.ids = torch.tensor(list(bias), dtype=torch.long)
        self.values = torch.tensor(list(bias.values()), dtype=torch.float32)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()  # type: ignore[assignment]
        scores[:, self.ids.to(scores.device)] += self.values.to(scores.device, scores.dtype)
        return scores


class SeededSampler(LogitsProcessor):
    """Draws the next token of each row from ``softmax(scores)`` with the request's generator."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logits = scores.float().cpu()
        probs = torch.softmax(logits, dim=-1)
        # a temperature near 0 overflows the scaled logits: such a row is its argmax
        degenerate = ~torch.isfinite(probs).all(dim=-1, keepdim=True)
        if degenerate.any():
            probs = torch.where(degenerate, torch.zeros_like(probs).scatter_(1, logits.argmax(-1, keepdim=True), 1.0),
                                probs)
        picked = torch.multinomial(probs, 1, generator=self.generator).to(scores.device)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, picked, 0.0)  # type: ignore[return-value]


def build(params: SamplingParams, prompt_len: int, seed: int) -> list[Any]:
    """The processors of ``params`` in OpenAI's order: penalties, bias, temperature, top-p, draw."""
    from transformers import TemperatureLogitsWarper, TopPLogitsWarper

    out: list[Any] = []
    if params.presence_penalty or params.frequency_penalty:
        out.append(OpenAIPenalties(prompt_len, params.presence_penalty, params.frequency_penalty))
    if params.logit_bias:
        out.append(LogitBias(params.logit_bias))
    if params.greedy:
        return out
    if params.temperature != 1.0:
        out.append(TemperatureLogitsWarper(params.temperature))
    if params.top_p < 1.0:
        out.append(TopPLogitsWarper(params.top_p))
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    out.append(SeededSampler(generator))
    return out
