"""The embedded single-node composition (``openft serve``): the API with the scheduler and a
local worker running as tasks of the same event loop, over an in-process bus.

The same job code runs as in the distributed mode; only the bus (in-process instead of Redis)
and the store backend differ. Tests build the same composition through :func:`embedded_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from core.bus.base import Bus
from core.bus.memory import InProcessBus
from core.settings import Settings
from core.store import Store


@contextlib.asynccontextmanager
async def background_roles(settings: Settings, engine: Engine, store: Store, bus: Bus,
                           *, worker: bool = True) -> AsyncIterator[None]:
    """Run the scheduler (and a local worker unless ``worker=False``) for the duration of the block."""
    from gpu_worker.worker import run_worker
    from scheduler.service import Scheduler

    stop = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(Scheduler(settings, engine, store, bus).run(stop), name="scheduler")
    ]
    if worker:
        tasks.append(asyncio.create_task(run_worker(settings, bus, store, stop_event=stop), name="worker"))
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def embedded_app(settings: Settings, engine: Engine, store: Store, *, worker: bool = True,
                 migrate: bool = False) -> FastAPI:
    """The API app whose lifespan runs the scheduler (and a local worker) beside it."""
    from api.app import create_app

    bus = InProcessBus()

    @contextlib.asynccontextmanager
    async def roles(_app: FastAPI) -> AsyncIterator[None]:
        async with background_roles(settings, engine, store, bus, worker=worker):
            yield

    return create_app(settings, engine=engine, store=store, lifespan_hooks=[roles], migrate=migrate,
                      extra_state={"bus": bus})
