"""Queue latency: from ``jobs.create`` to ``running``, embedded (in-process bus) and over Redis.

The time a job waits is the scheduler's (validation, placement, dispatch, the bus) plus the
training child's start-up before it reports ``started``. To measure the scheduler's share, the
worker runs a stub child that reports ``started`` at once; the unavoidable part (starting
Python, importing the training stack, loading the model) is measured beside it with the real
loading code on tiny-chat.

    .venv/bin/python bench/queue_latency.py [--jobs 50] [--redis redis://127.0.0.1:6379/14]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import uvicorn
from sqlmodel import select

from api.app import create_app
from api.services.keys import create_key
from core.bus import Bus
from core.bus.memory import InProcessBus
from core.db import make_engine, upgrade
from core.settings import Settings
from core.store import store_from_settings
from core.tables import Job
from gpu_worker.worker import run_worker
from scheduler.service import Scheduler

STUB = (
    "import sys; from core.protocol import Report; "
    "job = sys.argv[sys.argv.index('--spec-key') + 1].split('/')[1]; "
    "print(Report(kind='started', job_id=job, total_steps=1).line(), flush=True); "
    "print(Report(kind='failed', job_id=job, code='bench_stub', message='stub child').line(), flush=True)"
)

LOAD = (
    "import time; t = time.perf_counter(); "
    "import torch, transformers, peft, trl; "
    "from core.settings import Settings; from core.catalog import get_catalog; "
    "from core.model_cache import ensure_model_dir; "
    "s = Settings(data_dir=sys.argv[1]); d = ensure_model_dir(get_catalog(s).require('tiny-chat'), s); "
    "transformers.AutoModelForCausalLM.from_pretrained(d); transformers.AutoTokenizer.from_pretrained(d); "
    "print(time.perf_counter() - t)"
)


def _rows(n: int) -> bytes:
    return b"".join(
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                 {"role": "assistant", "content": f"a{i}"}]}).encode() + b"\n"
        for i in range(n)
    )


@contextlib.contextmanager
def serve(settings: Settings, bus: Bus) -> Iterator[str]:
    engine = make_engine(settings)
    upgrade(engine)
    store = store_from_settings(settings)

    @contextlib.asynccontextmanager
    async def roles(_app: Any) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(Scheduler(settings, engine, store, bus).run(stop)),
            asyncio.create_task(run_worker(settings, bus, store, stop_event=stop,
                                           child_argv=[sys.executable, "-c", STUB])),
        ]
        yield
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    app = create_app(settings, engine=engine, store=store, lifespan_hooks=[roles])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield create_key(engine, "bench")
    finally:
        server.should_exit = True
        thread.join(20)


def measure(settings: Settings, bus: Bus, n_jobs: int) -> list[float]:
    """Seconds from create to running for ``n_jobs`` jobs submitted one after another."""
    with serve(settings, bus) as key:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{settings.port}/v1", api_key=key)
        fid = client.files.create(file=("t.jsonl", _rows(10), "application/jsonl"), purpose="fine-tune").id
        engine = make_engine(settings)
        latencies = []
        for _ in range(n_jobs):
            t0 = time.time()
            job_id = client.fine_tuning.jobs.create(model="tiny-chat", training_file=fid).id
            while True:
                with engine.connect() as conn:
                    query = select(Job.started_at, Job.status).where(Job.id == job_id)
                    started = conn.execute(query).mappings().one()
                if started["started_at"] is not None and started["status"] in ("running", "failed"):
                    latencies.append(started["started_at"] - t0)
                    break
                time.sleep(0.01)
            while client.fine_tuning.jobs.retrieve(job_id).status not in ("failed", "succeeded", "cancelled"):
                time.sleep(0.01)
        return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="openft-bench-"))
    base = {"scheduler_tick_seconds": 0.05, "heartbeat_seconds": 0.2}

    load = [float(subprocess.run([sys.executable, "-c", "import sys; " + LOAD, str(root / "load")],
                                 check=True, capture_output=True, text=True).stdout) for _ in range(3)]
    results: dict[str, list[float]] = {}
    from core.bus.redis import RedisBus

    for mode, make_bus in (("embedded", InProcessBus), ("redis", lambda: RedisBus(args.redis))):
        settings = Settings(data_dir=root / mode, port=8790 + len(results), **base)  # type: ignore[arg-type]
        results[mode] = measure(settings, make_bus(), args.jobs)

    print(f"queue latency, create -> running, {args.jobs} jobs each (scheduler tick 50 ms):")
    for mode, values in results.items():
        print(f"  {mode:9s} p50 {pct(values, 0.5) * 1000:7.0f} ms   p99 {pct(values, 0.99) * 1000:7.0f} ms"
              f"   mean {statistics.mean(values) * 1000:6.0f} ms")
    median_load = statistics.median(load)
    print(f"model load in a fresh child (python + torch/transformers/peft/trl imports + tiny-chat): "
          f"{median_load * 1000:.0f} ms (median of 3)")
    for mode, values in results.items():
        print(f"  ratio {mode} p50 latency / model load: {pct(values, 0.5) / median_load:.2f}")


if __name__ == "__main__":
    main()
