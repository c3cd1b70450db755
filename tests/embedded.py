"""A live API with the embedded scheduler (and optionally a local worker), as ``openft serve`` runs.

Import from tests: ``from embedded import embedded_server``. The server shares the test's
database and store; jobs go through real validation, placement and training children.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import FastAPI
from live_server import LiveServer, run_server_in_thread
from sqlalchemy.engine import Engine

from api.app import create_app
from core.bus.memory import InProcessBus
from core.settings import Settings
from core.store import Store
from sdk.cli.server import background_roles


@contextlib.contextmanager
def embedded_server(settings: Settings, engine: Engine, store: Store, *, worker: bool = True) -> Iterator[LiveServer]:
    """Serve the API with the scheduler (and a local worker unless ``worker=False``)."""
    bus = InProcessBus()

    @contextlib.asynccontextmanager
    async def roles(_app: FastAPI) -> AsyncIterator[None]:
        async with background_roles(settings, engine, store, bus, worker=worker):
            yield

    app = create_app(settings, engine=engine, store=store, lifespan_hooks=[roles], extra_state={"bus": bus})
    with run_server_in_thread(app) as live:
        yield live


def fast_settings(settings: Settings, **overrides: Any) -> Settings:
    """``settings`` with a quick scheduler tick, for tests."""
    return settings.model_copy(update={"scheduler_tick_seconds": 0.1, "heartbeat_seconds": 0.5, **overrides})
