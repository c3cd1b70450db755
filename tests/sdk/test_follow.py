"""``jobs.follow``/``jobs.wait``/``openft jobs follow``: every event exactly once, in order, live.

A writer thread appends events to a job in the database while the SDK polls the live API
(bursts larger than one page included), then finishes the job; no scheduler runs, so the rows
written here are the only ones.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from job_factories import add_events, create_job, metrics_event, set_job_status
from sqlalchemy.engine import Engine

from sdk._client import AsyncClient, Client
from sdk._events import EventTracker
from sdk.resources.jobs import PAGE_SIZE

POLL = 0.05


@dataclass
class Writer:
    """Appends batches of events, pausing between them, then sets the final status."""

    engine: Engine
    job_id: str
    batches: list[list[dict[str, Any]]]
    final_status: str = "succeeded"
    ids: list[str] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> Writer:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        for batch in self.batches:
            time.sleep(4 * POLL)
            self.ids += add_events(self.engine, self.job_id, batch)
        time.sleep(2 * POLL)
        set_job_status(self.engine, self.job_id, self.final_status)

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(30)


def messages(n: int, prefix: str) -> list[dict[str, Any]]:
    return [{"message": f"{prefix} {i}"} for i in range(n)]


@pytest.fixture
def running_job(engine: Engine, jobs_api: None) -> Iterator[tuple[str, list[str]]]:
    """A running job of proj-a with three events already written; (job id, their ids)."""
    job = create_job(engine, "proj-a", status="running")
    yield job.id, add_events(engine, job.id, messages(3, "before"))


def test_follow_sees_every_event_once_in_order(
    sdk: Client, engine: Engine, running_job: tuple[str, list[str]]
) -> None:
    job_id, before = running_job
    writer = Writer(engine, job_id, [messages(5, "a"), messages(PAGE_SIZE + 50, "burst"), messages(1, "z")])
    writer.start()
    seen = [event.id for event in sdk.jobs.follow(job_id, poll_interval=POLL, timeout=60)]
    writer.join()
    assert seen == before + writer.ids
    assert len(set(seen)) == len(seen) == 3 + 5 + PAGE_SIZE + 50 + 1


def test_wait_returns_the_final_job_and_draws_progress(
    sdk: Client, engine: Engine, running_job: tuple[str, list[str]]
) -> None:
    job_id, _ = running_job
    steps = [metrics_event(s, 4, train_loss=2.0 / s, train_mean_token_accuracy=0.2 * s) for s in range(1, 5)]
    writer = Writer(engine, job_id, [steps[:2], [{"message": "Checkpoint created at step 2"}], steps[2:]])
    writer.start()
    out = io.StringIO()
    job = sdk.jobs.wait(job_id, progress=True, poll_interval=POLL, timeout=60, stream=out)
    writer.join()
    assert job.id == job_id and job.status == "succeeded"
    text = out.getvalue()
    assert "Checkpoint created at step 2" in text and "before 0" in text
    last = [line for line in text.splitlines() if "4/4" in line]
    assert (
        last and "loss 0.5000" in last[-1] and "acc 0.8000" in last[-1] and "[" + "#" * 24 + "]" in last[-1]
    )


def test_wait_stops_at_pause_unless_told_otherwise(
    openft_env: None, engine: Engine, running_job: tuple[str, list[str]]
) -> None:
    job_id, _ = running_job
    Writer(engine, job_id, [messages(1, "pausing")], final_status="paused").start().join()
    with Client() as client:  # not strict: OpenAI's status enum has no "paused"
        assert client.jobs.wait(job_id, poll_interval=POLL, timeout=30).status == "paused"
        with pytest.raises(TimeoutError, match="paused"):
            client.jobs.wait(job_id, poll_interval=POLL, timeout=0.3, stop_on_pause=False)


async def test_async_follow_and_wait(
    openft_env: None, engine: Engine, running_job: tuple[str, list[str]]
) -> None:
    job_id, before = running_job
    writer = Writer(engine, job_id, [messages(3, "x"), messages(2, "y")]).start()
    async with AsyncClient() as client:
        seen = [event.id async for event in client.jobs.follow(job_id, poll_interval=POLL, timeout=60)]
        final = await client.jobs.wait(job_id, poll_interval=POLL, timeout=10)
    writer.join()
    assert seen == before + writer.ids and final.status == "succeeded"


def test_cli_follow_json_lines(
    cli: Callable[..., Any], engine: Engine, running_job: tuple[str, list[str]]
) -> None:
    job_id, before = running_job
    writer = Writer(
        engine, job_id, [messages(2, "m"), [metrics_event(1, 1, train_loss=0.25)]], final_status="failed"
    ).start()
    result = cli("jobs", "follow", job_id, "--json", "--poll-interval", POLL)
    writer.join()
    *events, job = result.json_lines()
    assert [e["id"] for e in events] == before + writer.ids
    assert all(e["object"] == "fine_tuning.job.event" for e in events)
    assert job["id"] == job_id and job["status"] == "failed"
    assert result.code == 1  # a failed job is a failed command


def test_cli_follow_for_people(
    cli: Callable[..., Any], engine: Engine, running_job: tuple[str, list[str]]
) -> None:
    job_id, _ = running_job
    writer = Writer(engine, job_id, [[metrics_event(s, 2, train_loss=1.0 / s) for s in (1, 2)]]).start()
    result = cli("jobs", "follow", job_id, "--poll-interval", POLL)
    writer.join()
    assert result.code == 0
    assert "2/2" in result.out and "loss 0.5000" in result.out
    assert result.out.rstrip().endswith(f"{job_id}: succeeded")


@dataclass(frozen=True)
class Ev:
    id: str


def test_tracker_picks_up_an_event_that_committed_late() -> None:
    """Ids a, b delivered; then c and late x (listed below b) appear: both come, once."""
    tracker: EventTracker[Ev] = EventTracker()
    tracker.begin()
    tracker.feed([Ev("b"), Ev("a")])
    assert [e.id for e in tracker.take()] == ["a", "b"]
    tracker.begin()
    assert tracker.feed([Ev("c"), Ev("b"), Ev("x"), Ev("a")]) is False  # page reached known ids
    assert [e.id for e in tracker.take()] == ["x", "c"]
    tracker.begin()
    tracker.feed([Ev("c"), Ev("b"), Ev("x"), Ev("a")])
    assert tracker.take() == []
