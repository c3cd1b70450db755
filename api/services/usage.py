"""Usage and costs: what each chat/completions request and each fine-tuning job used, and the
``organization/usage/completions`` and ``organization/usage/costs`` reports over it.

A request's tokens are recorded when it finishes (:class:`Meter`), a job's trained tokens and
device-seconds when it ends (``scheduler.usage``), one ``usage_records`` row each. Buckets are
``[start_time + i*width, start_time + (i+1)*width)``, as OpenAI returns them, empty ones included;
``page`` is the start of the next bucket. Costs are priced when the report is read, from the
operator's ``OPENFT_PRICE_*`` settings.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.errors import InvalidRequest
from api.services import rate_limits
from api.services.keys import Caller
from api.state import AppState
from core.db import session_scope
from core.settings import Settings
from core.tables import UsageRecord

WIDTHS = {"1m": 60, "1h": 3600, "1d": 86400}
LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
COMPLETIONS_GROUPS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier", "api_source")
COSTS_GROUPS = ("project_id", "user_id", "line_item", "api_key_id", "api_source")


@dataclass
class Meter:
    """Records one admitted chat/completions request once its token counts are known."""

    engine: Engine
    project_id: str
    model: str
    api_key_id: str | None
    admission: rate_limits.Admission

    async def on_usage(self, prompt_tokens: int, completion_tokens: int) -> None:
        """The :data:`~api.services.sampling.UsageHook` of this request."""
        await run_in_threadpool(self.record, prompt_tokens, completion_tokens)

    def record(self, prompt_tokens: int, completion_tokens: int) -> None:
        """One usage row, and the tokens added to the request's rate-limit window."""
        with session_scope(self.engine) as session:
            session.add(UsageRecord(kind="completions", project_id=self.project_id, model=self.model,
                                    api_key_id=self.api_key_id, input_tokens=prompt_tokens,
                                    output_tokens=completion_tokens, requests=1))
            rate_limits.add_tokens(session, self.admission, prompt_tokens + completion_tokens)


async def admit(state: AppState, caller: Caller, model: str) -> Meter:
    """Count a chat/completions request against the project's limits (429 when over, before
    anything else happens) and return the meter that records its usage."""
    admission = await run_in_threadpool(rate_limits.admit, state.engine, state.settings, caller.project_id, model)
    return Meter(state.engine, caller.project_id, model, caller.key_id, admission)


@dataclass(frozen=True)
class UsageQuery:
    """The common query parameters of the usage and costs reports."""

    start_time: int
    end_time: int | None
    bucket_width: str
    limit: int | None
    page: str | None
    group_by: tuple[str, ...]
    project_ids: tuple[str, ...] = ()
    api_key_ids: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    nothing: bool = False  # a filter no openft record can match (user_ids, batch=true)


def _buckets(q: UsageQuery) -> tuple[list[tuple[int, int]], str | None]:
    if q.bucket_width not in WIDTHS:
        raise InvalidRequest(f"bucket_width must be one of {', '.join(WIDTHS)}.", param="bucket_width",
                             code="invalid_value")
    default, maximum = LIMITS[q.bucket_width]
    limit = default if q.limit is None else q.limit
    if not 1 <= limit <= maximum:
        raise InvalidRequest(f"limit must be between 1 and {maximum} for bucket_width={q.bucket_width}.",
                             param="limit", code="invalid_value")
    width = WIDTHS[q.bucket_width]
    end = q.end_time if q.end_time is not None else int(time.time())
    if q.start_time < 0 or end <= q.start_time:
        raise InvalidRequest("end_time must be after start_time.", param="end_time", code="invalid_value")
    first = q.start_time
    if q.page is not None:
        if not q.page.isdigit() or (int(q.page) - q.start_time) % width or not q.start_time <= int(q.page) < end:
            raise InvalidRequest(f"Invalid page cursor: {q.page}", param="page", code="invalid_value")
        first = int(q.page)
    buckets = []
    start = first
    while start < end and len(buckets) < limit:
        buckets.append((start, min(start + width, end)))
        start += width
    return buckets, (str(start) if start < end else None)


def _rows(session: Session, q: UsageQuery, start: int, end: int) -> list[UsageRecord]:
    if q.nothing:
        return []
    stmt = select(UsageRecord).where(UsageRecord.created_at >= start, UsageRecord.created_at < end)
    if q.project_ids:
        stmt = stmt.where(col(UsageRecord.project_id).in_(q.project_ids))
    if q.api_key_ids:
        stmt = stmt.where(col(UsageRecord.api_key_id).in_(q.api_key_ids))
    if q.models:
        stmt = stmt.where(col(UsageRecord.model).in_(q.models))
    return list(session.exec(stmt).all())


def _page(buckets: list[tuple[int, int]], results: dict[int, list[dict[str, Any]]],
          next_page: str | None) -> dict[str, Any]:
    return {"object": "page", "has_more": next_page is not None, "next_page": next_page, "data": [
        {"object": "bucket", "start_time": s, "end_time": e, "results": results.get(s, [])} for s, e in buckets]}


def _bucket_of(buckets: list[tuple[int, int]], t: int) -> int:
    for s, e in buckets:
        if s <= t < e:
            return s
    raise AssertionError(t)


def completions(session: Session, q: UsageQuery) -> dict[str, Any]:
    """``GET /organization/usage/completions``: tokens and requests by bucket (and ``group_by``)."""
    buckets, next_page = _buckets(q)
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    rows = [r for r in _rows(session, q, buckets[0][0], buckets[-1][1]) if r.kind == "completions"]
    for r in rows:
        values = {"project_id": r.project_id, "api_key_id": r.api_key_id, "model": r.model, "batch": False}
        key = (_bucket_of(buckets, r.created_at), *(values.get(g) for g in q.group_by))
        out = groups.setdefault(key, {
            "object": "organization.usage.completions.result", "input_tokens": 0, "output_tokens": 0,
            "input_cached_tokens": 0, "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": 0,
            **{g: values.get(g) for g in COMPLETIONS_GROUPS if g in q.group_by},
        })
        out["input_tokens"] += r.input_tokens
        out["output_tokens"] += r.output_tokens
        out["num_model_requests"] += r.requests
    results: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for key, out in groups.items():
        results[key[0]].append(out)
    return _page(buckets, results, next_page)


def line_items(settings: Settings, r: UsageRecord) -> Iterable[tuple[str, float, float, str]]:
    """(line item, amount, quantity, unit) of one record, priced with the operator's prices."""
    if r.kind == "completions":
        yield f"{r.model}, input", r.input_tokens * settings.price_per_1m_input_tokens / 1e6, r.input_tokens, "tokens"
        yield (f"{r.model}, output", r.output_tokens * settings.price_per_1m_output_tokens / 1e6, r.output_tokens,
               "tokens")
    else:
        yield (f"{r.model}, fine-tuning trained tokens",
               r.trained_tokens * settings.price_per_1m_trained_tokens / 1e6, r.trained_tokens, "tokens")
        hours = r.gpu_seconds / 3600
        yield f"{r.model}, fine-tuning device hours", hours * settings.price_per_gpu_hour, hours, "duration_hours"


def costs(session: Session, settings: Settings, q: UsageQuery, line_item_filter: tuple[str, ...]) -> dict[str, Any]:
    """``GET /organization/usage/costs``: amounts by day (and ``group_by``), in the price currency."""
    buckets, next_page = _buckets(q)
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in _rows(session, q, buckets[0][0], buckets[-1][1]):
        for item, amount, quantity, unit in line_items(settings, r):
            if line_item_filter and item not in line_item_filter:
                continue
            values = {"project_id": r.project_id, "api_key_id": r.api_key_id, "line_item": item}
            key = (_bucket_of(buckets, r.created_at), *(values.get(g) for g in q.group_by))
            out = groups.setdefault(key, {
                "object": "organization.costs.result", "amount": {"value": 0.0, "currency": settings.price_currency},
                **{g: values.get(g) for g in COSTS_GROUPS if g in q.group_by},
            })
            out["amount"]["value"] += amount
            if "line_item" in q.group_by:
                out["quantity"] = out.get("quantity", 0) + quantity
                out["quantity_unit"] = unit
    results: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for key, out in groups.items():
        results[key[0]].append(out)
    return _page(buckets, results, next_page)
