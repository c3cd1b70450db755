"""Wire models of ``/v1/models``, field for field as ``openai.types.Model`` / ``ModelDeleted``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


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
