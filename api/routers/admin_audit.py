"""``/v1/organization/audit_logs``: the audit log, newest first, with OpenAI's filters (admin key).

Array filters arrive as the official client sends them (``event_types[]=a&event_types[]=b``;
plain repeats work too) and the range as ``effective_at[gte]=…``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import AdminDep, SessionDep
from api.errors import InvalidRequest
from api.pagination import AfterQuery, CursorPage, limit_query
from api.services import audit

router = APIRouter(prefix="/organization", tags=["admin"])


def query_list(request: Request, name: str) -> tuple[str, ...]:
    """Values of an array query parameter, sent as ``name[]=…`` or ``name=…`` (repeated)."""
    params = request.query_params
    return tuple(v for v in params.getlist(f"{name}[]") + params.getlist(name) if v != "")


def query_range(request: Request, name: str) -> dict[str, int]:
    """``name[gt|gte|lt|lte]=<unix seconds>`` as a dict; 400 naming the parameter otherwise."""
    found: dict[str, int] = {}
    for key, value in request.query_params.multi_items():
        if not key.startswith(f"{name}[") or not key.endswith("]"):
            continue
        op = key[len(name) + 1:-1]
        if op not in ("gt", "gte", "lt", "lte"):
            raise InvalidRequest(f"Unknown comparison '{op}' in '{key}'; use gt, gte, lt or lte.",
                                 param=name, code="invalid_value")
        try:
            found[op] = int(value)
        except ValueError:
            raise InvalidRequest(f"'{key}' must be a unix timestamp in seconds, not {value!r}.",
                                 param=name, code="invalid_value") from None
    return found


@router.get("/audit_logs")
def list_audit_logs(
    request: Request, session: SessionDep, _: AdminDep, after: AfterQuery = None,
    before: Annotated[str | None, Query()] = None, limit: Annotated[int, limit_query(100)] = 20,
    include_openft_events: Annotated[bool, Query()] = False,
) -> CursorPage[dict[str, Any]]:
    """Audit entries, newest first. 200; 400 bad filter or cursor; 403 not an admin key."""
    if after is not None and before is not None:
        raise InvalidRequest("Pass either 'after' or 'before', not both.", param="before", code="invalid_value")
    query = audit.AuditQuery(
        event_types=query_list(request, "event_types"), project_ids=query_list(request, "project_ids"),
        actor_ids=query_list(request, "actor_ids"), resource_ids=query_list(request, "resource_ids"),
        effective_at=query_range(request, "effective_at"), include_openft=include_openft_events,
    )
    if query_list(request, "actor_emails"):  # openft has no users: no entry was made by one
        return CursorPage[dict[str, Any]](data=[], has_more=False)
    return audit.list_logs(session, query, after=after, before=before, limit=limit)
