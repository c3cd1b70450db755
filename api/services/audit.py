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

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from api.errors import InvalidRequest
from api.pagination import CursorPage, paginate
from core import ids
from core.tables import AuditLog, Project


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


#: OpenAI's audit-log event types that openft records; a default listing shows only these, so
#: strict clients (whose ``type`` is a closed Literal) can read it. openft's own types
#: (``fine_tuning.job.*``, ``webhook_endpoint.*``, ...) are listed when ``event_types`` names them
#: or with ``include_openft_events=true``.
OPENAI_EVENT_TYPES = frozenset({
    "api_key.created", "api_key.updated", "api_key.deleted",
    "checkpoint.permission.created", "checkpoint.permission.deleted",
    "project.created", "project.updated", "project.archived", "project.deleted",
    "rate_limit.updated", "rate_limit.deleted", "resource.deleted",
    "service_account.created", "service_account.updated", "service_account.deleted",
})


@dataclass(frozen=True)
class AuditQuery:
    """Filters of ``GET /v1/organization/audit_logs`` (OpenAI's, plus ``include_openft``)."""

    event_types: tuple[str, ...] = ()
    project_ids: tuple[str, ...] = ()
    actor_ids: tuple[str, ...] = ()
    resource_ids: tuple[str, ...] = ()
    effective_at: dict[str, int] = field(default_factory=dict)
    include_openft: bool = False


_COMPARE = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}


def to_object(row: AuditLog, project_names: dict[str, str | None]) -> dict[str, Any]:
    """The wire object (``AuditLogListResponse``): the payload sits under the key named like the type."""
    obj: dict[str, Any] = {
        "id": row.id, "object": "organization.audit_log", "type": row.type, "effective_at": row.effective_at,
        "actor": {"type": "api_key", "api_key": {"id": row.actor_key_id}} if row.actor_key_id else None,
        row.type: row.details,
    }
    if row.project_id is not None:
        obj["project"] = {"id": row.project_id, "name": project_names.get(row.project_id) or row.project_id}
    return obj


def list_logs(session: Session, query: AuditQuery, *, after: str | None, before: str | None,
              limit: int) -> CursorPage[dict[str, Any]]:
    """Entries newest first, filtered by ``query``; ``after``/``before`` are entry ids."""
    stmt = select(AuditLog)
    if query.event_types:
        stmt = stmt.where(col(AuditLog.type).in_(query.event_types))
    elif not query.include_openft:
        stmt = stmt.where(col(AuditLog.type).in_(sorted(OPENAI_EVENT_TYPES)))
    if query.project_ids:
        stmt = stmt.where(col(AuditLog.project_id).in_(query.project_ids))
    if query.actor_ids:
        stmt = stmt.where(col(AuditLog.actor_key_id).in_(query.actor_ids))
    for op, value in query.effective_at.items():
        stmt = stmt.where(getattr(col(AuditLog.effective_at), _COMPARE[op])(value))
    if query.resource_ids:
        rows = [r for r in session.exec(stmt).all() if r.details.get("id") in query.resource_ids]
        ids_ = [r.seq for r in rows]
        stmt = stmt.where(col(AuditLog.seq).in_(ids_ or [-1]))
    if before is not None:
        cursor = _cursor(session, before, "before")
        stmt = stmt.where(col(AuditLog.seq) > cursor).order_by(col(AuditLog.seq).asc()).limit(limit + 1)
        rows = list(session.exec(stmt).all())
        more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
    else:
        rows, more = paginate(session, stmt, AuditLog, sort=(AuditLog.seq,), after=after, limit=limit,
                              order="desc")
    names = {p.id: p.name for p in session.exec(
        select(Project).where(col(Project.id).in_({r.project_id for r in rows if r.project_id}))).all()}
    return CursorPage[dict[str, Any]](data=[to_object(r, names) for r in rows], has_more=more)


def _cursor(session: Session, entry_id: str, param: str) -> int:
    row = session.exec(select(AuditLog).where(AuditLog.id == entry_id)).first()
    if row is None or row.seq is None:
        raise InvalidRequest(f"No such object to page {param}: {entry_id}", param=param, code="invalid_value")
    return row.seq
