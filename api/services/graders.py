"""Grader runs and validation for ``/v1/fine_tuning/alpha/graders`` (logic over :mod:`core.graders`).

:class:`ProjectJudge` is the judge of ``score_model`` / ``label_model`` graders inside the API: a
model this service serves to the project (catalog base, ``ft:``, checkpoint) answers through the
same path as ``/v1/chat/completions``; any other model goes to the operator's external endpoint
(``OPENFT_GRADER_JUDGE_URL``) when there is one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from api.errors import APIError, InvalidRequest, NotFound
from api.inference.server import ModelServer
from api.schemas.chat import ChatCompletionRequest
from api.schemas.graders import GraderRunRequest, run_response
from api.services import chat
from api.services.models import resolve_async
from api.state import AppState
from core.graders import (
    Grader,
    GraderSpecError,
    JudgeReply,
    JudgeUnavailable,
    LabelModel,
    Multi,
    Sample,
    ScoreModel,
    grade,
    parse_grader,
    wire,
)
from core.graders.judge import ExternalJudge, external_judge
from core.settings import Settings

#: A local judge writes at most this many tokens unless the grader's sampling_params say otherwise.
DEFAULT_JUDGE_MAX_TOKENS = 512


class ProjectJudge:
    """Judges with the models of ``project`` (or the operator's external endpoint)."""

    def __init__(self, state: AppState, server: ModelServer, project: str) -> None:
        self.state, self.server, self.project = state, server, project
        self.external: ExternalJudge | None = external_judge(state.settings)

    async def _served(self, model: str) -> bool:
        try:
            await resolve_async(self.state, self.project, model, param="model")
        except NotFound:
            return False
        return True

    async def check(self, model: str) -> None:
        """Raise :class:`JudgeUnavailable` when no judge can serve ``model``."""
        if self.external is None and not await self._served(model):
            raise JudgeUnavailable(f"The model `{model}` does not exist or you do not have access to it "
                                   "(a judge is a model this service serves to your project, or any model of the "
                                   "operator's judge endpoint, OPENFT_GRADER_JUDGE_URL).")

    async def complete(self, model: str, messages: list[dict[str, Any]],
                       sampling_params: Mapping[str, Any]) -> JudgeReply:
        """The judge's answer (:class:`JudgeUnavailable` when the model is gone or its server is down)."""
        if not await self._served(model):
            if self.external is None:
                await self.check(model)
            assert self.external is not None
            return await self.external.complete(model, messages, sampling_params)
        params = {k: v for k, v in sampling_params.items() if k != "reasoning_effort"}
        params.setdefault("max_completion_tokens", DEFAULT_JUDGE_MAX_TOKENS)
        request = ChatCompletionRequest.model_validate({"model": model, "messages": messages, **params})
        try:
            data = await chat.create(self.state, self.server, self.project, request)
        except APIError as exc:
            raise JudgeUnavailable(f"The judge `{model}` failed: {exc.message}") from None
        assert isinstance(data, dict)
        usage = data.get("usage") or {}
        counts = {k: int(usage.get(k, 0)) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        return JudgeReply(text=data["choices"][0]["message"].get("content") or "", usage=counts)


def judge_models(grader: Grader, param: str = "grader") -> Iterator[tuple[str, str]]:
    """``(param, model)`` for every judge model ``grader`` uses (``("grader.graders.a.model", "tiny-chat")``)."""
    if isinstance(grader, ScoreModel | LabelModel):
        yield f"{param}.model", grader.model
    elif isinstance(grader, Multi):
        for key, sub in grader.graders.items():
            yield from judge_models(sub, f"{param}.graders.{key}" if grader.graders_as_mapping else f"{param}.graders")


def parse(spec: Mapping[str, Any], settings: Settings, param: str = "grader") -> Grader:
    """The typed grader, or a 400 whose ``param`` points into ``spec`` (``grader.operation``)."""
    try:
        return parse_grader(spec, settings)
    except GraderSpecError as exc:
        err = exc.prefixed(param)
        raise InvalidRequest(err.message, param=err.param, code="invalid_value") from None


async def check_judges(judge: ProjectJudge, grader: Grader, param: str = "grader") -> None:
    """400 naming ``…model`` when a judge model of ``grader`` cannot be served."""
    for where, model in judge_models(grader, param):
        try:
            await judge.check(model)
        except JudgeUnavailable as exc:
            raise InvalidRequest(exc.message, param=where, code="model_not_found") from None


async def validate(state: AppState, server: ModelServer, project: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """``GraderValidateResponse``: the grader echoed back once it parses (400 otherwise).

    Two valid graders do not fit the official client's response type, so they are not echoed
    (``grader`` null) rather than failing a strict client: a ``label_model`` (the type lists the
    fine-tuning graders only) and a multi grader whose ``graders`` is a name -> grader mapping (the
    type has a single grader object there).
    """
    grader = parse(spec, state.settings)
    await check_judges(ProjectJudge(state, server, project), grader)
    if isinstance(grader, LabelModel) or isinstance(grader, Multi) and grader.graders_as_mapping:
        return {"grader": None}
    return {"grader": wire(grader)}


async def run(state: AppState, server: ModelServer, project: str, body: GraderRunRequest) -> dict[str, Any]:
    """``GraderRunResponse`` for ``body.model_sample`` (and ``body.item``) under ``body.grader``."""
    grader = parse(body.grader, state.settings)
    judge = ProjectJudge(state, server, project)
    await check_judges(judge, grader)
    result = await grade(grader, item=body.item, sample=Sample.from_text(body.model_sample),
                         judge=judge, settings=state.settings)
    return run_response(result)
