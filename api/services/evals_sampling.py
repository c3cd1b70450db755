"""Calling served models for eval runs: the sampled model and model-grader judges.

Both go through the chat serving path (:func:`api.services.chat.create`), so any model the
project may call (a catalog base, its ``ft:`` models and their checkpoints, local or on vLLM)
can be sampled or judge. A model that no longer exists (deleted mid-run) raises
:class:`ModelGone`, which fails the run with a clear error rather than scoring every
remaining item as an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api.errors import NotFound
from api.inference.server import ModelServer
from api.schemas.chat import ChatCompletionRequest
from api.services import chat
from api.services.graders import ProjectJudge
from api.state import AppState
from core.graders import JudgeReply, JudgeUnavailable

DEFAULT_MAX_TOKENS = 256  # an eval samples short answers unless sampling_params says otherwise


class ModelGone(Exception):
    """The model to sample (or judge with) does not exist any more."""

    def __init__(self, model: str, role: str) -> None:
        self.model = model
        self.message = (f"The {role} model {model} does not exist or was deleted during the run, "
                        "so the run cannot continue.")
        super().__init__(self.message)


@dataclass
class Reply:
    """One sampled answer and what it cost."""

    text: str
    finish_reason: str
    usage: dict[str, int]


async def complete(state: AppState, server: ModelServer, project_id: str, model: str,
                   messages: list[dict[str, Any]], params: Mapping[str, Any], role: str = "sampled") -> Reply:
    """One non-streaming chat completion of ``model``; raises :class:`ModelGone` when it is gone.

    Other errors (a prompt over the context, a bad parameter) propagate as ``APIError``.
    """
    req = ChatCompletionRequest(
        model=model, messages=messages,
        temperature=params.get("temperature"), top_p=params.get("top_p"), seed=params.get("seed"),
        max_completion_tokens=params.get("max_completion_tokens") or params.get("max_completions_tokens")
        or DEFAULT_MAX_TOKENS)
    try:
        result = await chat.create(state, server, project_id, req)
    except NotFound as exc:
        raise ModelGone(model, role) from exc
    assert isinstance(result, dict)
    choice = result["choices"][0]
    usage = result.get("usage") or {}
    return Reply(text=choice["message"].get("content") or "", finish_reason=choice.get("finish_reason") or "stop",
                 usage={k: int(usage.get(k, 0)) for k in ("prompt_tokens", "completion_tokens", "total_tokens")})


class RunJudge(ProjectJudge):
    """The judges of a run (:class:`api.services.graders.ProjectJudge`), remembering a vanished one.

    The grader turns a judge that cannot answer into an error flag on the item; a judge model
    that no longer exists must instead fail the whole run, so it is kept in ``gone``.
    """

    def __init__(self, state: AppState, server: ModelServer, project: str) -> None:
        super().__init__(state, server, project)
        self.gone: ModelGone | None = None

    async def complete(self, model: str, messages: list[dict[str, Any]],
                       sampling_params: Mapping[str, Any]) -> JudgeReply:
        try:
            return await super().complete(model, messages, sampling_params)
        except JudgeUnavailable:
            if self.external is None and not await self._served(model):
                self.gone = ModelGone(model, "judge")
            raise
