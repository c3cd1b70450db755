"""Deliveries from the outbox: every API process claims due rows and POSTs them, signed.

A row is claimed with a conditional update of ``claimed_at`` (a lease: a process that dies
mid-attempt loses it after :func:`lease_seconds`), so replicas never send one attempt twice.
A 2xx answer marks it ``delivered``; anything else is recorded as an attempt and retried after
``webhooks_retry_base_seconds * 2**(attempt-1)`` until ``webhooks_retry_max_seconds`` after the
event, then marked ``failed``. Each attempt carries the row id as ``webhook-id``, so a receiver
sees one id however often it is tried, across restarts too (the row is the truth).

Hostile targets: the address is re-checked after resolution and connected to directly, redirects
are not followed, the answer body is never read beyond :data:`MAX_RESPONSE_BYTES`, and each
attempt has ``webhooks_timeout_seconds``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx2
from anyio import to_thread
from sqlalchemy import or_, update
from sqlmodel import col, select

from api.services.webhooks import signing
from api.services.webhooks.targets import TargetRefused, resolve_target
from api.state import AppState, run_claimed
from core.db import session_scope
from core.settings import Settings
from core.tables import WebhookDelivery, WebhookEndpoint

log = logging.getLogger("openft.api.webhooks")

MAX_RESPONSE_BYTES = 64 * 1024


def lease_seconds(settings: Settings) -> float:
    """How long a claim holds: one attempt's timeout plus slack."""
    return settings.webhooks_timeout_seconds + 30.0


def body_bytes(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def active_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """The current secret, and the previous one while its grace period lasts."""
    keep = endpoint.old_secret and (endpoint.old_secret_expires_at or 0) > time.time()
    return [endpoint.secret, endpoint.old_secret] if keep and endpoint.old_secret else [endpoint.secret]


async def post(settings: Settings, url: str, secrets_: list[str], webhook_id: str,
               body: bytes) -> tuple[int | None, str | None]:
    """One signed POST; (status code, None) or (None, why it could not be sent)."""
    try:
        target = await to_thread.run_sync(resolve_target, url, settings.webhooks_allow_private_targets)
    except TargetRefused as exc:
        return None, str(exc)
    headers = signing.signed_headers(secrets_, webhook_id, body) | {"host": target.host_header}
    try:
        async with httpx2.AsyncClient(follow_redirects=False, timeout=settings.webhooks_timeout_seconds,
                                     trust_env=False) as http:
            request = http.build_request("POST", target.connect_url, content=body, headers=headers,
                                         extensions={"sni_hostname": target.host})
            response = await http.send(request, stream=True)
            try:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= MAX_RESPONSE_BYTES:
                        break
            finally:
                await response.aclose()
            return response.status_code, None
    except httpx2.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def claim_next(state: AppState) -> tuple[WebhookDelivery, WebhookEndpoint] | None:
    """Claim the oldest due delivery for this process (and load its endpoint); None when none is due."""
    now = time.time()
    lease = lease_seconds(state.settings)
    free = or_(col(WebhookDelivery.claimed_at).is_(None), col(WebhookDelivery.claimed_at) < now - lease)
    with session_scope(state.engine) as session:
        due = session.exec(select(WebhookDelivery).where(
            col(WebhookDelivery.status) == "pending", col(WebhookDelivery.next_attempt_at) <= now, free,
        ).order_by(col(WebhookDelivery.next_attempt_at)).limit(8)).all()
        for row in due:
            claimed = session.connection().execute(
                update(WebhookDelivery).where(col(WebhookDelivery.seq) == row.seq,
                                              col(WebhookDelivery.status) == "pending",
                                              _same(col(WebhookDelivery.claimed_at), row.claimed_at))
                .values(claimed_at=now))
            if claimed.rowcount != 1:
                continue
            endpoint = session.exec(select(WebhookEndpoint).where(col(WebhookEndpoint.id) == row.endpoint_id)).first()
            session.expunge(row)
            row.claimed_at = now
            if endpoint is None:  # deleted meanwhile: nothing to deliver to
                continue
            session.expunge(endpoint)
            return row, endpoint
    return None


def _same(column: Any, value: float | None) -> Any:
    return column.is_(None) if value is None else column == value


def _record(state: AppState, claimed: WebhookDelivery, status_code: int | None, error: str | None) -> str:
    """Write the attempt and the next state, unless the claim was taken over; returns the status."""
    settings = state.settings
    now = time.time()
    with session_scope(state.engine) as session:
        row = session.exec(select(WebhookDelivery).where(col(WebhookDelivery.seq) == claimed.seq)).first()
        if row is None or row.claimed_at != claimed.claimed_at or row.status != "pending":
            return "lost"
        attempts = [*row.attempts, {"at": int(now), "status_code": status_code, "error": error}]
        row.attempts = attempts
        row.claimed_at = None
        if status_code is not None and 200 <= status_code < 300:
            row.status, row.delivered_at = "delivered", int(now)
        else:
            next_at = now + settings.webhooks_retry_base_seconds * 2 ** (len(attempts) - 1)
            if next_at > row.created_at + settings.webhooks_retry_max_seconds:
                row.status = "failed"
            else:
                row.next_attempt_at = next_at
        return row.status


async def deliver(state: AppState, row: WebhookDelivery, endpoint: WebhookEndpoint) -> str:
    """Attempt one claimed delivery and record it; returns the row's status after it."""
    status_code, error = await post(state.settings, endpoint.url, active_secrets(endpoint), row.id,
                                    body_bytes(row.payload))
    if error is not None:
        log.info("webhook %s to %s not delivered: %s", row.id, endpoint.id, error)
    return await to_thread.run_sync(_record, state, row, status_code, error)


async def run_due(state: AppState) -> int:
    """Claim and attempt due deliveries until none is left; returns how many were attempted."""
    return await run_claimed(state, claim_next, lambda claimed: deliver(state, *claimed))

