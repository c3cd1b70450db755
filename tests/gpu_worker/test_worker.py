"""The worker with a fake training child: relaying, cancel, pause, crashes, OOM retry, timeouts.

The real child (``gpu_worker.train_attempt``) is tested on its own; here a small script written to
``tmp_path`` plays it, reading its spec from the store exactly like the real one (through the
settings the worker hands it in the environment) and behaving as ``jobs/{id}/fake.json`` says.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import polling
import pytest
from safety_nets import safety_net

from core.bus.memory import InProcessBus
from core.protocol import (
    BaseModelSpec,
    Device,
    Hyperparameters,
    JobSpec,
    Report,
    spec_key,
)
from core.settings import GiB, Settings
from core.store import LocalStore, Store
from gpu_worker.worker import Worker

pytestmark = pytest.mark.timeout(safety_net(30))

FAKE_CHILD = r'''
import os, signal, subprocess, sys, time
from core.protocol import JobSpec, Report
from core.settings import Settings
from core.store import store_from_settings

key = sys.argv[sys.argv.index("--spec-key") + 1]
settings = Settings()
store = store_from_settings(settings)
spec = JobSpec.model_validate(store.read_json(key))
fake = store.read_json(f"jobs/{spec.job_id}/fake.json")
mode = fake.get("mode", "succeed")
micro = spec.extensions.get("micro_batch_size", 0)
job = spec.job_id
step = spec.resume_step or 0

def say(**kw):
    print(Report(job_id=job, attempt=1, **kw).line(), flush=True)

def on_usr1(signum, frame):
    say(kind="paused", step=step)
    sys.exit(0)

signal.signal(signal.SIGUSR1, on_usr1)
if fake.get("ignore_term"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen(["sleep", "60"]) if fake.get("grandchild") else None
say(kind="event", message="env", data={
    "pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0),
    "grandchild": grandchild.pid if grandchild else None,
    "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    "device": settings.device, "heartbeat_seconds": settings.heartbeat_seconds,
    "data_dir": str(settings.data_dir), "spec_key": key, "micro": micro,
    "resume_step": spec.resume_step,
})
say(kind="started", total_steps=spec.total_steps)
print("an ordinary log line", flush=True)
print("some warning on stderr", file=sys.stderr, flush=True)
if mode == "crash":
    print("Traceback (most recent call last):\nboom: simulated crash", file=sys.stderr, flush=True)
    sys.exit(3)
if mode == "segv":
    os.kill(os.getpid(), signal.SIGSEGV)
if mode in ("oom", "oomkill") and micro > fake.get("fits_at", 0):
    step += 1
    say(kind="checkpoint", step=step, key=f"jobs/{job}/checkpoints/step-{step}")
    if mode == "oomkill":
        os.kill(os.getpid(), signal.SIGKILL)
    say(kind="failed", code="out_of_memory", message="CUDA out of memory",
        data={"micro_batch_size": fake["failed_micro"]} if "failed_micro" in fake else None)
    sys.exit(1)
if mode == "sleep":
    while True:
        step += 1
        say(kind="metrics", step=step, metrics={"train_loss": 1.0 / step})
        time.sleep(0.1)
for _ in range(2):
    step += 1
    say(kind="metrics", step=step, total_steps=spec.total_steps, metrics={"train_loss": 1.0 / step})
say(kind="checkpoint", step=step, epoch_end=True, key=f"jobs/{job}/checkpoints/step-{step}")
if mode == "no_final":
    sys.exit(0)
say(kind="succeeded", trained_tokens=1234, model_key=f"models/{job}")
'''


def make_spec(job_id: str, **extensions: Any) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        project_id="proj_test",
        method="supervised",
        base_model=BaseModelSpec(name="tiny-chat", source="builtin:tiny-chat"),
        training_file="file-train",
        hyperparameters=Hyperparameters(
            n_epochs=1, batch_size=8, learning_rate_multiplier=1.0, learning_rate=1e-3
        ),
        seed=7,
        fine_tuned_model=f"ft:tiny-chat:proj_test::{job_id[-8:]}",
        extensions=extensions,
        n_train_examples=16,
        total_steps=2,
    )


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


class Harness:
    """A worker on an in-process bus, with helpers to dispatch fake jobs and read reports."""

    def __init__(self, tmp_path: Path, child: str = FAKE_CHILD, n_devices: int = 1, **worker_kwargs: Any) -> None:
        self.settings = Settings(
            data_dir=tmp_path / "data", heartbeat_seconds=0.1, worker_lease_seconds=5.0, device="cpu",
            cpu_memory_gib=4.0,
        )
        self.store: Store = LocalStore(self.settings.resolved_store_url)
        self.bus = InProcessBus()
        script = tmp_path / "fake_child.py"
        script.write_text(child)
        cpus = [Device(kind="cpu", name="test cpu", memory_total=4 * GiB, memory_free=4 * GiB, index=i)
                for i in range(n_devices)]
        self.worker = Worker(self.settings, self.bus, self.store, worker_id="w-test",
                             child_argv=[sys.executable, str(script)], devices=cpus, **worker_kwargs)
        self.stop = asyncio.Event()
        self.reports: list[Report] = []
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.worker.run(self.stop))

    async def submit(
        self, job_id: str, attempt: int = 1, timeout_s: float = 600, fake: dict[str, Any] | None = None,
        devices: tuple[int, ...] = (), **extensions: Any,
    ) -> None:
        spec = make_spec(job_id, **extensions).model_copy(update={"devices": list(devices)})
        self.store.write_json(spec_key(job_id), spec.model_dump(mode="json"))
        self.store.write_json(f"jobs/{job_id}/fake.json", fake or {})
        await self.bus.dispatch("w-test", job_id, attempt, timeout_s)

    async def wait_for(self, predicate: Callable[[Report], bool], timeout: float = 20.0) -> Report:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.reports:
                if predicate(r):
                    return r
            self.reports += await self.bus.read_reports(0.1)
        raise AssertionError(f"no such report; got {[(r.kind, r.message) for r in self.reports]}")

    async def drain(self, seconds: float = 0.5) -> list[Report]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.reports += await self.bus.read_reports(0.1)
        return self.reports

    def of(self, job_id: str, *kinds: str) -> list[Report]:
        return [r for r in self.reports if r.job_id == job_id and (not kinds or r.kind in kinds)]

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 30)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, kill_grace_s=2.0)
    await h.start()
    yield h
    await h.close()


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """:func:`polling.until`, polling every 50 ms (a worker's steps are slower than the bus's)."""
    await polling.until(predicate, timeout, interval=0.05)


async def test_reports_are_relayed_in_order_and_stamped(harness: Harness) -> None:
    await harness.submit("ftjob-ok", attempt=2)
    await harness.wait_for(lambda r: r.kind == "succeeded")
    reports = harness.of("ftjob-ok")
    assert [r.kind for r in reports] == ["event", "started", "metrics", "metrics", "checkpoint", "succeeded"]
    assert {(r.worker_id, r.attempt) for r in reports} == {("w-test", 2)}  # the child said attempt 1
    assert [r.step for r in reports if r.kind == "metrics"] == [1, 2]
    assert reports[-1].trained_tokens == 1234 and reports[-1].model_key == "models/ftjob-ok"
    await until(lambda: harness.worker.running == {})
    assert "j_run=1 j_succeeded=1 j_failed=0" in repr(harness.worker)


async def test_child_gets_the_workers_settings_and_its_device(harness: Harness) -> None:
    await harness.submit("ftjob-env")
    env = (await harness.wait_for(lambda r: r.message == "env")).data or {}
    assert env["ppid"] == os.getpid()  # the launcher exec'd into the child: a direct child
    assert env["pgid"] == env["pid"]  # its own process group
    assert env["cuda_visible_devices"] == "" and env["device"] == "cpu"
    assert env["heartbeat_seconds"] == 0.1
    assert env["data_dir"] == str(harness.settings.data_dir.resolve())
    assert env["spec_key"] == "jobs/ftjob-env/spec.json"


async def test_heartbeat_lists_devices_and_running_jobs(harness: Harness) -> None:
    await harness.submit("ftjob-hb", fake={"mode": "sleep"})
    await harness.wait_for(lambda r: r.kind == "metrics")
    [info] = await harness.bus.workers()
    assert info.id == "w-test" and info.capacity == 1 and info.running == ["ftjob-hb"]
    assert info.devices[0].kind == "cpu" and info.devices[0].memory_total == 4 * GiB
    await harness.bus.set_control("ftjob-hb", "cancel")
    await until(lambda: harness.worker.running == {})
    deadline = time.monotonic() + 20
    while (await harness.bus.workers())[0].running:  # the next heartbeat drops the job
        assert time.monotonic() < deadline, "the heartbeat still lists the cancelled job"
        await asyncio.sleep(0.05)


async def test_cancel_kills_the_child_and_its_group_within_seconds(harness: Harness) -> None:
    await harness.submit("ftjob-cancel", fake={"mode": "sleep", "grandchild": True})
    env = (await harness.wait_for(lambda r: r.message == "env")).data or {}
    await harness.wait_for(lambda r: r.kind == "metrics")
    assert alive(env["pid"]) and alive(env["grandchild"])
    started = time.monotonic()
    await harness.bus.set_control("ftjob-cancel", "cancel")
    await until(lambda: not alive(env["pid"]) and not alive(env["grandchild"]), timeout=5)
    await until(lambda: harness.worker.running == {}, timeout=5)
    assert time.monotonic() - started < 5
    await harness.drain(0.5)
    assert harness.of("ftjob-cancel", "failed", "succeeded", "paused") == []
    assert "j_cancelled=1" in repr(harness.worker)
    await harness.submit("ftjob-next")  # the device is free again
    await harness.wait_for(lambda r: r.job_id == "ftjob-next" and r.kind == "succeeded")


async def test_cancel_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    h = Harness(tmp_path, kill_grace_s=0.5)
    await h.start()
    try:
        await h.submit("ftjob-stubborn", fake={"mode": "sleep", "ignore_term": True})
        env = (await h.wait_for(lambda r: r.message == "env")).data or {}
        await h.wait_for(lambda r: r.kind == "metrics")
        await h.bus.set_control("ftjob-stubborn", "cancel")
        await until(lambda: not alive(env["pid"]), timeout=4)
    finally:
        await h.close()


async def test_pause_sends_sigusr1_and_relays_paused(harness: Harness) -> None:
    await harness.submit("ftjob-pause", fake={"mode": "sleep"})
    env = (await harness.wait_for(lambda r: r.message == "env")).data or {}
    await harness.wait_for(lambda r: r.kind == "metrics" and (r.step or 0) >= 2)
    await harness.bus.set_control("ftjob-pause", "pause")
    paused = await harness.wait_for(lambda r: r.kind == "paused")
    assert paused.step is not None and paused.step >= 2 and paused.worker_id == "w-test"
    await until(lambda: not alive(env["pid"]) and harness.worker.running == {})
    await harness.drain(0.3)
    assert harness.of("ftjob-pause", "failed") == []


async def test_a_crashing_child_is_reported_failed_with_its_stderr(harness: Harness) -> None:
    await harness.submit("ftjob-crash", fake={"mode": "crash"})
    failed = await harness.wait_for(lambda r: r.kind == "failed")
    assert failed.code == "worker_error" and failed.job_id == "ftjob-crash"
    assert "exited with code 3" in (failed.message or "")
    assert "boom: simulated crash" in (failed.message or "")
    await harness.submit("ftjob-segv", fake={"mode": "segv"})
    segv = await harness.wait_for(lambda r: r.kind == "failed" and r.job_id == "ftjob-segv")
    assert segv.code == "worker_error" and "SIGSEGV" in (segv.message or "")
    await harness.submit("ftjob-quiet", fake={"mode": "no_final"})
    quiet = await harness.wait_for(lambda r: r.kind == "failed" and r.job_id == "ftjob-quiet")
    assert "without reporting a result" in (quiet.message or "")
    assert harness.worker.jobs_failed == 3 and harness.worker.running == {}


async def test_out_of_memory_is_retried_once_with_half_the_micro_batch(harness: Harness) -> None:
    await harness.submit("ftjob-oom", micro_batch_size=4, fake={"mode": "oom", "fits_at": 2})
    done = await harness.wait_for(lambda r: r.kind in ("succeeded", "failed"))
    assert done.kind == "succeeded"
    warn = [r for r in harness.of("ftjob-oom", "event") if r.level == "warn"]
    assert [w.message for w in warn] == ["Out of memory with micro-batch size 4; retrying with 2"]
    assert harness.of("ftjob-oom", "failed") == []  # the first failure was held back
    envs = [r.data for r in harness.of("ftjob-oom", "event") if r.message == "env"]
    assert [(e or {})["micro"] for e in envs] == [4, 2]
    assert (envs[1] or {})["resume_step"] == 1  # resumes from the checkpoint the failed run wrote
    retry_spec = harness.store.read_json((envs[1] or {})["spec_key"])
    assert retry_spec["extensions"]["micro_batch_size"] == 2
    assert harness.store.read_json(spec_key("ftjob-oom"))["extensions"]["micro_batch_size"] == 4


async def test_out_of_memory_twice_fails_with_out_of_memory(harness: Harness) -> None:
    await harness.submit("ftjob-oom2", micro_batch_size=8, fake={"mode": "oom", "fits_at": 2})
    failed = await harness.wait_for(lambda r: r.kind == "failed")
    assert failed.code == "out_of_memory" and failed.message == "CUDA out of memory"
    await harness.drain(0.3)
    assert len(harness.of("ftjob-oom2", "failed")) == 1
    assert len([r for r in harness.of("ftjob-oom2", "event") if r.message == "env"]) == 2


async def test_a_child_killed_by_sigkill_counts_as_out_of_memory(harness: Harness) -> None:
    await harness.submit("ftjob-oomkill", micro_batch_size=8, fake={"mode": "oomkill", "fits_at": 4})
    done = await harness.wait_for(lambda r: r.kind in ("succeeded", "failed"))
    assert done.kind == "succeeded"
    warn = [r.message for r in harness.of("ftjob-oomkill", "event") if r.level == "warn"]
    assert warn == ["Out of memory with micro-batch size 8; retrying with 4"]


async def test_the_time_budget_is_enforced(harness: Harness) -> None:
    await harness.submit("ftjob-slow", timeout_s=3.0, fake={"mode": "sleep"})
    failed = await harness.wait_for(lambda r: r.kind == "failed", timeout=30)
    assert failed.code == "job_timeout" and "3 s" in (failed.message or "")
    pids = [(r.data or {})["pid"] for r in harness.of("ftjob-slow", "event") if r.message == "env"]
    assert all(not alive(pid) for pid in pids)
    await until(lambda: harness.worker.running == {})


async def test_a_task_cancelled_before_it_starts_never_spawns(harness: Harness) -> None:
    await harness.bus.set_control("ftjob-early", "cancel")
    await harness.submit("ftjob-early")
    await harness.drain(1.0)
    assert harness.of("ftjob-early") == []
    await harness.bus.set_control("ftjob-early-pause", "pause")
    await harness.submit("ftjob-early-pause")
    paused = await harness.wait_for(lambda r: r.job_id == "ftjob-early-pause")
    assert paused.kind == "paused" and paused.step is None


async def test_a_new_attempt_supersedes_the_running_one(harness: Harness) -> None:
    await harness.submit("ftjob-again", attempt=1, fake={"mode": "sleep"})
    env1 = (await harness.wait_for(lambda r: r.message == "env")).data or {}
    await harness.submit("ftjob-again", attempt=2)
    done = await harness.wait_for(lambda r: r.kind == "succeeded")
    assert done.attempt == 2 and not alive(env1["pid"])
    assert harness.of("ftjob-again", "failed") == []


async def test_stopping_the_worker_kills_children_and_unregisters(tmp_path: Path) -> None:
    h = Harness(tmp_path, kill_grace_s=1.0)
    await h.start()
    await h.submit("ftjob-running", fake={"mode": "sleep", "grandchild": True})
    env = (await h.wait_for(lambda r: r.message == "env")).data or {}
    assert [w.id for w in await h.bus.workers()] == ["w-test"]
    started = time.monotonic()
    await h.close()
    assert time.monotonic() - started < 5
    assert not alive(env["pid"]) and not alive(env["grandchild"])
    assert await h.bus.workers() == []
    assert h.worker.running == {}


def test_worker_ids_are_unique_per_process() -> None:
    from gpu_worker.worker import default_worker_id

    s = Settings(worker_name="gpu-node-3")
    a, b = default_worker_id(s), default_worker_id(s)
    assert a != b and a.startswith("gpu-node-3-") and b.startswith("gpu-node-3-")


def test_child_dies_with_a_killed_worker(tmp_path: Path) -> None:
    """A worker killed with SIGKILL must not leave its training running (PR_SET_PDEATHSIG)."""
    program = tmp_path / "parent.py"
    program.write_text(
        "import asyncio, sys\n"
        "from core.protocol import Device\n"
        "from gpu_worker.child_process import ChildRun, spawn_child\n"
        "async def main():\n"
        "    run = ChildRun('ftjob-orphan', 1, [Device(kind='cpu', name='c', memory_total=1, memory_free=1)])\n"
        "    await spawn_child(run, ['sleep', '60'], {'PATH': '/usr/bin:/bin'})\n"
        "    print(run.pid, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    import subprocess

    parent = subprocess.Popen([sys.executable, str(program)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert alive(child_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 5
    while alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child_pid)


async def test_the_oom_retry_starts_below_the_micro_batch_the_child_failed_with(harness: Harness) -> None:
    # the child halved 8 -> 4 in-process and failed again at 4: the fresh process starts at 2
    fake = {"mode": "oom", "fits_at": 2, "failed_micro": 4}
    await harness.submit("ftjob-oom3", micro_batch_size=8, fake=fake)
    await harness.wait_for(lambda r: r.kind == "succeeded")
    warn = [r.message for r in harness.of("ftjob-oom3", "event") if r.level == "warn"]
    assert warn == ["Out of memory with micro-batch size 4; retrying with 2"]


class DeafQueueBus(InProcessBus):
    """An in-process bus whose task queue swallows cancellations until released, as a queue
    library that turns a cancel into an error it retries would."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.queue_task: asyncio.Task[Any] | None = None

    async def serve_tasks(self, worker_id: str, handler: Any, max_jobs: int = 1) -> None:
        self.queue_task = asyncio.current_task()
        while not self.release.is_set():
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                continue


async def test_a_task_queue_that_ignores_its_cancel_does_not_hold_a_stopping_worker(tmp_path: Path) -> None:
    h = Harness(tmp_path, stop_grace_s=0.5)
    bus = h.worker.bus = h.bus = DeafQueueBus()
    await h.start()
    await until(lambda: bus.queue_task is not None)  # serving (it heartbeats before that)
    assert [w.id for w in await bus.workers()] == ["w-test"]
    h.stop.set()
    assert h.task is not None
    await asyncio.wait_for(h.task, 10)  # within the grace, not never
    assert await bus.workers() == []  # and it still unregistered on its way out
    assert bus.queue_task is not None and not bus.queue_task.done()  # it really was left behind
    bus.release.set()
    await bus.queue_task


class RaisingQueueBus(InProcessBus):
    """An in-process bus whose task queue answers its cancel with an error of its own (or, with
    ``at_once``, fails as soon as it starts)."""

    serving = False

    def __init__(self, at_once: bool = False) -> None:
        super().__init__()
        self.at_once = at_once

    async def serve_tasks(self, worker_id: str, handler: Any, max_jobs: int = 1) -> None:
        self.serving = True
        if self.at_once:
            raise ConnectionResetError("the queue's connection went")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise ConnectionResetError("the queue's connection went while it closed") from None


async def test_an_error_the_task_queue_raises_while_stopping_is_logged_and_the_worker_still_stops(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(tmp_path, stop_grace_s=5)
    bus = h.worker.bus = h.bus = RaisingQueueBus()
    await h.start()
    await until(lambda: bus.serving)
    h.stop.set()
    assert h.task is not None
    await asyncio.wait_for(h.task, 10)
    assert await bus.workers() == []
    assert any("ConnectionResetError" in r.getMessage() and "while stopping" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]


async def test_a_task_queue_that_fails_ends_the_worker_with_its_error_logged_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(tmp_path, stop_grace_s=5)
    bus = h.worker.bus = h.bus = RaisingQueueBus(at_once=True)
    await h.start()
    assert h.task is not None
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(h.task, 10)
    assert await bus.workers() == []
    assert not any("while stopping" in r.getMessage() for r in caplog.records)  # its caller has it
