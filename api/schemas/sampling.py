"""Request fields that chat and legacy completions share: OpenAI's sampling parameters.

Every range is checked here, before a model is touched, so an out-of-range value is a 400
naming the parameter (streamed or not) and never reaches generation.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: ``seed`` seeds a 64-bit generator: anything outside its range is refused before generation
SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1
#: OpenAI accepts up to four stop sequences
MAX_STOP = 4


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool | None = None


class SamplingRequest(BaseModel):
    """The sampling parameters of ``POST /v1/chat/completions`` and ``POST /v1/completions``."""

    model_config = ConfigDict(extra="allow")

    model: str
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    n: int | None = Field(None, ge=1, le=128)
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=SEED_MIN, le=SEED_MAX)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    user: str | None = None
