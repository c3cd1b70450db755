"""The one place that builds what request handlers use: settings, database engine, store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from anyio import to_thread
from sqlalchemy.engine import Engine

from core.db import make_engine
from core.settings import Settings
from core.store import Store, store_from_settings


@dataclass
class AppState:
    """Process-wide state of one API app (``app.state.openft``).

    ``extra`` carries whatever an embedding process hands in (the embedded mode's scheduler
    handle, a queue, an inference engine); handlers read it with ``state.extra[name]``.
    """

    settings: Settings
    engine: Engine
    store: Store
    extra: dict[str, Any] = field(default_factory=dict)
    tasks: TaskSet = field(default_factory=lambda: TaskSet())


def build_state(
    settings: Settings,
    *,
    engine: Engine | None = None,
    store: Store | None = None,
    extra: dict[str, Any] | None = None,
) -> AppState:
    """State for ``settings``; pass ``engine``/``store`` to share ones the caller already built."""
    return AppState(
        settings=settings,
        engine=engine if engine is not None else make_engine(settings),
        store=store if store is not None else store_from_settings(settings),
        extra=dict(extra or {}),
    )


class TaskSet:
    """Background coroutines owned by the app (e.g. file processing), awaited on shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference until it finishes."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for running tasks (up to ``timeout``), then cancel what is left."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)


@contextlib.asynccontextmanager
async def periodic(name: str, interval: float, step: Callable[[], Awaitable[object]],
                   enabled: bool = True) -> AsyncIterator[None]:
    """Run ``step`` every ``interval`` seconds in the background while the context is open (never when
    not ``enabled``).

    A step that raises is logged and tried again at the next interval; leaving the context
    cancels the loop.
    """
    if not enabled:
        yield
        return
    log = logging.getLogger(f"openft.api.{name}")

    async def loop() -> None:
        while True:
            try:
                await step()
            except Exception:
                log.exception("%s failed; retrying in %.0f s", name, interval)
            await asyncio.sleep(interval)

    task = asyncio.get_running_loop().create_task(loop(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


Claim = TypeVar("Claim")


async def run_claimed(state: AppState, claim_next: Callable[[AppState], Claim | None],
                      run: Callable[[Claim], Awaitable[object]]) -> int:
    """Claim one item (``claim_next``, in a worker thread) and ``run`` it, until none is left; how many ran.

    The claim is what keeps two processes off the same item; the loop is the background runners'
    common step (eval runs, serve checks, merges, webhook deliveries).
    """
    ran = 0
    while (claimed := await to_thread.run_sync(claim_next, state)) is not None:
        await run(claimed)
        ran += 1
    return ran
