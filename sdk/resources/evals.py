"""``client.evals``: the official resource plus ``runs.wait`` (with live progress).

Every OpenAI method (evals and runs ``create``, ``list``, ``retrieve``, ``update``, ``cancel``,
``delete``; ``runs.output_items``) is the official client's own, inherited unchanged.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from openai._compat import cached_property
from openai.resources.evals import AsyncEvals as _AsyncEvals
from openai.resources.evals import Evals as _Evals
from openai.resources.evals.runs import AsyncRuns as _AsyncRuns
from openai.resources.evals.runs import Runs as _Runs
from openai.types.evals import RunRetrieveResponse

from sdk._progress import format_duration, render_bar

TERMINAL = frozenset({"completed", "failed", "canceled"})
OnUpdate = Callable[[RunRetrieveResponse], None]


def total_items(run: Any) -> int | None:
    """How many items the run has in all (openft's ``openft.total_items``), if the server says."""
    extra = getattr(run, "openft", None)
    return extra.get("total_items") if isinstance(extra, dict) else None


class RunProgress:
    """Draws one line per run update: status, bar, done/total, passed/failed/errored, ETA."""

    def __init__(self, stream: IO[str] | None = None, *, min_interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval = min_interval
        self._started = time.monotonic()
        self._last_print = 0.0

    def text(self, run: RunRetrieveResponse) -> str:
        """The progress line of ``run``."""
        counts = run.result_counts
        total = total_items(run) or counts.total
        parts = [f"{run.name or run.id}", f"{run.status:<11s}", render_bar(counts.total, total),
                 f"{counts.total}/{total}",
                 f"passed {counts.passed}  failed {counts.failed}  errored {counts.errored}"]
        elapsed = time.monotonic() - self._started
        if 0 < counts.total < total and run.status == "in_progress":
            parts.append(f"ETA {format_duration(elapsed * (total - counts.total) / counts.total)}")
        return "  ".join(parts)

    def __call__(self, run: RunRetrieveResponse) -> None:
        final = run.status in TERMINAL
        if self.tty:
            self.stream.write("\r\x1b[2K" + self.text(run) + ("\n" if final else ""))
        elif final or time.monotonic() - self._last_print >= self.min_interval:
            self.stream.write(self.text(run) + "\n")
            self._last_print = time.monotonic()
        self.stream.flush()


def _finished(run: RunRetrieveResponse, deadline: float | None, timeout: float | None,
              on_update: OnUpdate | None) -> bool:
    """One poll of ``wait``: report ``run``; True once it is terminal, TimeoutError past ``deadline``."""
    if on_update is not None:
        on_update(run)
    if run.status in TERMINAL:
        return True
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeoutError(f"eval run {run.id} is still {run.status} after {timeout} s")
    return False


class Runs(_Runs):
    """Eval runs (the official resource) with ``wait``."""

    def wait(self, run_id: str, *, eval_id: str, poll_interval: float = 1.0, timeout: float | None = None,
             on_update: OnUpdate | None = None) -> RunRetrieveResponse:
        """Poll the run until it is completed, failed or canceled and return it.

        ``on_update(run)`` sees every poll (``RunProgress()`` draws a live line); raises
        ``TimeoutError`` after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.retrieve(run_id, eval_id=eval_id)
            if _finished(run, deadline, timeout, on_update):
                return run
            time.sleep(poll_interval)


class AsyncRuns(_AsyncRuns):
    """Asynchronous twin of :class:`Runs`."""

    async def wait(self, run_id: str, *, eval_id: str, poll_interval: float = 1.0, timeout: float | None = None,
                   on_update: OnUpdate | None = None) -> RunRetrieveResponse:
        """See :meth:`Runs.wait`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = await self.retrieve(run_id, eval_id=eval_id)
            if _finished(run, deadline, timeout, on_update):
                return run
            await asyncio.sleep(poll_interval)


class Evals(_Evals):
    """Evals (the official resource); ``runs`` adds ``wait``."""

    @cached_property
    def runs(self) -> Runs:
        return Runs(self._client)


class AsyncEvals(_AsyncEvals):
    @cached_property
    def runs(self) -> AsyncRuns:
        return AsyncRuns(self._client)
