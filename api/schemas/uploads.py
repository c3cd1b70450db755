"""Wire models of ``/v1/uploads`` (``openai.types.Upload``, ``openai.types.uploads.UploadPart``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.files import FileObject, UploadPurpose

UploadStatus = Literal["pending", "completed", "cancelled", "expired"]


class ExpiresAfter(BaseModel):
    """``{"anchor": "created_at", "seconds": N}`` for the File an upload produces."""

    model_config = ConfigDict(extra="forbid")

    anchor: Literal["created_at"]
    seconds: int = Field(ge=3600, le=2592000)


class UploadCreate(BaseModel):
    """Body of ``POST /v1/uploads``."""

    bytes: int = Field(ge=1, description="total size the parts will add up to")
    filename: str = Field(min_length=1)
    mime_type: str = Field(min_length=1, max_length=255)
    purpose: UploadPurpose
    expires_after: ExpiresAfter | None = None


class UploadComplete(BaseModel):
    """Body of ``POST /v1/uploads/{id}/complete``."""

    part_ids: list[str] = Field(min_length=1, max_length=10000)
    md5: str | None = None


class Upload(BaseModel):
    """An upload (``openai.types.Upload``); ``file`` is set once completed."""

    id: str
    object: Literal["upload"] = "upload"
    bytes: int
    created_at: int
    expires_at: int
    filename: str
    purpose: str
    status: UploadStatus
    file: FileObject | None = None


class UploadPart(BaseModel):
    """One part of an upload (``openai.types.uploads.UploadPart``)."""

    id: str
    object: Literal["upload.part"] = "upload.part"
    created_at: int
    upload_id: str
