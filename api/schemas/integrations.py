"""Wire models of ``/v1/organization/projects/{id}/integrations/wandb`` (openft; OpenAI keeps W&B keys
in its dashboard, which has no API)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class WandbKeySet(BaseModel):
    """Set the project's W&B API key; its jobs log with it instead of the operator's."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(description="the W&B API key (shown again only as its last four characters)")

    @field_validator("api_key")
    @classmethod
    def _plain_token(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if not 1 <= len(text) <= 512 or any(c.isspace() for c in text):
            raise ValueError("must be 1 to 512 characters without spaces")
        return value


class ProjectIntegrationObject(BaseModel):
    """A project's integration credentials, without the secret."""

    id: Literal["wandb"] = "wandb"
    object: Literal["organization.project.integration"] = "organization.project.integration"
    project_id: str
    api_key_hint: str = Field(description="the key's last four characters, after '...'")
    created_at: int
    updated_at: int


class ProjectIntegrationDeleted(BaseModel):
    id: Literal["wandb"] = "wandb"
    object: Literal["organization.project.integration.deleted"] = "organization.project.integration.deleted"
    deleted: bool = True
