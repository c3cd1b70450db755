"""How reinforcement hyperparameters drive generation (shared by the scheduler and the worker).

- ``compute_multiplier`` scales the exploration per prompt: ``num_generations =
  clamp(round(8 * compute_multiplier), 2, 64)`` completions are sampled for every prompt and
  ranked against each other (GRPO's group); ``auto`` is 1.0, so 8 completions (TRL's default
  group). A group whose completions all score the same teaches nothing (zero advantage), so
  the group must be large enough that a prompt the model gets right half the time, or a tenth
  of the time, usually yields both outcomes: with 4, a tiny-chat parent at ~50% barely moved.
- ``reasoning_effort`` is the generation budget: at most 64 (``low``), 128 (``default``),
  256 (``medium``) or 512 (``high``) new tokens per completion, and never more than half the
  base model's max length.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

EFFORTS: Final = ("default", "low", "medium", "high")
MAX_NEW_TOKENS: Final[Mapping[str, int]] = {"low": 64, "default": 128, "medium": 256, "high": 512}


def num_generations(compute_multiplier: float) -> int:
    """Completions sampled per prompt (GRPO's group) for ``compute_multiplier``."""
    return max(2, min(64, round(8 * compute_multiplier)))


def max_new_tokens(reasoning_effort: str, max_length: int) -> int:
    """The generation budget for ``reasoning_effort`` within a base model's ``max_length``."""
    return max(1, min(MAX_NEW_TOKENS.get(reasoning_effort, MAX_NEW_TOKENS["default"]), max_length // 2))
