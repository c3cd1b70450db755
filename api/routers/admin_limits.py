"""``/v1/organization/projects/{id}/rate_limits``: per-model chat/completions limits (admin key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AdminDep, SessionDep, SettingsDep
from api.pagination import AfterQuery, CursorPage, limit_query
from api.schemas.admin import RateLimitObject, RateLimitUpdate
from api.services import rate_limits

router = APIRouter(prefix="/organization/projects", tags=["admin"])


@router.get("/{project_id}/rate_limits")
def list_rate_limits(project_id: str, session: SessionDep, settings: SettingsDep, _: AdminDep,
                     after: AfterQuery = None, before: Annotated[str | None, Query()] = None,
                     limit: Annotated[int, limit_query(100)] = 100) -> CursorPage[RateLimitObject]:
    """Each catalog model's limits for the project, by model name. 200; 404."""
    return rate_limits.list_limits(session, settings, project_id, after=after, before=before, limit=limit)


@router.post("/{project_id}/rate_limits/{rate_limit_id:path}")
def update_rate_limit(project_id: str, rate_limit_id: str, body: RateLimitUpdate, session: SessionDep,
                      settings: SettingsDep, caller: AdminDep) -> RateLimitObject:
    """Set ``max_requests_per_1_minute`` / ``max_tokens_per_1_minute``. 200; 400; 404."""
    return rate_limits.update_limit(session, settings, caller, project_id, rate_limit_id, body)
