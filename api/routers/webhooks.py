"""``/v1/webhook_endpoints`` (and ``/v1/webhook_event_types``): a project's webhooks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from api.deps import CallerDep, SessionDep, SettingsDep, StateDep
from api.pagination import AfterQuery, CursorPage, limit_query
from api.schemas.webhooks import (
    DeletedWebhookEndpoint,
    DeliveryObject,
    EventTypeList,
    RotateSecret,
    WebhookCreate,
    WebhookEndpointObject,
    WebhookEndpointWithSecret,
    WebhookTest,
    WebhookTestResult,
    WebhookUpdate,
)
from api.services.webhooks import endpoints, testing
from scheduler.webhook_outbox import EVENT_TYPES

router = APIRouter(tags=["webhooks"])
Limit = Annotated[int, limit_query(100)]


@router.post("/webhook_endpoints")
def create_webhook(body: WebhookCreate, session: SessionDep, settings: SettingsDep,
                   caller: CallerDep) -> WebhookEndpointWithSecret:
    """A new endpoint with its signing secret (shown only here). 200; 400 bad url/event types; 401."""
    return endpoints.create(session, settings, caller, body)


@router.get("/webhook_endpoints")
def list_webhooks(session: SessionDep, caller: CallerDep, after: AfterQuery = None,
                  limit: Limit = 20) -> CursorPage[WebhookEndpointObject]:
    """The project's endpoints, newest first. 200; 400 bad cursor; 401."""
    return endpoints.list_endpoints(session, caller.project_id, after, limit)


@router.get("/webhook_endpoints/{webhook_endpoint_id}")
def retrieve_webhook(webhook_endpoint_id: str, session: SessionDep, caller: CallerDep) -> WebhookEndpointObject:
    """200; 401; 404."""
    return endpoints.to_object(endpoints.load(session, caller.project_id, webhook_endpoint_id))


@router.post("/webhook_endpoints/{webhook_endpoint_id}")
def update_webhook(webhook_endpoint_id: str, body: WebhookUpdate, session: SessionDep, settings: SettingsDep,
                   caller: CallerDep) -> WebhookEndpointObject:
    """200; 400; 401; 404."""
    return endpoints.update(session, settings, caller, webhook_endpoint_id, body)


@router.delete("/webhook_endpoints/{webhook_endpoint_id}")
def delete_webhook(webhook_endpoint_id: str, session: SessionDep, caller: CallerDep) -> DeletedWebhookEndpoint:
    """200; 401; 404."""
    return endpoints.delete(session, caller, webhook_endpoint_id)


@router.post("/webhook_endpoints/{webhook_endpoint_id}/rotate_secret")
def rotate_webhook_secret(webhook_endpoint_id: str, session: SessionDep, caller: CallerDep,
                          body: RotateSecret | None = None) -> WebhookEndpointWithSecret:
    """A new signing secret (shown only here). 200; 401; 404."""
    keep = body.keep_old_secret_active_for_24_hours if body else False
    return endpoints.rotate_secret(session, caller, webhook_endpoint_id, keep)


@router.post("/webhook_endpoints/{webhook_endpoint_id}/test")
async def test_webhook(webhook_endpoint_id: str, body: WebhookTest, state: StateDep,
                       caller: CallerDep) -> WebhookTestResult:
    """Send a sample event now. 200 with the receiver's status; 400 unreachable; 401; 404."""
    return await testing.send_test(state, caller.project_id, webhook_endpoint_id, body.event_type)


@router.get("/webhook_endpoints/{webhook_endpoint_id}/deliveries")
def list_deliveries(webhook_endpoint_id: str, session: SessionDep, caller: CallerDep, after: AfterQuery = None,
                    limit: Limit = 20) -> CursorPage[DeliveryObject]:
    """openft: the endpoint's deliveries with their attempts, newest first. 200; 401; 404."""
    return endpoints.list_deliveries(session, caller.project_id, webhook_endpoint_id, after, limit)


@router.get("/webhook_event_types")
def list_event_types(_: CallerDep) -> EventTypeList:
    """The event types openft sends. 200; 401."""
    return EventTypeList(data=list(EVENT_TYPES))
