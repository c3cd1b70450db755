"""The scheduler's tick (scheduler.service, dispatch, placement) over the in-process bus.

Jobs come from factories; a worker is a heartbeat on the bus. No worker process runs.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from scheduler_factories import messages, reload, training_job
from sqlalchemy.engine import Engine

from core.bus.base import Task
from core.bus.memory import InProcessBus
from core.protocol import Device, JobSpec, WorkerInfo, spec_key
from core.settings import Settings
from core.store import Store
from scheduler.service import Scheduler

GIB = 1024**3


def cpu_worker(worker_id: str = "w-1", running: list[str] | None = None) -> WorkerInfo:
    return WorkerInfo(id=worker_id, devices=[Device(kind="cpu", name="cpu", memory_total=8 * GIB,
                                                    memory_free=8 * GIB)],
                      running=running or [], heartbeat_at=time.time())


async def tick_with(scheduler: Scheduler, *workers: WorkerInfo) -> None:
    for info in workers:
        await scheduler.bus.heartbeat(info, ttl=30)
    await scheduler.tick()


async def next_task(bus: InProcessBus, worker_id: str, timeout: float = 5) -> Task:
    got: asyncio.Queue[Task] = asyncio.Queue()

    async def handler(task: Task) -> None:
        await got.put(task)

    serving = asyncio.create_task(bus.serve_tasks(worker_id, handler))
    try:
        return await asyncio.wait_for(got.get(), timeout)
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)


@pytest.fixture
def scheduler(settings: Settings, engine: Engine, store: Store) -> Scheduler:
    return Scheduler(settings, engine, store, InProcessBus())


async def test_places_a_queued_job_writes_its_spec_and_clears_an_old_control(
    scheduler: Scheduler, engine: Engine, store: Store,
) -> None:
    job = training_job(engine, status="queued", attempts=1, worker_id=None,
                       requirements={"memory": {"cpu": GIB}}, resume_step=4)
    await scheduler.bus.set_control(job.id, "pause")  # left by the attempt that paused
    await tick_with(scheduler, cpu_worker())
    row = reload(engine, job.id)
    assert (row.worker_id, row.attempts) == ("w-1", 2)
    task = await next_task(scheduler.bus, "w-1")  # type: ignore[arg-type]
    assert (task.job_id, task.attempt) == (job.id, 2)
    assert await scheduler.bus.get_control(job.id, 2) is None
    spec = JobSpec.model_validate(store.read_json(spec_key(job.id)))
    assert (spec.attempt, spec.resume_step, spec.fine_tuned_model) == (2, 4, job.plan.fine_tuned_model)


async def test_a_job_no_device_can_hold_fails_with_insufficient_resources(
    scheduler: Scheduler, engine: Engine,
) -> None:
    job = training_job(engine, status="queued", attempts=0, worker_id=None,
                       requirements={"memory": {"cpu": 64 * GIB}})
    await tick_with(scheduler, cpu_worker())
    row = reload(engine, job.id)
    assert row.status == "failed" and row.error is not None
    assert row.error["code"] == "insufficient_resources" and row.error["param"] is None
    assert messages(engine, job.id)[-1] == f"Fine-tuning job failed: {row.error['message']}"


async def test_a_job_whose_worker_went_silent_is_requeued_then_fails_with_worker_lost(
    scheduler: Scheduler, engine: Engine, settings: Settings,
) -> None:
    job = training_job(engine, worker_id="w-gone", lease_expires_at=time.time() - 1, resume_step=6)
    await tick_with(scheduler)
    row = reload(engine, job.id)
    assert (row.status, row.worker_id, row.worker_losses) == ("queued", None, 1)
    assert messages(engine, job.id)[-1] == (
        "Worker w-gone stopped responding; job requeued, it will resume from checkpoint step 6 (attempt 2)")

    last = training_job(engine, worker_id="w-gone", lease_expires_at=time.time() - 1,
                        worker_losses=settings.max_attempts)
    await tick_with(scheduler)
    row = reload(engine, last.id)
    assert row.status == "failed" and row.error == {
        "code": "worker_lost", "param": None,
        "message": f"The job lost its worker {settings.max_attempts + 1} times; giving up"}


async def test_a_live_worker_keeps_its_lease_and_gets_the_pending_request(
    scheduler: Scheduler, engine: Engine,
) -> None:
    job = training_job(engine, lease_expires_at=time.time() - 1, requested="pause", status="paused")
    await tick_with(scheduler, cpu_worker(running=[job.id]))
    row = reload(engine, job.id)
    assert row.lease_expires_at is not None and row.lease_expires_at > time.time()
    assert await scheduler.bus.get_control(job.id) == "pause"


async def test_a_finished_job_released_by_its_worker_is_let_go(scheduler: Scheduler, engine: Engine) -> None:
    job = training_job(engine, status="cancelled", requested="cancel")
    await scheduler.bus.set_control(job.id, "cancel")
    await tick_with(scheduler, cpu_worker(running=[job.id]))
    assert await scheduler.bus.get_control(job.id) == "cancel"  # still running there: stop it
    await tick_with(scheduler, cpu_worker())
    row = reload(engine, job.id)
    assert (row.worker_id, row.requested) == (None, None)
    assert await scheduler.bus.get_control(job.id) is None
