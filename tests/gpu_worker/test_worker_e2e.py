"""The worker with the real training child on ``tiny-chat``: a task in, a trained model out.

Also over the Redis bus (the distributed mode's transport) and through ``openft worker``'s
entry point, which must stop cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from safety_nets import safety_net

from core.bus.base import Bus
from core.bus.memory import InProcessBus
from core.bus.redis import RedisBus
from core.catalog import get_catalog
from core.protocol import Hyperparameters, JobSpec, Report, file_key, spec_key
from core.settings import Settings
from core.store import LocalStore
from gpu_worker.worker import Worker

REDIS_URL = os.environ.get("OPENFT_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def redis() -> Iterator[Redis]:
    """The test Redis database at ``REDIS_URL``, empty, and emptied again afterwards; a skip without Redis."""
    r = Redis.from_url(REDIS_URL)
    try:
        r.ping()
    except Exception:
        pytest.skip("no Redis at " + REDIS_URL)
    r.flushdb()
    yield r
    r.flushdb()
    r.close()


def rows(n: int, seed: int = 0) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        out.append({"messages": [
            {"role": "user", "content": f"{a}+{b}"},
            {"role": "assistant", "content": str(a + b)},
        ]})
    return out


def settings_for(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", heartbeat_seconds=0.2, worker_lease_seconds=10.0,
                    device="cpu", cpu_memory_gib=4.0, redis_url=REDIS_URL)


def write_job(settings: Settings, job_id: str, n_examples: int = 16) -> JobSpec:
    store = LocalStore(settings.resolved_store_url)
    data = "".join(json.dumps(r) + "\n" for r in rows(n_examples)).encode()
    store.write_bytes(file_key("file-e2e"), data)
    base = get_catalog(settings).require("tiny-chat").spec()
    spec = JobSpec(
        job_id=job_id, attempt=1, project_id="proj_e2e", method="supervised", base_model=base,
        training_file="file-e2e",
        hyperparameters=Hyperparameters(n_epochs=1, batch_size=8, learning_rate_multiplier=1.0,
                                        learning_rate=base.learning_rate),
        seed=3, fine_tuned_model=f"ft:tiny-chat:proj_e2e::{job_id[-8:]}",
        extensions={"checkpoint_every_steps": 1}, n_train_examples=n_examples,
        total_steps=n_examples // 8,
    )
    store.write_json(spec_key(job_id), spec.model_dump(mode="json"))
    return spec


async def collect(bus: Bus, job_id: str, until_kind: set[str], timeout: float) -> list[Report]:
    got: list[Report] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got += [r for r in await bus.read_reports(0.5) if r.job_id == job_id]
        if any(r.kind in until_kind for r in got):
            return got
    raise AssertionError(f"job did not finish: {[(r.kind, r.message) for r in got]}")


async def run_real_job(bus: Bus, tmp_path: Path, job_id: str) -> tuple[list[Report], Worker]:
    settings = settings_for(tmp_path)
    write_job(settings, job_id)
    worker = Worker(settings, bus, LocalStore(settings.resolved_store_url), worker_id="w-e2e")
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await bus.dispatch("w-e2e", job_id, 1, 900)
        reports = await collect(bus, job_id, {"succeeded", "failed"}, timeout=safety_net(90))
        deadline = time.monotonic() + 120
        while worker.running and time.monotonic() < deadline:  # the child exits after its report
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(running, 120)
    return reports, worker


@pytest.mark.slow
@pytest.mark.timeout(safety_net(120))
async def test_the_real_child_trains_tiny_chat_through_the_worker(tmp_path: Path) -> None:
    reports, worker = await run_real_job(InProcessBus(), tmp_path, "ftjob-e2e00001")
    kinds = [r.kind for r in reports]
    assert kinds[-1] == "succeeded", reports[-1].message
    assert "started" in kinds and "metrics" in kinds and "checkpoint" in kinds
    assert {r.worker_id for r in reports} == {"w-e2e"} and {r.attempt for r in reports} == {1}
    done = reports[-1]
    store = LocalStore(settings_for(tmp_path).resolved_store_url)
    assert done.model_key and store.list(done.model_key)  # the adapter is in the store
    assert worker.jobs_succeeded == 1 and worker.running == {}


@pytest.mark.slow
@pytest.mark.timeout(safety_net(120))
async def test_the_real_child_over_redis(tmp_path: Path, redis: Redis) -> None:
    bus = RedisBus(REDIS_URL)
    try:
        reports, _ = await run_real_job(bus, tmp_path, "ftjob-e2e00002")
    finally:
        await bus.close()
    assert reports[-1].kind == "succeeded", reports[-1].message
    steps = [x.step for x in reports if x.kind == "metrics"]
    assert steps == sorted(steps) and steps


@pytest.mark.timeout(safety_net(20))
def test_openft_worker_registers_and_stops_on_sigterm(tmp_path: Path, redis: Redis) -> None:
    r = redis
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENFT_")}
    env.update(OPENFT_REDIS_URL=REDIS_URL, OPENFT_DATA_DIR=str(tmp_path), OPENFT_DEVICE="cpu",
               OPENFT_HEARTBEAT_SECONDS="0.2", OPENFT_WORKER_NAME="sigterm-test")
    proc = subprocess.Popen([sys.executable, "-m", "gpu_worker.worker"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        names: list[bytes] = []
        while time.monotonic() < deadline and not names:
            names = list(r.scan_iter(match=b"openft:worker:sigterm-test-*"))
            time.sleep(0.1)
        assert names, "the worker never registered"
        info = json.loads(r.get(names[0]) or b"{}")
        assert info["devices"][0]["kind"] == "cpu" and info["capacity"] == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert list(r.scan_iter(match=b"openft:worker:*")) == []  # unregistered at once
    finally:
        if proc.poll() is None:
            proc.kill()

