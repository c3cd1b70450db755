"""Wire models of ``/v1/models``, field for field as ``openai.types.Model`` / ``ModelDeleted``, and of
our ``/v1/models/merges`` extension."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas.jobs import valid_suffix


class ModelObject(BaseModel):
    """A model the caller can use: a catalog base model or one of its project's ``ft:`` models."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    """``GET /v1/models``: every model in one page (the client does not paginate it)."""

    object: Literal["list"] = "list"
    data: list[ModelObject]


class ModelDeleted(BaseModel):
    """Answer of ``DELETE /v1/models/{id}``."""

    id: str
    object: Literal["model"] = "model"
    deleted: bool


MergeMethod = Literal["linear", "ties", "dare_ties", "dare_linear", "cat"]
#: methods that prune each adapter's delta to ``density`` before combining (PEFT's add_weighted_adapter)
DENSITY_METHODS = ("ties", "dare_ties", "dare_linear")


class MergeCreate(BaseModel):
    """``POST /v1/models/merges`` (our extension): combine ``ft:`` models of one base into a new one."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(min_length=2, max_length=8, description="two or more ft: models of one base")
    method: MergeMethod = "linear"
    weights: list[float] | None = Field(None, description="one per model (default: equal, summing to 1)")
    density: float | None = Field(None, gt=0, le=1, description="share of each delta kept (ties, dare_*)")
    suffix: str | None = Field(None, min_length=1, max_length=64)

    @field_validator("models")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("models must be distinct")
        return value

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not all(math.isfinite(w) and w > 0 for w in value):
            raise ValueError("weights must be positive numbers")
        return value

    @field_validator("suffix")
    @classmethod
    def _suffix(cls, value: str | None) -> str | None:
        return valid_suffix(value)


class MergeError(BaseModel):
    code: str
    message: str
    param: str | None = None


class MergeObject(BaseModel):
    """A merge: its status and, once ``succeeded``, the servable ``fine_tuned_model``."""

    id: str
    object: Literal["model.merge"] = "model.merge"
    status: Literal["queued", "running", "succeeded", "failed"]
    base_model: str
    models: list[str]
    method: MergeMethod
    weights: list[float]
    density: float | None
    fine_tuned_model: str
    created_at: int
    finished_at: int | None
    error: MergeError | None
