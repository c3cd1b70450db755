"""Per-project, per-model rate limits for chat and legacy completions, held across API processes.

The window is a fixed one-minute window (``window_start = now // 60 * 60``) whose counters live
in the database (``rate_windows``), so every API process sees the same counts. A request is
admitted or refused before anything else happens, by one conditional ``UPDATE`` (requests
below the limit and tokens used so far below the token limit), so N concurrent requests
against a limit of L get exactly L admissions. Tokens (prompt + completion) are added when the
request finishes. Fine-tuned models count against their base model's limits, as on OpenAI.
A model without its own limits gets the operator's defaults (``OPENFT_RATE_LIMIT_*``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from api.errors import APIError, InvalidRequest, NotFound
from api.pagination import CursorPage
from api.schemas.admin import RateLimitObject, RateLimitUpdate
from api.services import audit, projects
from api.services.keys import Caller
from core.catalog import get_catalog
from core.db import session_scope
from core.settings import Settings
from core.tables import Job, Project, RateLimit, RateWindow

WINDOW_SECONDS = 60
UNSUPPORTED = ("max_requests_per_1_day", "max_images_per_1_minute", "max_audio_megabytes_per_1_minute",
               "batch_1_day_max_input_tokens")


def limit_model(model: str) -> str:
    """The model whose limits a request counts against: an ``ft:`` model's base."""
    if model.startswith("ft:"):
        parts = model.split(":")
        if len(parts) >= 3 and parts[1]:
            return parts[1]
    return model


# --- the admin API: list and update -----------------------------------------------------------


def _object(settings: Settings, model: str, row: RateLimit | None) -> RateLimitObject:
    rpm = row.max_requests_per_1_minute if row and row.max_requests_per_1_minute else None
    tpm = row.max_tokens_per_1_minute if row and row.max_tokens_per_1_minute else None
    return RateLimitObject(id=f"rl-{model}", model=model,
                           max_requests_per_1_minute=rpm or settings.rate_limit_requests_per_minute,
                           max_tokens_per_1_minute=tpm or settings.rate_limit_tokens_per_minute)


def list_limits(session: Session, settings: Settings, project_id: str, *, after: str | None,
                before: str | None, limit: int) -> CursorPage[RateLimitObject]:
    """Every catalog model's limits for the project (its own, or the defaults), by model name."""
    projects.get(session, project_id)
    rows = {r.model: r for r in session.exec(select(RateLimit).where(RateLimit.project_id == project_id)).all()}
    models = sorted(set(get_catalog(settings).names()) | set(rows))
    items = [_object(settings, m, rows.get(m)) for m in models]
    ids_ = [i.id for i in items]
    for cursor, param in ((after, "after"), (before, "before")):
        if cursor is not None and cursor not in ids_:
            raise InvalidRequest(f"No such object to page {param}: {cursor}", param=param, code="invalid_value")
    if before is not None:
        end = ids_.index(before)
        page = items[max(0, end - limit):end]
        return CursorPage[RateLimitObject](data=page, has_more=end - limit > 0)
    start = ids_.index(after) + 1 if after is not None else 0
    return CursorPage[RateLimitObject](data=items[start:start + limit], has_more=start + limit < len(items))


def update_limit(session: Session, settings: Settings, caller: Caller, project_id: str, rate_limit_id: str,
                 body: RateLimitUpdate) -> RateLimitObject:
    """Set a model's per-minute request and/or token limit for the project."""
    projects.get(session, project_id, active=True)
    model = rate_limit_id.removeprefix("rl-")
    if not rate_limit_id.startswith("rl-") or get_catalog(settings).get(model) is None:
        raise NotFound(f"No such rate limit: {rate_limit_id}", param="rate_limit_id", code="not_found")
    for name in UNSUPPORTED:
        if getattr(body, name) is not None:
            raise InvalidRequest(f"openft does not enforce '{name}'; set max_requests_per_1_minute or "
                                 "max_tokens_per_1_minute.", param=name, code="unsupported_parameter")
    row = session.get(RateLimit, (project_id, model)) or RateLimit(project_id=project_id, model=model)
    changes = body.model_dump(include={"max_requests_per_1_minute", "max_tokens_per_1_minute"}, exclude_none=True)
    for name, value in changes.items():
        setattr(row, name, value)
    session.add(row)
    session.flush()
    audit.record(session, caller.key_id, "rate_limit.updated", project_id,
                 {"id": rate_limit_id, "changes_requested": changes})
    return _object(settings, model, row)


# --- enforcement ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Admission:
    """An admitted request's window: where its tokens go, and the ``x-ratelimit-*`` headers."""

    project_id: str
    model: str
    window_start: int
    headers: dict[str, str]


def _limits(session: Session, settings: Settings, project_id: str, model: str) -> tuple[int, int]:
    row = session.get(RateLimit, (project_id, model))
    rpm = row.max_requests_per_1_minute if row and row.max_requests_per_1_minute else None
    tpm = row.max_tokens_per_1_minute if row and row.max_tokens_per_1_minute else None
    return rpm or settings.rate_limit_requests_per_minute, tpm or settings.rate_limit_tokens_per_minute


def _headers(rpm: int, tpm: int, requests: int, tokens: int, reset: float) -> dict[str, str]:
    wait = f"{max(reset, 0.0):.3f}s"
    return {
        "x-ratelimit-limit-requests": str(rpm), "x-ratelimit-remaining-requests": str(max(rpm - requests, 0)),
        "x-ratelimit-reset-requests": wait,
        "x-ratelimit-limit-tokens": str(tpm), "x-ratelimit-remaining-tokens": str(max(tpm - tokens, 0)),
        "x-ratelimit-reset-tokens": wait,
    }


def _insert_ignore(engine: Engine):  # type: ignore[no-untyped-def]
    return (postgresql if engine.dialect.name == "postgresql" else sqlite).insert(RateWindow)


def admit(engine: Engine, settings: Settings, project_id: str, requested_model: str) -> Admission:
    """Count one request against its window, or raise 429 ``rate_limit_exceeded`` with headers."""
    model = limit_model(requested_model)
    now = time.time()
    window = int(now // WINDOW_SECONDS * WINDOW_SECONDS)
    reset = window + WINDOW_SECONDS - now
    key = (RateWindow.project_id == project_id, RateWindow.model == model, RateWindow.window_start == window)
    with session_scope(engine) as session:
        rpm, tpm = _limits(session, settings, project_id, model)
        session.execute(_insert_ignore(engine).values(project_id=project_id, model=model, window_start=window,
                                                      requests=0, tokens=0).on_conflict_do_nothing())
        admitted = session.execute(
            update(RateWindow).where(*key, col(RateWindow.requests) < rpm, col(RateWindow.tokens) < tpm)
            .values(requests=RateWindow.requests + 1)).rowcount == 1  # type: ignore[attr-defined]
        counts = session.exec(select(RateWindow).where(*key)).one()
        session.execute(delete(RateWindow).where(col(RateWindow.window_start) < window - WINDOW_SECONDS))
        headers = _headers(rpm, tpm, counts.requests, counts.tokens, reset)
    if not admitted:
        over_tokens = counts.tokens >= tpm
        what = f"tokens per min (TPM): Limit {tpm}, Used {counts.tokens}" if over_tokens else \
            f"requests per min (RPM): Limit {rpm}, Used {counts.requests}"
        raise APIError(
            f"Rate limit reached for {model} in project {project_id} on {what}. Please try again in "
            f"{reset:.1f}s.", status=429, type="tokens" if over_tokens else "requests",
            code="rate_limit_exceeded", headers={**headers, "retry-after": str(math.ceil(reset))},
        )
    return Admission(project_id=project_id, model=model, window_start=window, headers=headers)


def add_tokens(session: Session, admission: Admission, tokens: int) -> None:
    """Add a finished request's tokens to the window it was admitted in."""
    session.execute(update(RateWindow).where(
        RateWindow.project_id == admission.project_id, RateWindow.model == admission.model,
        RateWindow.window_start == admission.window_start).values(tokens=RateWindow.tokens + tokens))


# --- fine-tuning quotas at job creation ---------------------------------------------------------

WAITING = ("validating_files", "queued")


def check_job_quota(session: Session, project_id: str) -> None:
    """429 when the project already has ``max_queued_jobs`` jobs waiting (validating or queued).

    Takes the project row for update (PostgreSQL), so concurrent creates of one project are
    counted one after the other; SQLite serializes writers anyway.
    """
    stmt = select(Project).where(Project.id == project_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    project = session.exec(stmt).first()
    if project is None or project.max_queued_jobs is None:
        return
    waiting = session.exec(select(func.count()).select_from(Job).where(
        Job.project_id == project_id, col(Job.status).in_(WAITING))).one()
    if waiting >= project.max_queued_jobs:
        raise APIError(
            f"Project {project_id} already has {waiting} fine-tuning jobs waiting, its quota "
            f"(max_queued_jobs={project.max_queued_jobs}); retry when one has started.",
            status=429, type="insufficient_quota", code="quota_exceeded",
        )
