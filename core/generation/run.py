"""``generate``: ``n`` choices for one prompt through transformers' ``model.generate``.

The choices decode together as rows of one batch. OpenAI's parameters become logits processors
(:mod:`core.generation.processors`); :class:`ChoiceTracker`, a stopping criterion, sees every
new token with its row, turns it into text with a :class:`TextStream` (stop sequences, split
UTF-8), emits deltas for streaming and ends a row at an end-of-turn token or stop sequence.
The criterion (rather than a ``BaseStreamer``) does this because it is the hook that sees each
token before ``generate`` decides whether a row goes on, whichever order a transformers release
calls its hooks in. Non-streamed and streamed requests run the same code, so both give the same
text for the same seed. This module imports torch; callers import it inside functions.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Collection
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from core.generation import processors
from core.generation.params import ChoiceResult, Delta, FinishReason, SamplingParams
from core.generation.text import TextStream


class ChoiceTracker(StoppingCriteria):
    """Per row: the tokens and text so far, when it finished and why (see module docstring)."""

    def __init__(self, n: int, prompt_len: int, end_ids: Collection[int], decode: Callable[[list[int]], str],
                 stop: tuple[str, ...], emit: Callable[[Delta], None] | None,
                 cancelled: threading.Event | None) -> None:
        self.prompt_len = prompt_len
        self.end_ids = frozenset(end_ids)
        self.streams = [TextStream(decode, stop) for _ in range(n)]
        self.tokens: list[list[int]] = [[] for _ in range(n)]
        self.finish: list[FinishReason | None] = [None] * n
        self.emit = emit
        self.cancelled = cancelled

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        last = input_ids[:, -1].tolist()
        for i, tok in enumerate(last):
            if self.finish[i] is not None:
                continue
            self.tokens[i].append(tok)
            if tok in self.end_ids:
                self.close(i, "stop")
                continue
            piece = self.streams[i].push(tok)
            if piece and self.emit:
                self.emit(Delta(i, piece))
            if self.streams[i].stopped:
                self.close(i, "stop")
        done = [f is not None for f in self.finish]
        if self.cancelled is not None and self.cancelled.is_set():
            done = [True] * len(done)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]

    def close(self, i: int, reason: FinishReason) -> None:
        """End row ``i``: release its held-back text and report the finish reason."""
        self.finish[i] = reason
        rest = "" if self.streams[i].stopped else self.streams[i].finish()
        if self.emit:
            if rest:
                self.emit(Delta(i, rest))
            self.emit(Delta(i, finish_reason=reason))

    def results(self) -> list[ChoiceResult]:
        for i, reason in enumerate(self.finish):
            if reason is None:  # ran out of tokens, or cancelled
                self.close(i, "length")
        return [ChoiceResult(index=i, text=s.text, finish_reason=self.finish[i] or "length",
                             completion_tokens=len(t), token_ids=t)
                for i, (s, t) in enumerate(zip(self.streams, self.tokens, strict=True))]


def generate(
    model: Any,
    prompt_ids: list[int],
    params: SamplingParams,
    *,
    max_new_tokens: int,
    end_ids: Collection[int],
    decode: Callable[[list[int]], str],
    pad_id: int | None = None,
    emit: Callable[[Delta], None] | None = None,
    cancelled: threading.Event | None = None,
) -> list[ChoiceResult]:
    """Generate ``params.n`` choices for ``prompt_ids`` on ``model`` (already on its device).

    A choice ends at an end-of-turn token (``end_ids``) or a stop sequence (``stop``), or after
    ``max_new_tokens`` (``length``). ``emit`` receives text deltas as they become final and one
    delta with the finish reason per choice; ``cancelled`` aborts early (a client went away).
    """
    tracker = ChoiceTracker(params.n, len(prompt_ids), end_ids, decode, params.stop, emit, cancelled)
    if max_new_tokens <= 0 or not prompt_ids:
        return tracker.results()
    seed = params.seed if params.seed is not None else secrets.randbits(63)
    device = next(model.parameters()).device
    input_ids = torch.tensor([prompt_ids] * params.n, dtype=torch.long, device=device)
    eos = sorted(end_ids)
    config = GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, use_cache=True,
        eos_token_id=eos or None, pad_token_id=pad_id if pad_id is not None else (eos[0] if eos else 0),
    )
    with torch.inference_mode():
        model.generate(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids), generation_config=config,
            logits_processor=LogitsProcessorList(processors.build(params, len(prompt_ids), seed)),
            stopping_criteria=StoppingCriteriaList([tracker]),
        )
    return tracker.results()
