"""The bus interface; see the package docstring.

Delivery guarantees (both backends):

- tasks: :meth:`Bus.dispatch` is a no-op while a task with the same ``(job_id, attempt)`` is
  waiting, running, or finished less than ``keep_result_s`` ago; a task nobody picked up within
  ``pickup_timeout_s`` is dropped (the scheduler re-dispatches). A task is delivered at most once
  (the scheduler owns retries: it re-dispatches with a new attempt).
- reports: in the order each worker published them; at least once (after a scheduler restart the
  last batch that :meth:`Bus.read_reports` returned may come again), so apply them idempotently.
- heartbeats and control keys expire by themselves; the scheduler refreshes control keys.
- a newer attempt supersedes older ones: :meth:`Bus.get_control` answers ``cancel`` to them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from core.protocol import Report, WorkerInfo

Control = Literal["cancel", "pause"]


@dataclass(frozen=True)
class Task:
    """One training task as a worker receives it: ids and the time budget, nothing else."""

    job_id: str
    attempt: int
    timeout_s: float


TaskHandler = Callable[[Task], Awaitable[None]]
"""``handler(task)``: run one training task to its end; it should not raise."""


class BusUnavailable(Exception):
    """The bus backend cannot be reached right now (e.g. Redis is restarting); try again later."""


class Bus(ABC):
    """Messages between the scheduler and workers. All methods are coroutine-safe.

    Methods that talk to a backend raise :class:`BusUnavailable` while it is down, except
    :meth:`publish` (which buffers) and :meth:`serve_tasks` (which waits for it to come back).
    """

    # --- scheduler side ---------------------------------------------------------------
    @abstractmethod
    async def dispatch(self, worker_id: str, job_id: str, attempt: int, timeout_s: float) -> None:
        """Deliver a task to one worker; idempotent on ``(job_id, attempt)``.

        ``timeout_s`` is the job's time budget: the worker kills the training after it.
        """

    @abstractmethod
    async def read_reports(self, timeout: float) -> list[Report]:
        """Reports published since the last call, waiting up to ``timeout`` s for the first.

        Returning a batch acknowledges the previous one.
        """

    @abstractmethod
    async def workers(self) -> list[WorkerInfo]:
        """Workers whose heartbeat has not expired."""

    @abstractmethod
    async def set_control(self, job_id: str, action: Control | None, ttl: float = 60.0) -> None:
        """Ask the worker running ``job_id`` to cancel or pause it (None clears).

        The request expires after ``ttl`` seconds; call again to keep it alive.
        """

    # --- worker side ------------------------------------------------------------------
    @abstractmethod
    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        """Register or refresh a worker; it expires ``ttl`` seconds after the last call."""

    @abstractmethod
    async def unregister(self, worker_id: str) -> None:
        """Remove a worker's heartbeat at once (graceful shutdown)."""

    @abstractmethod
    async def publish(self, report: Report) -> None:
        """Send a report to the scheduler; returns at once, buffering while the backend is down."""

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every published report has reached the backend; False on timeout."""
        return True

    @abstractmethod
    async def get_control(self, job_id: str, attempt: int | None = None) -> Control | None:
        """The pending control request for ``job_id``, if any.

        With ``attempt``: also ``"cancel"`` once a newer attempt of the job has been dispatched
        (to any worker), so that a worker whose lease lapsed stops its stale copy of the job.
        """

    @abstractmethod
    async def serve_tasks(self, worker_id: str, handler: TaskHandler, max_jobs: int = 1) -> None:
        """Run ``handler`` for each task dispatched to ``worker_id`` until cancelled.

        At most ``max_jobs`` handlers run at once. Cancelling this coroutine cancels the running
        handlers and waits for them to finish their clean-up.
        """

    async def close(self) -> None:
        """Flush briefly and release connections."""
        return None
