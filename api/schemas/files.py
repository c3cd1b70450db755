"""Wire models of ``/v1/files``, field for field as ``openai.types.FileObject`` / ``FileDeleted``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

#: purposes a caller may upload with (``openai.types.FilePurpose``)
UploadPurpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]
UPLOAD_PURPOSES: tuple[str, ...] = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")

#: purposes a file object can have (uploads plus what the service itself writes)
FilePurpose = Literal[
    "assistants", "assistants_output", "batch", "batch_output", "fine-tune", "fine-tune-results",
    "vision", "user_data", "evals",
]
FileStatus = Literal["uploaded", "processed", "error"]

EXPIRES_MIN_SECONDS = 3600
EXPIRES_MAX_SECONDS = 30 * 24 * 3600


class FileObject(BaseModel):
    """A stored file (``openai.types.FileObject``); timestamps are unix seconds."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    expires_at: int | None = None
    filename: str
    purpose: FilePurpose
    status: FileStatus
    status_details: str | None = None


class FileDeleted(BaseModel):
    """Answer of ``DELETE /v1/files/{id}`` (``openai.types.FileDeleted``)."""

    id: str
    object: Literal["file"] = "file"
    deleted: bool
