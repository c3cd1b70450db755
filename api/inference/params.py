"""What a generation request asks for and what it produces (plain data, no torch).

These are the engine's own types: the chat service maps the OpenAI request onto
:class:`SamplingParams` and the engine's :class:`Completion` / :class:`Delta` back onto OpenAI's
``chat.completion`` and ``chat.completion.chunk`` objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length", "tool_calls"]


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings of one request; ``temperature == 0`` means greedy.

    ``max_tokens`` None lets the answer run to the end of the context. ``seed`` makes sampling
    reproducible (a ``torch.Generator`` seeded with it); without one the engine draws a seed.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[int, float] = field(default_factory=dict)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class Target:
    """The model a request runs on: a base model, optionally with a PEFT adapter over it.

    ``model_id`` is the id the caller asked for (echoed in responses); ``base`` is the catalog
    entry at the root of the model's lineage; ``adapter_key`` the store prefix of its adapter
    (None for a base model); ``quantization`` how the base was loaded when the adapter was
    trained (``"4bit"`` or ``"none"``), so that serving reproduces training's numerics.
    """

    model_id: str
    base: Any  # core.protocol.BaseModelSpec; typed loosely so this module stays import-light
    adapter_key: str | None = None
    quantization: str | None = None


@dataclass
class ChoiceResult:
    """One finished choice of a completion."""

    index: int
    text: str
    finish_reason: FinishReason
    completion_tokens: int
    token_ids: list[int] = field(default_factory=list)


@dataclass
class Completion:
    """All choices of one request and its token usage."""

    choices: list[ChoiceResult]
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.choices)


@dataclass(frozen=True)
class Delta:
    """A piece of streamed output: new text of choice ``index``, or its end (``finish_reason``)."""

    index: int
    text: str = ""
    finish_reason: FinishReason | None = None
