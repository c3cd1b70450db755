"""Bus semantics, the same for both backends: the in-process bus and Redis + arq.

The Redis backend runs against a private ``redis-server`` started on a free port, so that the
tests own all of its keys (and :mod:`test_bus_redis` can restart it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from polling import until
from redis_server import RedisServer, running_redis_server

from core.bus.base import Bus, Task
from core.bus.memory import InProcessBus
from core.bus.redis import RedisBus
from core.protocol import Device, Report, WorkerInfo

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis_server() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Bus, Bus]]:
    """(scheduler side, worker side): one shared object in-process, two clients over Redis."""
    if request.param == "memory":
        bus = InProcessBus(pickup_timeout_s=30.0)
        yield bus, bus
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    server.flush()
    sched, work = RedisBus(server.url, pickup_timeout_s=30.0), RedisBus(server.url, pickup_timeout_s=30.0)
    yield sched, work
    await sched.close()
    await work.close()


class Recorder:
    """A task handler that records its tasks and can be held until released."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []
        self.running = 0
        self.max_running = 0
        self.cancelled: list[str] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, task: Task) -> None:
        self.tasks.append(task)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.append(task.job_id)
            raise
        finally:
            self.running -= 1


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_dispatch_is_idempotent_per_job_and_attempt(buses: tuple[Bus, Bus]) -> None:
    sched, work = buses
    handler = Recorder()
    await sched.dispatch("w1", "ftjob-a", 1, 3600)
    await sched.dispatch("w1", "ftjob-a", 1, 3600)
    serving = asyncio.create_task(work.serve_tasks("w1", handler))
    try:
        await until(lambda: len(handler.tasks) == 1)
        await sched.dispatch("w1", "ftjob-a", 1, 3600)  # finished moments ago: still a no-op
        await sched.dispatch("w1", "ftjob-a", 2, 1800)  # a new attempt is a new task
        await until(lambda: len(handler.tasks) == 2)
        await asyncio.sleep(0.5)
    finally:
        await stop(serving)
    assert handler.tasks == [Task("ftjob-a", 1, 3600.0), Task("ftjob-a", 2, 1800.0)]


async def test_tasks_go_only_to_their_worker_and_respect_max_jobs(buses: tuple[Bus, Bus]) -> None:
    sched, work = buses
    mine, other = Recorder(), Recorder()
    mine.release.clear()
    for i in range(3):
        await sched.dispatch("w1", f"ftjob-{i}", 1, 60)
    serving = [
        asyncio.create_task(work.serve_tasks("w1", mine, max_jobs=2)),
        asyncio.create_task(work.serve_tasks("w2", other)),
    ]
    try:
        await until(lambda: len(mine.tasks) == 2)
        await asyncio.sleep(0.5)
        assert len(mine.tasks) == 2 and mine.max_running == 2
        mine.release.set()
        await until(lambda: len(mine.tasks) == 3)
    finally:
        for t in serving:
            await stop(t)
    assert sorted(t.job_id for t in mine.tasks) == ["ftjob-0", "ftjob-1", "ftjob-2"]
    assert other.tasks == []


async def test_cancelling_serve_tasks_cancels_running_handlers(buses: tuple[Bus, Bus]) -> None:
    sched, work = buses
    handler = Recorder()
    handler.release.clear()
    await sched.dispatch("w1", "ftjob-x", 1, 60)
    serving = asyncio.create_task(work.serve_tasks("w1", handler))
    await until(lambda: handler.running == 1)
    await stop(serving)
    assert handler.cancelled == ["ftjob-x"] and handler.running == 0


async def test_task_not_picked_up_in_time_is_dropped(buses: tuple[Bus, Bus]) -> None:
    sched, work = buses
    for bus in (sched, work):
        bus.pickup_timeout_s = 1.0  # type: ignore[attr-defined]
    handler = Recorder()
    await sched.dispatch("w1", "ftjob-late", 1, 60)
    await asyncio.sleep(1.3)
    serving = asyncio.create_task(work.serve_tasks("w1", handler))
    await sched.dispatch("w1", "ftjob-fresh", 1, 60)
    try:
        await until(lambda: len(handler.tasks) == 1)
        await asyncio.sleep(0.5)
    finally:
        await stop(serving)
    assert [t.job_id for t in handler.tasks] == ["ftjob-fresh"]


async def test_reports_arrive_in_order(buses: tuple[Bus, Bus]) -> None:
    sched, work = buses
    assert await sched.read_reports(0.1) == []
    for step in range(1, 121):
        report = Report(kind="metrics", job_id="ftjob-r", step=step, metrics={"train_loss": 1 / step})
        await work.publish(report)
    await work.publish(Report(kind="succeeded", job_id="ftjob-r", trained_tokens=42, worker_id="w1"))
    got: list[Report] = []
    deadline = time.monotonic() + 10
    while len(got) < 121 and time.monotonic() < deadline:
        got += await sched.read_reports(0.5)
    assert [r.step for r in got[:120]] == list(range(1, 121))
    assert got[0].metrics == {"train_loss": 1.0}
    assert got[-1].kind == "succeeded" and got[-1].trained_tokens == 42 and got[-1].worker_id == "w1"
    assert await sched.read_reports(0.2) == []


async def test_read_reports_waits_for_the_first_report(buses: tuple[Bus, Bus]) -> None:
    sched, work = buses

    async def later() -> None:
        await asyncio.sleep(0.3)
        await work.publish(Report(kind="started", job_id="ftjob-w", total_steps=5))

    publisher = asyncio.create_task(later())
    started = time.monotonic()
    got = await sched.read_reports(5.0)
    await publisher
    assert [r.kind for r in got] == ["started"] and got[0].total_steps == 5
    assert time.monotonic() - started < 4.0


async def test_heartbeats_expire_and_unregister(buses: tuple[Bus, Bus]) -> None:
    sched, work = buses
    cpu = Device(kind="cpu", name="cpu", memory_total=8 << 30, memory_free=6 << 30)
    await work.heartbeat(WorkerInfo(id="w-short", devices=[cpu], heartbeat_at=1.0), ttl=0.4)
    await work.heartbeat(WorkerInfo(id="w-long", devices=[cpu], running=["ftjob-1"]), ttl=30)
    infos = {w.id: w for w in await sched.workers()}
    assert set(infos) == {"w-short", "w-long"}
    assert infos["w-long"].running == ["ftjob-1"] and infos["w-long"].devices[0].memory_free == 6 << 30
    await asyncio.sleep(0.6)
    assert [w.id for w in await sched.workers()] == ["w-long"]
    await work.unregister("w-long")
    assert await sched.workers() == []


async def test_control_set_get_clear_and_expire(buses: tuple[Bus, Bus]) -> None:
    sched, work = buses
    assert await work.get_control("ftjob-c") is None
    await sched.set_control("ftjob-c", "pause")
    assert await work.get_control("ftjob-c") == "pause"
    await sched.set_control("ftjob-c", "cancel")
    assert await work.get_control("ftjob-c") == "cancel"
    await sched.set_control("ftjob-c", None)
    assert await work.get_control("ftjob-c") is None
    await sched.set_control("ftjob-c", "cancel", ttl=0.3)
    await asyncio.sleep(0.5)
    assert await work.get_control("ftjob-c") is None


async def test_a_newer_attempt_tells_older_ones_to_cancel(buses: tuple[Bus, Bus]) -> None:
    sched, work = buses
    await sched.dispatch("w1", "ftjob-n", 1, 600)
    assert await work.get_control("ftjob-n", 1) is None
    await sched.dispatch("w2", "ftjob-n", 2, 600)  # e.g. w1 lost its lease
    assert await work.get_control("ftjob-n", 1) == "cancel"
    assert await work.get_control("ftjob-n", 2) is None
    assert await work.get_control("ftjob-n") is None
    await sched.set_control("ftjob-n", "pause")
    assert await work.get_control("ftjob-n", 2) == "pause"
