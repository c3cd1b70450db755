"""Fine-tuning quotas at placement: a project at max_running_jobs, or past its GPU-hours of the
month, keeps its next job queued with one event that says why; the job starts once under quota."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from scheduler_factories import messages, reload, training_job
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.bus.memory import InProcessBus
from core.protocol import Device, WorkerInfo
from core.settings import Settings
from core.store import Store
from core.tables import Project, UsageRecord
from scheduler.jobs import change_status, load_job
from scheduler.quotas import gpu_seconds_this_month, month_start
from scheduler.service import Scheduler

GIB = 1024**3
REQ = {"memory": {"cpu": GIB}}


def big_worker() -> WorkerInfo:
    devices = [Device(index=i, kind="cpu", name=f"cpu{i}", memory_total=8 * GIB, memory_free=8 * GIB)
               for i in range(4)]
    return WorkerInfo(id="w-1", devices=devices, capacity=4, heartbeat_at=time.time())


async def tick(scheduler: Scheduler) -> None:
    await scheduler.bus.heartbeat(big_worker(), ttl=30)
    await scheduler.tick()


def set_quota(engine: Engine, project_id: str, **quota: float) -> None:
    with Session(engine) as s:
        p = s.get(Project, project_id)
        assert p is not None
        for k, v in quota.items():
            setattr(p, k, v)
        s.add(p)
        s.commit()


@pytest.fixture
def scheduler(settings: Settings, engine: Engine, store: Store) -> Scheduler:
    return Scheduler(settings, engine, store, InProcessBus())


async def test_a_job_over_the_running_quota_waits_with_an_event_then_starts(
        scheduler: Scheduler, engine: Engine) -> None:
    first = training_job(engine, status="queued", attempts=0, worker_id=None, requirements=REQ)
    second = training_job(engine, status="queued", attempts=0, worker_id=None, requirements=REQ)
    other = training_job(engine, "proj-b", status="queued", attempts=0, worker_id=None, requirements=REQ)
    set_quota(engine, "proj-a", max_running_jobs=1)
    await tick(scheduler)
    await tick(scheduler)
    assert reload(engine, first.id).worker_id == "w-1" and reload(engine, other.id).worker_id == "w-1"
    assert reload(engine, second.id).worker_id is None and reload(engine, second.id).status == "queued"
    held = [m for m in messages(engine, second.id) if "max_running_jobs=1" in m]
    assert len(held) == 1  # said once, not on every tick

    with Session(engine) as s:
        job = load_job(s, first.id)
        assert job is not None
        change_status(s, job, "running", None)
        job.worker_id = None
        change_status(s, job, "succeeded", None)
        s.commit()
    await tick(scheduler)
    assert reload(engine, second.id).worker_id == "w-1"


async def test_a_project_past_its_gpu_hours_waits(scheduler: Scheduler, engine: Engine) -> None:
    job = training_job(engine, status="queued", attempts=0, worker_id=None, requirements=REQ)
    with Session(engine) as s:
        s.add(UsageRecord(kind="fine_tuning", project_id="proj-a", model="tiny-chat", job_id="ftjob-old",
                          gpu_seconds=5400.0))
        s.commit()
        assert gpu_seconds_this_month(s, "proj-a") == pytest.approx(5400.0)
    set_quota(engine, "proj-a", max_gpu_hours_per_month=1.5)
    await tick(scheduler)
    assert reload(engine, job.id).worker_id is None
    assert any("1.50 of its 1.5 GPU-hours" in m for m in messages(engine, job.id))
    set_quota(engine, "proj-a", max_gpu_hours_per_month=2)
    await tick(scheduler)
    assert reload(engine, job.id).worker_id == "w-1"


def test_month_start_is_the_first_of_the_month_utc() -> None:
    t = dt.datetime(2026, 12, 4, 13, 5, tzinfo=dt.UTC).timestamp()
    assert month_start(t) == dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()
