"""Judges: who answers a ``score_model`` / ``label_model`` grader's prompt.

:class:`Judge` is the protocol the graders call. The API provides one over its own serving path
(the models of the caller's project); :class:`ExternalJudge` here sends the prompt to an
OpenAI-compatible endpoint the operator configures (``OPENFT_GRADER_JUDGE_URL``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class JudgeUnavailable(Exception):
    """The judge model does not exist (or was deleted) or its server cannot be reached."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class JudgeReply:
    """The judge's answer and its token usage (``prompt_tokens``, ``completion_tokens``, ``total_tokens``)."""

    text: str
    usage: dict[str, int] = field(default_factory=dict)
    refusal: str | None = None


class Judge(Protocol):
    """Answers chat messages with a model; raises :class:`JudgeUnavailable`."""

    async def complete(self, model: str, messages: list[dict[str, Any]],
                       sampling_params: Mapping[str, Any]) -> JudgeReply:
        """The model's reply to ``messages`` sampled with ``sampling_params`` (OpenAI's names)."""
        ...
