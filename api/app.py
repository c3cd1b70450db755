"""``create_app(settings)``: the FastAPI application of the control plane.

Routers are attached from :data:`ROUTERS`; adding a resource is one import and one entry.
Embedding processes (``openft serve``) hand in extra state and lifespan hooks, e.g. one that
starts the scheduler and a local worker next to the API.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine

from api.body import BodyTracker
from api.console import install_console
from api.errors import install_error_handlers
from api.inference.server import get_model_server
from api.metrics import install_metrics
from api.request_id import RequestIdMiddleware
from api.routers import (
    admin_audit,
    admin_integrations,
    admin_keys,
    admin_limits,
    admin_projects,
    admin_usage,
    chat,
    checkpoint_permissions,
    completions,
    evals,
    files,
    fine_tuning,
    graders,
    health,
    models,
    uploads,
    webhooks,
)
from api.services import evals_runner, merges, serve_checks
from api.services.housekeeping import housekeeping_lifespan
from api.services.webhooks import delivery
from api.state import AppState, build_state, periodic
from core.db import require_current_schema, upgrade
from core.settings import Settings
from core.store import Store

#: (router, prefix) pairs; OpenAI resources live under /v1.
ROUTERS: list[tuple[APIRouter, str]] = [
    (health.router, ""),
    (files.router, "/v1"),
    (uploads.router, "/v1"),
    (fine_tuning.router, "/v1"),
    (models.router, "/v1"),
    (chat.router, "/v1"),
    (graders.router, "/v1"),
    (completions.router, "/v1"),
    (evals.router, "/v1"),
    (admin_projects.router, "/v1"),
    (admin_keys.router, "/v1"),
    (admin_audit.router, "/v1"),
    (admin_limits.router, "/v1"),
    (admin_usage.router, "/v1"),
    (admin_integrations.router, "/v1"),
    (webhooks.router, "/v1"),
    (checkpoint_permissions.router, "/v1"),
]

LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _background_loops(state: AppState) -> list[contextlib.AbstractAsyncContextManager[None]]:
    """What the API process polls for while it runs: housekeeping (at start-up too), serve checks, merges,
    eval runs and webhook deliveries, each at its ``Settings`` interval (checks and runs when enabled)."""
    settings = state.settings
    return [
        housekeeping_lifespan(state),
        periodic("serve_checks", settings.serve_check_interval_seconds,
                 lambda: serve_checks.run_pending(state, get_model_server(state)), enabled=settings.serve_check),
        periodic("merges", merges.INTERVAL_SECONDS, lambda: merges.run_pending(state)),
        periodic("eval_runs", settings.eval_interval_seconds,
                 lambda: evals_runner.run_pending(state, get_model_server(state)), enabled=settings.eval_runs),
        periodic("webhooks", settings.webhooks_interval_seconds, lambda: delivery.run_due(state)),
    ]


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    store: Store | None = None,
    extra_state: dict[str, Any] | None = None,
    lifespan_hooks: Sequence[LifespanHook] = (),
    migrate: bool = False,
) -> FastAPI:
    """The API app for ``settings``.

    ``engine``/``store`` default to the ones ``settings`` describes. ``extra_state`` lands in
    ``app.state.openft.extra``. ``lifespan_hooks`` are entered in order after the schema check
    and exited in reverse on shutdown. ``migrate=True`` upgrades the database on start (the
    embedded mode); otherwise an out-of-date schema refuses to start with a clear message.
    """
    state = build_state(settings, engine=engine, store=store, extra=extra_state)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(upgrade if migrate else require_current_schema, state.engine)
        async with contextlib.AsyncExitStack() as stack:
            for loop in _background_loops(state):
                await stack.enter_async_context(loop)
            for hook in lifespan_hooks:
                await stack.enter_async_context(hook(app))
            try:
                yield
            finally:
                await state.tasks.drain()

    app = FastAPI(
        title="openft",
        description="Self-hosted fine-tuning with the OpenAI API",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.openft = state
    install_error_handlers(app)
    install_metrics(app, state.engine, settings)
    app.add_middleware(BodyTracker)
    app.add_middleware(RequestIdMiddleware)  # outermost: every response gets the id
    for router, prefix in ROUTERS:
        app.include_router(router, prefix=prefix)
    install_console(app)
    return app


def app_from_env() -> FastAPI:
    """``uvicorn --factory api.app:app_from_env``: the API role configured from ``OPENFT_*``."""
    return create_app(Settings())  # filled from the environment
