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


class ExternalJudge:
    """A judge at an OpenAI-compatible endpoint (``OPENFT_GRADER_JUDGE_URL``), e.g. for ``gpt-4.1``."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float = 120.0) -> None:
        self.base_url = base_url
        self._api_key = api_key or "none"
        self._timeout = timeout

    async def complete(self, model: str, messages: list[dict[str, Any]],
                       sampling_params: Mapping[str, Any]) -> JudgeReply:
        """The endpoint's answer; :class:`JudgeUnavailable` for an unknown model or a failed call."""
        import openai

        async with openai.AsyncOpenAI(base_url=self.base_url, api_key=self._api_key, timeout=self._timeout,
                                      max_retries=2) as client:
            try:
                reply = await client.chat.completions.create(model=model, messages=messages,  # type: ignore[arg-type]
                                                             **dict(sampling_params))
            except openai.NotFoundError as exc:
                raise JudgeUnavailable(f"The judge endpoint has no model '{model}': {exc.message}") from None
            except openai.APIError as exc:
                raise JudgeUnavailable(f"The judge endpoint failed for '{model}': {exc}") from None
        if not reply.choices:
            raise JudgeUnavailable(f"The judge endpoint answered no choices for '{model}'.")
        message = reply.choices[0].message
        usage = reply.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"}) \
            if reply.usage else {}
        return JudgeReply(text=message.content or "", usage=usage, refusal=getattr(message, "refusal", None))


def external_judge(settings: Any) -> ExternalJudge | None:
    """The operator's external judge, when ``grader_judge_url`` is set."""
    if not settings.grader_judge_url:
        return None
    key = settings.grader_judge_api_key
    return ExternalJudge(settings.grader_judge_url, key.get_secret_value() if key else None,
                         settings.grader_judge_timeout_seconds)
