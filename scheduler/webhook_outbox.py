"""The webhook outbox: an event becomes one delivery row per subscribed endpoint.

:func:`enqueue` is called by the status functions (``scheduler.jobs.change_status`` and
``api.services.evals_status.set_run_status``) with the session that writes the status, so the
delivery commits or rolls back with it; an API process delivers it later
(``api.services.webhooks.delivery``). The delivery id is the ``webhook-id`` of every attempt.
"""

from __future__ import annotations

import time

from sqlmodel import Session, col, select

from core import ids
from core.tables import WebhookDelivery, WebhookEndpoint

#: job status -> event type; eval run status -> event type.
JOB_EVENTS = {"succeeded": "fine_tuning.job.succeeded", "failed": "fine_tuning.job.failed",
              "cancelled": "fine_tuning.job.cancelled"}
EVAL_RUN_EVENTS = {"completed": "eval.run.succeeded", "failed": "eval.run.failed",
                   "canceled": "eval.run.canceled"}
EVENT_TYPES = (*JOB_EVENTS.values(), *EVAL_RUN_EVENTS.values())


def event_payload(event_id: str, event_type: str, object_id: str, created_at: int | None = None) -> dict[str, object]:
    """The event body as OpenAI sends it (``{id, object:"event", type, created_at, data:{id}}``)."""
    return {"id": event_id, "object": "event", "type": event_type,
            "created_at": int(time.time()) if created_at is None else created_at, "data": {"id": object_id}}


def enqueue(session: Session, project_id: str, event_type: str, object_id: str) -> list[WebhookDelivery]:
    """Add a pending delivery of ``event_type`` about ``object_id`` for each endpoint of
    ``project_id`` subscribed to it; returns them (none when nobody listens)."""
    endpoints = session.exec(select(WebhookEndpoint).where(col(WebhookEndpoint.project_id) == project_id)).all()
    event_id = ids.new_id("evt_")
    created = int(time.time())
    rows = []
    for endpoint in endpoints:
        if event_type not in endpoint.event_types:
            continue
        row = WebhookDelivery(id=ids.new_id("msg_"), endpoint_id=endpoint.id, project_id=project_id,
                              event_type=event_type, payload=event_payload(event_id, event_type, object_id, created))
        session.add(row)
        rows.append(row)
    return rows
