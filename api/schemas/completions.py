"""Wire models of the legacy ``POST /v1/completions``, field for field as OpenAI's.

The request mirrors ``openai.types.completion_create_params`` (its sampling fields are
:class:`api.schemas.sampling.SamplingRequest`'s); the response and every streamed event are
``openai.types.Completion`` (``text_completion``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.chat import Served, Usage
from api.schemas.sampling import SamplingRequest

#: OpenAI's default for the legacy endpoint (chat's default is "until the context ends")
DEFAULT_MAX_TOKENS = 16


class CompletionRequest(SamplingRequest):
    """Body of ``POST /v1/completions``.

    ``prompt`` is a string, a list of strings, a list of token ids or a list of such lists; each
    prompt gets ``n`` choices, indexed prompt by prompt.
    """

    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = Field(DEFAULT_MAX_TOKENS, ge=1)
    echo: bool | None = None
    best_of: int | None = Field(None, ge=1, le=20)
    logprobs: int | None = Field(None, ge=0, le=5)
    suffix: str | None = None


class CompletionChoice(BaseModel):
    """``openai.types.CompletionChoice``."""

    text: str
    index: int
    finish_reason: Literal["stop", "length", "content_filter"] | None
    logprobs: None = None


class Completion(Served):
    """``text_completion``: the response, and (with ``stream: true``) each server-sent event."""

    object: Literal["text_completion"] = "text_completion"
    choices: list[CompletionChoice]
    usage: Usage | None = None
