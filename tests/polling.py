"""Waiting with a deadline instead of fixed sleeps: for a condition (sync or async), or for a fine-tuning
job's status through the official client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import openai

#: the statuses a job ends in
DONE = frozenset({"succeeded", "failed", "cancelled"})


def wait_status(client: openai.OpenAI, job_id: str, wanted: set[str] | frozenset[str], timeout: float = 300,
                seen: list[str] | None = None) -> str:
    """Poll until the job's status is in ``wanted`` and return it; ``seen`` collects the statuses met in order."""
    seen = [] if seen is None else seen
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.fine_tuning.jobs.retrieve(job_id).status
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in wanted:
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {sorted(wanted)}; saw {seen}")


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 120) -> None:
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


async def until(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.02) -> None:
    """Await until ``predicate`` is true; fail after ``timeout`` s (for tests on an event loop)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)


def job_messages(client: openai.OpenAI, job_id: str) -> list[str]:
    """The job's event messages, oldest first."""
    return [e.message for e in reversed(list(client.fine_tuning.jobs.list_events(job_id, limit=100)))]
