"""``POST /v1/webhook_endpoints/{id}/test``: one sample event sent now, outside the outbox."""

from __future__ import annotations

from anyio import to_thread

from api.errors import InvalidRequest
from api.schemas.webhooks import WebhookTestResult
from api.services.webhooks import delivery, endpoints
from api.state import AppState
from core import ids
from scheduler.webhook_outbox import event_payload

SAMPLE_OBJECT_IDS = {"fine_tuning": "ftjob-sample", "eval": "evalrun_sample"}


async def send_test(state: AppState, project_id: str, endpoint_id: str, event_type: str) -> WebhookTestResult:
    """Sign and POST a sample ``event_type`` event; 400 when it cannot be sent at all."""
    endpoints.check_event_types([event_type], param="event_type")
    endpoint = await to_thread.run_sync(endpoints.load_detached, state.engine, project_id, endpoint_id)
    payload = event_payload(ids.new_id("evt_"), event_type, SAMPLE_OBJECT_IDS[event_type.split(".", 1)[0]])
    status_code, error = await delivery.post(state.settings, endpoint.url, delivery.active_secrets(endpoint),
                                             ids.new_id("msg_"), delivery.body_bytes(payload))
    if status_code is None:
        raise InvalidRequest(f"The test event could not be delivered to {endpoint.url}: {error}",
                             param="webhook_endpoint_id", code="webhook_delivery_failed")
    return WebhookTestResult(webhook_endpoint_id=endpoint.id, event_type=event_type, status_code=status_code)
