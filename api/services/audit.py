"""The audit log: one function records every audited action; the admin API lists them.

Event types are OpenAI's audit-log names where one exists (``project.created``,
``api_key.created``, ``service_account.deleted``, ``rate_limit.updated``,
``checkpoint.permission.created``, ...). openft actions OpenAI has no name for use
``fine_tuning.job.created``, ``fine_tuning.job.cancelled``, ``model.deleted`` and
``webhook_endpoint.{created,updated,deleted}``. ``details`` is the type's payload as the audit
log object shows it under the key named like the type (e.g. ``{"id": ..., "data": {...}}``);
it must never hold a secret.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from core import ids
from core.tables import AuditLog


def record(
    session: Session,
    actor_key_id: str | None,
    event_type: str,
    project_id: str | None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Add one audit entry to ``session`` (committed with the action it describes).

    ``actor_key_id`` is the public id of the API key that acted (``Caller.key_id``; None for
    the system itself), ``project_id`` the project the action concerns (None for
    organization-wide ones such as admin keys).
    """
    row = AuditLog(
        id=ids.new_id("audit_log-"),
        type=event_type,
        project_id=project_id,
        actor_key_id=actor_key_id,
        details=dict(details or {}),
    )
    session.add(row)
    return row
