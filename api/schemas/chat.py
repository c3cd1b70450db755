"""Wire models of ``POST /v1/chat/completions``, field for field as OpenAI's.

The request mirrors ``openai.types.chat.completion_create_params``: parameters openft uses are
typed (a bad value is a 400 naming it); others OpenAI accepts (``user``, ``metadata``,
``store``, ``service_tier``…) are accepted and ignored. The responses mirror
``openai.types.chat.ChatCompletion`` and ``ChatCompletionChunk``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.sampling import SamplingRequest

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class ChatMessageIn(BaseModel):
    """One message of the conversation (``ChatCompletionMessageParam``)."""

    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class ChatCompletionRequest(SamplingRequest):
    """Body of ``POST /v1/chat/completions`` (the sampling fields are :class:`SamplingRequest`'s)."""

    messages: list[ChatMessageIn] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None


# --- responses ------------------------------------------------------------------------------
class FunctionCall(BaseModel):
    name: str
    arguments: str


class ToolCall(BaseModel):
    """``ChatCompletionMessageFunctionToolCall``."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessageOut(BaseModel):
    """``ChatCompletionMessage``."""

    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None
    #: absent (not null) when the model called no tool, as in OpenAI's answers
    tool_calls: list[ToolCall] | None = Field(None, exclude_if=lambda v: v is None)


class Choice(BaseModel):
    index: int
    message: ChatMessageOut
    finish_reason: FinishReason
    logprobs: None = None


class Usage(BaseModel):
    """``CompletionUsage``."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Served(BaseModel):
    """What every completion answer and streamed event carries (chat and legacy alike): its id, when and
    which model served it, and the fingerprint of what served it."""

    id: str
    created: int
    model: str
    system_fingerprint: str | None = None


class ChatCompletion(Served):
    """``chat.completion``."""

    object: Literal["chat.completion"] = "chat.completion"
    choices: list[Choice]
    usage: Usage
    service_tier: Literal["default"] = "default"


class ToolCallDelta(BaseModel):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCall | None = None


class ChoiceDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: ChoiceDelta
    finish_reason: FinishReason | None = None
    logprobs: None = None


class ChatCompletionChunk(Served):
    """``chat.completion.chunk``: one server-sent event of a streamed completion."""

    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    choices: list[ChunkChoice]
    usage: Usage | None = None
    service_tier: Literal["default"] = "default"
