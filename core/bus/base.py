"""The bus interface; see the package docstring."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Literal

from core.protocol import Report, WorkerInfo

Control = Literal["cancel", "pause"]
TaskHandler = Callable[[str, int], Awaitable[None]]
"""``handler(job_id, attempt)``: run one training task to its end."""


class Bus(ABC):
    """Messages between the scheduler and workers. All methods are coroutine-safe."""

    # --- scheduler side ---------------------------------------------------------------
    @abstractmethod
    async def dispatch(self, worker_id: str, job_id: str, attempt: int, timeout_s: int) -> None:
        """Deliver a task to one worker; idempotent on ``(job_id, attempt)``."""

    @abstractmethod
    async def read_reports(self, timeout: float) -> list[Report]:
        """Reports published since the last call, waiting up to ``timeout`` s for the first."""

    @abstractmethod
    async def workers(self) -> list[WorkerInfo]:
        """Workers whose heartbeat has not expired."""

    @abstractmethod
    async def set_control(self, job_id: str, action: Control | None) -> None:
        """Ask the worker running ``job_id`` to cancel or pause it (None clears)."""

    # --- worker side ------------------------------------------------------------------
    @abstractmethod
    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        """Register or refresh a worker; it expires ``ttl`` seconds after the last call."""

    @abstractmethod
    async def publish(self, report: Report) -> None:
        """Send a report to the scheduler (buffers and retries while the backend is down)."""

    @abstractmethod
    async def get_control(self, job_id: str) -> Control | None: ...

    @abstractmethod
    async def serve_tasks(self, worker_id: str, handler: TaskHandler, max_jobs: int = 1) -> None:
        """Run ``handler`` for each task dispatched to ``worker_id`` until cancelled."""

    async def close(self) -> None:
        """Release connections."""
