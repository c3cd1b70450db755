"""The engine's request and result types (plain data, no torch).

A :class:`Target` names the model a request runs on; a :class:`Completion` gathers the choices
of one prompt. The sampling settings and per-choice results are :mod:`core.generation`'s, the
one generation path that serving and training share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.generation.params import ChoiceResult


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
class Completion:
    """All choices of one request and its token usage."""

    choices: list[ChoiceResult]
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.choices)
