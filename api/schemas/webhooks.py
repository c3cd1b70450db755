"""Wire models of ``/v1/webhook_endpoints``, field for field as ``openai.types.webhooks``.

openft's extension: ``GET /v1/webhook_endpoints/{id}/deliveries`` lists the outbox rows of an
endpoint with their attempts (:class:`DeliveryObject`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class WebhookEndpointObject(BaseModel):
    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    name: str
    url: str
    event_types: list[str]
    created_at: int
    updated_at: int | None = None
    signing_secret_hint: str | None = None


class WebhookEndpointWithSecret(WebhookEndpointObject):
    signing_secret: str


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    url: str = Field(min_length=1, max_length=2048)
    event_types: list[str] = Field(min_length=1, max_length=32)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=256)
    url: str | None = Field(None, min_length=1, max_length=2048)
    event_types: list[str] | None = Field(None, min_length=1, max_length=32)


class RotateSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_old_secret_active_for_24_hours: bool = False


class WebhookTest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_type: str


class WebhookTestResult(BaseModel):
    object: Literal["webhook_endpoint.test"] = "webhook_endpoint.test"
    webhook_endpoint_id: str
    event_type: str
    status_code: int
    success: Literal[True] = True


class DeletedWebhookEndpoint(BaseModel):
    id: str
    object: Literal["webhook_endpoint.deleted"] = "webhook_endpoint.deleted"
    deleted: bool = True


class EventTypeList(BaseModel):
    object: Literal["list"] = "list"
    data: list[str]


class DeliveryObject(BaseModel):
    """openft: one queued event to one endpoint, with every attempt (``{at, status_code, error}``)."""

    id: str
    object: Literal["webhook_endpoint.delivery"] = "webhook_endpoint.delivery"
    webhook_endpoint_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    payload: dict[str, Any]
    attempts: list[dict[str, Any]]
    created_at: int
    next_attempt_at: int | None
    delivered_at: int | None
