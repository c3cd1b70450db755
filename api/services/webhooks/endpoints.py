"""Webhook endpoints of a project: create, list, retrieve, update, delete, rotate the secret.

Every change is audited (``webhook_endpoint.{created,updated,deleted}``; the secret never is).
URLs go through the target guard (:mod:`.targets`) here and again at each delivery.
"""

from __future__ import annotations

import time
from typing import Any

from sqlmodel import Session, col, select

from api.errors import InvalidRequest, NotFound
from api.pagination import CursorPage, paginate
from api.schemas.webhooks import (
    DeletedWebhookEndpoint,
    DeliveryObject,
    WebhookCreate,
    WebhookEndpointObject,
    WebhookEndpointWithSecret,
    WebhookUpdate,
)
from api.services import audit
from api.services.keys import Caller
from api.services.webhooks import signing
from api.services.webhooks.targets import TargetRefused, resolve_target
from core import ids
from core.settings import Settings
from core.tables import WebhookDelivery, WebhookEndpoint
from scheduler.webhook_outbox import EVENT_TYPES

OLD_SECRET_GRACE_SECONDS = 24 * 3600


def to_object(row: WebhookEndpoint) -> WebhookEndpointObject:
    return WebhookEndpointObject(id=row.id, name=row.name, url=row.url, event_types=list(row.event_types),
                                 created_at=row.created_at, updated_at=row.updated_at,
                                 signing_secret_hint=signing.secret_hint(row.secret))


def _with_secret(row: WebhookEndpoint) -> WebhookEndpointWithSecret:
    return WebhookEndpointWithSecret(**to_object(row).model_dump(), signing_secret=row.secret)


def check_event_types(event_types: list[str], param: str = "event_types") -> list[str]:
    """The distinct event types, in order; 400 for one openft does not send."""
    for event_type in event_types:
        if event_type not in EVENT_TYPES:
            raise InvalidRequest(f"Unsupported event type {event_type!r}; openft sends: {', '.join(EVENT_TYPES)}",
                                 param=param, code="invalid_value")
    return list(dict.fromkeys(event_types))


def check_target(settings: Settings, url: str) -> None:
    """400 naming ``url`` when the target guard refuses it."""
    try:
        resolve_target(url, settings.webhooks_allow_private_targets)
    except TargetRefused as exc:
        raise InvalidRequest(str(exc), param="url", code="invalid_url") from None


def load(session: Session, project_id: str, endpoint_id: str) -> WebhookEndpoint:
    """The project's endpoint; 404 otherwise (another project's reads the same)."""
    row = session.exec(select(WebhookEndpoint).where(col(WebhookEndpoint.id) == endpoint_id,
                                                     col(WebhookEndpoint.project_id) == project_id)).first()
    if row is None:
        raise NotFound.object("WebhookEndpoint", endpoint_id, param="webhook_endpoint_id")
    return row


def _audit(session: Session, caller: Caller, kind: str, row: WebhookEndpoint, data: dict[str, Any]) -> None:
    audit.record(session, caller.key_id, f"webhook_endpoint.{kind}", row.project_id, {"id": row.id, "data": data})


def create(session: Session, settings: Settings, caller: Caller, body: WebhookCreate) -> WebhookEndpointWithSecret:
    """A new endpoint; its signing secret is in this answer only."""
    event_types = check_event_types(body.event_types)
    check_target(settings, body.url)
    row = WebhookEndpoint(id=ids.new_id("we_"), project_id=caller.project_id, name=body.name, url=body.url,
                          event_types=event_types, secret=signing.new_secret())
    session.add(row)
    _audit(session, caller, "created", row, {"name": row.name, "url": row.url, "event_types": event_types})
    session.flush()
    return _with_secret(row)


def list_endpoints(session: Session, project_id: str, after: str | None,
                   limit: int) -> CursorPage[WebhookEndpointObject]:
    stmt = select(WebhookEndpoint).where(col(WebhookEndpoint.project_id) == project_id)
    rows, has_more = paginate(session, stmt, WebhookEndpoint, sort=(col(WebhookEndpoint.created_at),
                              col(WebhookEndpoint.seq)), after=after, limit=limit, order="desc")
    return CursorPage[WebhookEndpointObject](data=[to_object(r) for r in rows], has_more=has_more)


def update(session: Session, settings: Settings, caller: Caller, endpoint_id: str,
           body: WebhookUpdate) -> WebhookEndpointObject:
    """Change name, url or event types; ``updated_at`` moves only when something changed."""
    row = load(session, caller.project_id, endpoint_id)
    changes: dict[str, Any] = {}
    if body.name is not None and body.name != row.name:
        changes["name"] = body.name
    if body.url is not None and body.url != row.url:
        check_target(settings, body.url)
        changes["url"] = body.url
    if body.event_types is not None:
        event_types = check_event_types(body.event_types)
        if event_types != row.event_types:
            changes["event_types"] = event_types
    if changes:
        for key, value in changes.items():
            setattr(row, key, value)
        row.updated_at = int(time.time())
        _audit(session, caller, "updated", row, {"changes_requested": changes})
    return to_object(row)


def delete(session: Session, caller: Caller, endpoint_id: str) -> DeletedWebhookEndpoint:
    """Delete the endpoint; its pending deliveries are dropped with it."""
    row = load(session, caller.project_id, endpoint_id)
    for delivery in session.exec(select(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == row.id)).all():
        session.delete(delivery)
    _audit(session, caller, "deleted", row, {"url": row.url})
    session.delete(row)
    return DeletedWebhookEndpoint(id=endpoint_id)


def rotate_secret(session: Session, caller: Caller, endpoint_id: str, keep_old: bool) -> WebhookEndpointWithSecret:
    """A new secret; the old one keeps signing for 24 h when ``keep_old``."""
    row = load(session, caller.project_id, endpoint_id)
    row.old_secret = row.secret if keep_old else None
    row.old_secret_expires_at = int(time.time()) + OLD_SECRET_GRACE_SECONDS if keep_old else None
    row.secret = signing.new_secret()
    row.updated_at = int(time.time())
    _audit(session, caller, "updated", row, {"changes_requested": {"signing_secret": "rotated"}})
    return _with_secret(row)


def list_deliveries(session: Session, project_id: str, endpoint_id: str, after: str | None,
                    limit: int) -> CursorPage[DeliveryObject]:
    """The endpoint's deliveries, newest first, with their attempts."""
    load(session, project_id, endpoint_id)
    stmt = select(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint_id)
    rows, has_more = paginate(session, stmt, WebhookDelivery, sort=(col(WebhookDelivery.created_at),
                              col(WebhookDelivery.seq)), after=after, limit=limit, order="desc")
    data = [DeliveryObject(id=r.id, webhook_endpoint_id=r.endpoint_id, event_type=r.event_type,
                           status=r.status, payload=r.payload, attempts=list(r.attempts), created_at=r.created_at,
                           next_attempt_at=int(r.next_attempt_at) if r.status == "pending" else None,
                           delivered_at=r.delivered_at) for r in rows]
    return CursorPage[DeliveryObject](data=data, has_more=has_more)


def load_detached(engine: Any, project_id: str, endpoint_id: str) -> WebhookEndpoint:
    """:func:`load` in its own session, for the async test send."""
    from core.db import session_scope

    with session_scope(engine) as session:
        row = load(session, project_id, endpoint_id)
        session.expunge(row)
        return row
