"""What one generation asks for and what it produces (plain data, no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FinishReason = Literal["stop", "length", "tool_calls"]


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings of one request; ``temperature == 0`` means greedy.

    ``max_tokens`` None lets the answer run to the end of the context. ``seed`` makes sampling
    reproducible (a CPU ``torch.Generator`` seeded with it); without one a seed is drawn.
    Penalties follow OpenAI's additive formula; ``logit_bias`` maps token ids to -100..100.
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


@dataclass
class ChoiceResult:
    """One finished choice: its text (stop sequence cut off) and the token ids generated."""

    index: int
    text: str
    finish_reason: FinishReason
    completion_tokens: int
    token_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Delta:
    """A piece of streamed output: new text of choice ``index``, or its end (``finish_reason``)."""

    index: int
    text: str = ""
    finish_reason: FinishReason | None = None
