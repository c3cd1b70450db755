"""``client.fine_tuning.jobs``: the official resource plus ``wait``, ``follow``, ``history``, ``plot``.

Every OpenAI method (``create``, ``list``, ``retrieve``, ``cancel``, ``pause``, ``resume``,
``list_events``, ``checkpoints``) is the official client's own, inherited unchanged; the
extensions below are built on them, so errors are the official exception classes
(``openai.NotFoundError`` for an unknown job, …).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

from openai._compat import cached_property
from openai.resources.fine_tuning import AsyncFineTuning as _AsyncFineTuning
from openai.resources.fine_tuning import AsyncJobs as _AsyncJobs
from openai.resources.fine_tuning import FineTuning as _FineTuning
from openai.resources.fine_tuning import Jobs as _Jobs
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

from sdk import plotting
from sdk._events import STOP_STATUSES, TERMINAL_STATUSES, EventTracker
from sdk._progress import JobProgress

PAGE_SIZE = 100

Poll = tuple[FineTuningJob, list[FineTuningJobEvent]]


class _Until:
    """When a watch ends: the job stopped (paused counts unless ``stop_on_pause=False``), or
    ``TimeoutError`` once ``timeout`` seconds have passed."""

    def __init__(self, job_id: str, timeout: float | None, stop_on_pause: bool) -> None:
        self.job_id, self.timeout = job_id, timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.stop = STOP_STATUSES if stop_on_pause else TERMINAL_STATUSES

    def reached(self, job: FineTuningJob) -> bool:
        if job.status in self.stop:
            return True
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise TimeoutError(f"job {self.job_id} is still {job.status} after {self.timeout} s")
        return False


class _Waiter:
    """What ``wait`` keeps while it polls: the latest job, and the progress display if asked."""

    def __init__(self, progress: bool, stream: IO[str] | None) -> None:
        self.display = JobProgress(stream) if progress else None
        self.job: FineTuningJob | None = None

    def see(self, poll: Poll) -> None:
        self.job, events = poll
        if self.display is not None:
            self.display.on_job(self.job)
            for event in events:
                self.display.on_event(event)

    def close(self) -> None:
        if self.display is not None:
            self.display.close()


class Jobs(_Jobs):
    """Fine-tuning jobs (the official resource) with live-following extensions."""

    def _new_events(self, job_id: str, tracker: EventTracker[FineTuningJobEvent]) -> list[FineTuningJobEvent]:
        tracker.begin()
        page = self.list_events(job_id, limit=PAGE_SIZE)
        while tracker.feed(page.data) and page.has_more is not False:
            page = self.list_events(job_id, limit=PAGE_SIZE, after=page.data[-1].id)
        return tracker.take()

    def _watch(
        self, job_id: str, *, poll_interval: float, timeout: float | None, stop_on_pause: bool
    ) -> Iterator[Poll]:
        """One ``(job, new events)`` per poll until the job stops; the job is read first, so
        the events of its final poll include everything written up to its last status."""
        tracker: EventTracker[FineTuningJobEvent] = EventTracker()
        until = _Until(job_id, timeout, stop_on_pause)
        while True:
            job = self.retrieve(job_id)
            yield job, self._new_events(job_id, tracker)
            if until.reached(job):
                return
            time.sleep(poll_interval)

    def follow(
        self,
        job_id: str,
        *,
        poll_interval: float = 1.0,
        timeout: float | None = None,
        stop_on_pause: bool = True,
    ) -> Iterator[FineTuningJobEvent]:
        """Yield the job's events oldest first, each exactly once, as they happen.

        Starts with the events already written, then polls every ``poll_interval`` seconds and
        ends once the job is succeeded, failed or cancelled (or paused, unless
        ``stop_on_pause=False``). Raises ``TimeoutError`` after ``timeout`` seconds and
        ``openai.NotFoundError`` for an unknown job.
        """
        for _job, events in self._watch(
            job_id, poll_interval=poll_interval, timeout=timeout, stop_on_pause=stop_on_pause
        ):
            yield from events

    def wait(
        self,
        job_id: str,
        *,
        progress: bool = False,
        poll_interval: float = 1.0,
        timeout: float | None = None,
        stop_on_pause: bool = True,
        stream: IO[str] | None = None,
    ) -> FineTuningJob:
        """Block until the job stops (see :meth:`follow`) and return the final job object.

        With ``progress=True`` a live bar (step/total, loss, accuracy, ETA) and the job's
        messages are drawn on ``stream`` (stderr by default).
        """
        waiter = _Waiter(progress, stream)
        try:
            for poll in self._watch(job_id, poll_interval=poll_interval, timeout=timeout, stop_on_pause=stop_on_pause):
                waiter.see(poll)
        finally:
            waiter.close()
        assert waiter.job is not None
        return waiter.job

    def history(self, job_id: str) -> plotting.LossCurves:
        """The job's metric series (train/validation loss and token accuracy) by step."""
        events = list(self.list_events(job_id, limit=PAGE_SIZE))  # newest first, all pages
        return plotting.LossCurves.from_events(job_id, reversed(events))

    def plot(self, job_id: str, path: str | Path) -> Path:
        """Draw the job's loss and token-accuracy curves to ``path`` (PNG); returns the path.

        Raises ``ValueError`` when the job has reported no loss yet.
        """
        return plotting.render(self.history(job_id), path)


class AsyncJobs(_AsyncJobs):
    """Async twin of :class:`Jobs`."""

    async def _new_events(
        self, job_id: str, tracker: EventTracker[FineTuningJobEvent]
    ) -> list[FineTuningJobEvent]:
        tracker.begin()
        page = await self.list_events(job_id, limit=PAGE_SIZE)
        while tracker.feed(page.data) and page.has_more is not False:
            page = await self.list_events(job_id, limit=PAGE_SIZE, after=page.data[-1].id)
        return tracker.take()

    async def _watch(
        self, job_id: str, *, poll_interval: float, timeout: float | None, stop_on_pause: bool
    ) -> AsyncIterator[Poll]:
        tracker: EventTracker[FineTuningJobEvent] = EventTracker()
        until = _Until(job_id, timeout, stop_on_pause)
        while True:
            job = await self.retrieve(job_id)
            yield job, await self._new_events(job_id, tracker)
            if until.reached(job):
                return
            await asyncio.sleep(poll_interval)

    async def follow(
        self,
        job_id: str,
        *,
        poll_interval: float = 1.0,
        timeout: float | None = None,
        stop_on_pause: bool = True,
    ) -> AsyncIterator[FineTuningJobEvent]:
        """Async twin of :meth:`Jobs.follow` (``async for event in jobs.follow(id)``)."""
        async for _job, events in self._watch(
            job_id, poll_interval=poll_interval, timeout=timeout, stop_on_pause=stop_on_pause
        ):
            for event in events:
                yield event

    async def wait(
        self,
        job_id: str,
        *,
        progress: bool = False,
        poll_interval: float = 1.0,
        timeout: float | None = None,
        stop_on_pause: bool = True,
        stream: IO[str] | None = None,
    ) -> FineTuningJob:
        """Async twin of :meth:`Jobs.wait`."""
        waiter = _Waiter(progress, stream)
        try:
            async for poll in self._watch(job_id, poll_interval=poll_interval, timeout=timeout,
                                          stop_on_pause=stop_on_pause):
                waiter.see(poll)
        finally:
            waiter.close()
        assert waiter.job is not None
        return waiter.job

    async def history(self, job_id: str) -> plotting.LossCurves:
        """Async twin of :meth:`Jobs.history`."""
        events = [event async for event in self.list_events(job_id, limit=PAGE_SIZE)]
        return plotting.LossCurves.from_events(job_id, reversed(events))

    async def plot(self, job_id: str, path: str | Path) -> Path:
        """Async twin of :meth:`Jobs.plot` (drawing runs in a thread)."""
        curves = await self.history(job_id)
        return await asyncio.to_thread(plotting.render, curves, path)


class FineTuning(_FineTuning):
    """``client.fine_tuning`` whose ``jobs`` carries the extensions."""

    @cached_property
    def jobs(self) -> Jobs:
        return Jobs(self._client)


class AsyncFineTuning(_AsyncFineTuning):
    """Async twin of :class:`FineTuning`."""

    @cached_property
    def jobs(self) -> AsyncJobs:
        return AsyncJobs(self._client)
