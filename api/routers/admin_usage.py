"""``/v1/organization/usage/completions`` and ``/v1/organization/costs``: usage and chargeback (admin key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import AdminDep, SessionDep, SettingsDep
from api.errors import InvalidRequest
from api.routers.admin_audit import query_list
from api.services import usage

router = APIRouter(prefix="/organization", tags=["admin"])

StartTime = Annotated[int, Query(ge=0, description="unix seconds, inclusive")]
OptInt = Annotated[int | None, Query()]


def _query(request: Request, start_time: int, end_time: int | None, bucket_width: str, limit: int | None,
           page: str | None, allowed_groups: tuple[str, ...]) -> usage.UsageQuery:
    group_by = query_list(request, "group_by")
    for g in group_by:
        if g not in allowed_groups:
            raise InvalidRequest(f"group_by accepts {', '.join(allowed_groups)}; got {g!r}.", param="group_by",
                                 code="invalid_value")
    batch = request.query_params.get("batch")
    return usage.UsageQuery(
        start_time=start_time, end_time=end_time, bucket_width=bucket_width, limit=limit, page=page,
        group_by=group_by, project_ids=query_list(request, "project_ids"),
        api_key_ids=query_list(request, "api_key_ids"), models=query_list(request, "models"),
        nothing=bool(query_list(request, "user_ids")) or batch == "true",
    )


@router.get("/usage/completions")
def usage_completions(request: Request, session: SessionDep, _: AdminDep, start_time: StartTime,
                      end_time: OptInt = None, bucket_width: str = "1d", limit: OptInt = None,
                      page: str | None = None) -> dict[str, Any]:
    """Tokens and requests of chat and legacy completions, by time bucket. 200; 400."""
    q = _query(request, start_time, end_time, bucket_width, limit, page, usage.COMPLETIONS_GROUPS)
    return usage.completions(session, q)


@router.get("/costs")
@router.get("/usage/costs", include_in_schema=False)
def usage_costs(request: Request, session: SessionDep, settings: SettingsDep, _: AdminDep, start_time: StartTime,
                end_time: OptInt = None, bucket_width: str = "1d", limit: OptInt = None,
                page: str | None = None) -> dict[str, Any]:
    """Costs by day: served tokens and fine-tuning, priced with ``OPENFT_PRICE_*``. 200; 400."""
    if bucket_width != "1d":
        raise InvalidRequest("bucket_width for costs must be 1d.", param="bucket_width", code="invalid_value")
    q = _query(request, start_time, end_time, bucket_width, limit, page, usage.COSTS_GROUPS)
    return usage.costs(session, settings, q, query_list(request, "line_items"))
