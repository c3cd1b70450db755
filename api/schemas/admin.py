"""Wire models of ``/v1/organization/*``, field for field as ``openai.types.admin.organization``.

openft's extensions are marked: a project's fine-tuning ``quotas``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Name = Field(min_length=1, max_length=256)


class Quotas(BaseModel):
    """openft: a project's fine-tuning quotas; null means unlimited."""

    model_config = ConfigDict(extra="forbid")

    max_running_jobs: int | None = Field(None, ge=0, description="jobs running at once")
    max_queued_jobs: int | None = Field(None, ge=0, description="jobs waiting (validating or queued) at once")
    max_gpu_hours_per_month: float | None = Field(None, ge=0, description="GPU-hours per calendar month (UTC)")


class ProjectObject(BaseModel):
    id: str
    object: Literal["organization.project"] = "organization.project"
    name: str | None
    created_at: int
    archived_at: int | None = None
    status: Literal["active", "archived"]
    quotas: Quotas


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    geography: str | None = None
    external_key_id: str | None = None
    residency: Any = None
    quotas: Quotas | None = None


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=256)
    geography: str | None = None
    external_key_id: str | None = None
    quotas: Quotas | None = None


class ServiceAccountObject(BaseModel):
    id: str
    object: Literal["organization.project.service_account"] = "organization.project.service_account"
    name: str
    role: Literal["owner", "member", "none"]
    created_at: int


class ServiceAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    create_service_account_only: bool = False


class ServiceAccountKey(BaseModel):
    id: str
    object: Literal["organization.project.service_account.api_key"] = (
        "organization.project.service_account.api_key")
    name: str
    value: str
    created_at: int
    expires_at: int | None = None


class ServiceAccountCreated(ServiceAccountObject):
    role: Literal["member", "none"]
    api_key: ServiceAccountKey | None


class Deleted(BaseModel):
    id: str
    object: str
    deleted: bool


class KeyOwnerServiceAccount(BaseModel):
    id: str
    name: str
    role: str
    created_at: int


class KeyOwner(BaseModel):
    type: Literal["user", "service_account"] | None = None
    service_account: KeyOwnerServiceAccount | None = None


class ProjectApiKeyObject(BaseModel):
    id: str
    object: Literal["organization.project.api_key"] = "organization.project.api_key"
    name: str
    redacted_value: str
    created_at: int
    last_used_at: int | None = None
    expires_at: int | None = None
    owner: KeyOwner
    owner_project_access: Literal["active", "inactive"]


class AdminKeyObject(BaseModel):
    id: str
    object: Literal["organization.admin_api_key"] = "organization.admin_api_key"
    name: str | None
    redacted_value: str
    created_at: int
    last_used_at: int | None = None
    expires_at: int | None = None
    owner: dict[str, Any]


class AdminKeyCreated(AdminKeyObject):
    value: str


class AdminKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    expires_in_seconds: int | None = Field(None, ge=1)


class RateLimitObject(BaseModel):
    id: str
    object: Literal["project.rate_limit"] = "project.rate_limit"
    model: str
    max_requests_per_1_minute: int
    max_tokens_per_1_minute: int


class RateLimitUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_requests_per_1_minute: int | None = Field(None, ge=1)
    max_tokens_per_1_minute: int | None = Field(None, ge=1)
    max_requests_per_1_day: int | None = None
    max_images_per_1_minute: int | None = None
    max_audio_megabytes_per_1_minute: int | None = None
    batch_1_day_max_input_tokens: int | None = None
