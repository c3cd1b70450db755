"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import StateDep
from api.errors import ServiceUnavailable
from api.services.health import check_ready

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """200 while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: StateDep) -> dict[str, str]:
    """200 when the database and the artifact store answer; 503 naming the one that does not."""
    problem = await run_in_threadpool(check_ready, state)
    if problem is not None:
        raise ServiceUnavailable(problem)
    return {"status": "ready", "database": "ok", "store": "ok"}
