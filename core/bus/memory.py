"""The in-process bus of ``openft serve``: scheduler and worker share one event loop.

Same semantics as :class:`core.bus.redis.RedisBus` (see :mod:`core.bus.base`), with asyncio
queues instead of Redis. Use it from one event loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from core.bus.base import Bus, Control, Task, TaskHandler
from core.protocol import Report, WorkerInfo

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    task: Task
    enqueued_at: float


@dataclass
class _TaskState:
    """Where a ``(job_id, attempt)`` is: queued, running, or finished at ``finished_at``."""

    finished_at: float | None = None


class InProcessBus(Bus):
    """Tasks, reports, heartbeats and control requests held in memory.

    ``pickup_timeout_s``: a task not picked up within it is dropped; ``keep_result_s``: how long
    a finished ``(job_id, attempt)`` still makes :meth:`dispatch` a no-op.
    """

    def __init__(self, *, pickup_timeout_s: float = 60.0, keep_result_s: float = 60.0) -> None:
        self.pickup_timeout_s = pickup_timeout_s
        self.keep_result_s = keep_result_s
        self._queues: dict[str, asyncio.Queue[_Pending]] = {}
        self._tasks: dict[tuple[str, int], _TaskState] = {}
        self._reports: asyncio.Queue[Report] = asyncio.Queue()
        self._workers: dict[str, tuple[WorkerInfo, float]] = {}
        self._control: dict[str, tuple[Control, float]] = {}
        self._latest_attempt: dict[str, int] = {}

    def __repr__(self) -> str:
        return (
            f"<InProcessBus workers={len(self._workers)} tasks={len(self._tasks)} "
            f"reports_waiting={self._reports.qsize()}>"
        )

    def _queue(self, worker_id: str) -> asyncio.Queue[_Pending]:
        return self._queues.setdefault(worker_id, asyncio.Queue())

    # --- scheduler side ---------------------------------------------------------------
    async def dispatch(self, worker_id: str, job_id: str, attempt: int, timeout_s: float) -> None:
        now = time.monotonic()
        state = self._tasks.get((job_id, attempt))
        if state is not None and (state.finished_at is None or now - state.finished_at < self.keep_result_s):
            return
        self._tasks[(job_id, attempt)] = _TaskState()
        self._latest_attempt[job_id] = max(attempt, self._latest_attempt.get(job_id, 0))
        self._queue(worker_id).put_nowait(_Pending(Task(job_id, attempt, timeout_s), now))

    async def read_reports(self, timeout: float) -> list[Report]:
        try:
            first = await asyncio.wait_for(self._reports.get(), timeout) if timeout > 0 else None
        except TimeoutError:
            return []
        batch = [first] if first is not None else []
        while not self._reports.empty():
            batch.append(self._reports.get_nowait())
        return batch

    async def workers(self) -> list[WorkerInfo]:
        now = time.monotonic()
        for wid in [w for w, (_, exp) in self._workers.items() if exp <= now]:
            del self._workers[wid]
        return [info for info, _ in self._workers.values()]

    async def set_control(self, job_id: str, action: Control | None, ttl: float = 60.0) -> None:
        if action is None:
            self._control.pop(job_id, None)
        else:
            self._control[job_id] = (action, time.monotonic() + ttl)

    # --- worker side ------------------------------------------------------------------
    async def heartbeat(self, info: WorkerInfo, ttl: float) -> None:
        self._workers[info.id] = (info.model_copy(deep=True), time.monotonic() + ttl)

    async def unregister(self, worker_id: str) -> None:
        self._workers.pop(worker_id, None)

    async def publish(self, report: Report) -> None:
        self._reports.put_nowait(report.model_copy(deep=True))

    async def get_control(self, job_id: str, attempt: int | None = None) -> Control | None:
        if attempt is not None and self._latest_attempt.get(job_id, attempt) > attempt:
            return "cancel"
        entry = self._control.get(job_id)
        if entry is None:
            return None
        action, expires = entry
        if expires <= time.monotonic():
            del self._control[job_id]
            return None
        return action

    async def serve_tasks(self, worker_id: str, handler: TaskHandler, max_jobs: int = 1) -> None:
        queue = self._queue(worker_id)
        slots = asyncio.Semaphore(max_jobs)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                await slots.acquire()
                try:
                    pending = await queue.get()
                except BaseException:
                    slots.release()
                    raise
                if time.monotonic() - pending.enqueued_at > self.pickup_timeout_s:
                    log.warning("task %s:%s expired before pickup", pending.task.job_id, pending.task.attempt)
                    self._finish(pending.task)
                    slots.release()
                    continue
                t = asyncio.create_task(self._run(handler, pending.task, slots))
                running.add(t)
                t.add_done_callback(running.discard)
        finally:
            for t in running:
                t.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*running, return_exceptions=True)

    async def _run(self, handler: TaskHandler, task: Task, slots: asyncio.Semaphore) -> None:
        try:
            await handler(task)
        except Exception:
            log.exception("task handler for %s:%s failed", task.job_id, task.attempt)
        finally:
            self._finish(task)
            slots.release()

    def _finish(self, task: Task) -> None:
        now = time.monotonic()
        self._tasks[(task.job_id, task.attempt)] = _TaskState(finished_at=now)
        keep = self.keep_result_s
        expired = [k for k, s in self._tasks.items() if s.finished_at and now - s.finished_at > keep]
        for key in expired:
            del self._tasks[key]
