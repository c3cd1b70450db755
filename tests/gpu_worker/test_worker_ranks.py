"""A worker running a two-device task: torchrun with one process per device (gloo), reports from
rank 0 only, pause on every rank at the same step, cancel and a killed rank leave no process.

A small script plays the training child (as in test_worker.py) but joins the real process group
through :mod:`gpu_worker.distributed`, so the launch, the collectives and their timeout are ours.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from safety_nets import safety_net
from test_worker import Harness, alive, until

pytestmark = pytest.mark.timeout(safety_net(120))

FAKE_RANK = r'''
import os, signal, sys, time
from core.protocol import JobSpec, Report
from core.settings import Settings
from core.store import store_from_settings
from gpu_worker import distributed

pause = []
signal.signal(signal.SIGUSR1, lambda *_: pause.append(1))
distributed.die_with_parent()
distributed.init("cpu", 20)
import torch.distributed as dist

key = sys.argv[sys.argv.index("--spec-key") + 1]
store = store_from_settings(Settings())
spec = JobSpec.model_validate(store.read_json(key))
fake = store.read_json(f"jobs/{spec.job_id}/fake.json")
rank = distributed.rank()
step = spec.resume_step or 0
total = fake.get("total", 8)

def say(**kw):
    if distributed.is_main():
        print(Report(job_id=spec.job_id, attempt=1, **kw).line(), flush=True)

pids = [None] * distributed.world_size()
dist.all_gather_object(pids, os.getpid())
say(kind="event", message="env", data={"pids": pids, "world_size": distributed.world_size(),
    "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "resume_step": spec.resume_step})
say(kind="started", total_steps=total)
while step < total:
    step += 1
    time.sleep(0.3)
    if distributed.agree(bool(pause)):
        say(kind="checkpoint", step=step, key=f"jobs/{spec.job_id}/checkpoints/step-{step}")
        say(kind="paused", step=step)
        sys.exit(0)
    say(kind="metrics", step=step, metrics={"train_loss": 1.0 / step})
    if step % 2 == 0:
        distributed.barrier()
        say(kind="checkpoint", step=step, key=f"jobs/{spec.job_id}/checkpoints/step-{step}")
    if fake.get("kill_rank") == rank and step == 3 and not spec.resume_step:
        os.kill(os.getpid(), signal.SIGKILL)
distributed.barrier()
say(kind="succeeded", trained_tokens=10, model_key=f"models/{spec.job_id}")
distributed.close()
'''


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, child=FAKE_RANK, n_devices=3, kill_grace_s=2.0)
    await h.start()
    yield h
    await h.close()


async def _env(h: Harness, job_id: str) -> dict:
    return (await h.wait_for(lambda r: r.job_id == job_id and r.message == "env", timeout=60)).data or {}


async def test_a_two_device_task_runs_two_ranks_on_its_devices_and_reports_once(harness: Harness) -> None:
    await harness.submit("ftjob-two", devices=(0, 2), fake={})
    env = await _env(harness, "ftjob-two")
    assert env["world_size"] == 2 and len(set(env["pids"])) == 2 and env["cuda_visible_devices"] == ""
    assert sorted(harness.worker._busy) == [0, 2]  # the devices placement chose, held together
    done = await harness.wait_for(lambda r: r.job_id == "ftjob-two" and r.kind in ("succeeded", "failed"), 60)
    assert done.kind == "succeeded"
    steps = [r.step for r in harness.of("ftjob-two", "metrics")]
    assert steps == sorted(set(steps))  # one report per step: rank 1 printed none
    await until(lambda: harness.worker.running == {} and not any(alive(p) for p in env["pids"]))
    assert harness.worker._busy == {}


async def test_pause_stops_every_rank_at_the_same_step(harness: Harness) -> None:
    await harness.submit("ftjob-pause2", devices=(0, 1), fake={})
    env = await _env(harness, "ftjob-pause2")
    await harness.wait_for(lambda r: r.job_id == "ftjob-pause2" and r.kind == "metrics")
    await harness.bus.set_control("ftjob-pause2", "pause")
    paused = await harness.wait_for(lambda r: r.job_id == "ftjob-pause2" and r.kind == "paused", 30)
    assert paused.step is not None and paused.step < 8
    await until(lambda: not any(alive(p) for p in env["pids"]) and harness.worker.running == {})
    await harness.drain(0.3)
    assert harness.of("ftjob-pause2", "failed") == []


async def test_cancel_kills_every_rank(harness: Harness) -> None:
    await harness.submit("ftjob-cancel2", devices=(1, 2), fake={})
    env = await _env(harness, "ftjob-cancel2")
    await harness.wait_for(lambda r: r.job_id == "ftjob-cancel2" and r.kind == "metrics")
    started = time.monotonic()
    await harness.bus.set_control("ftjob-cancel2", "cancel")
    await until(lambda: not any(alive(p) for p in env["pids"]), timeout=10)
    assert time.monotonic() - started < 10
    await until(lambda: harness.worker.running == {})


async def test_a_rank_killed_mid_run_resumes_from_the_last_checkpoint_and_leaves_nothing(harness: Harness) -> None:
    await harness.submit("ftjob-kill", devices=(0, 1), fake={"kill_rank": 1})
    first = await _env(harness, "ftjob-kill")
    done = await harness.wait_for(lambda r: r.job_id == "ftjob-kill" and r.kind in ("succeeded", "failed"), 90)
    assert done.kind == "succeeded", done.message
    warn = [r.message or "" for r in harness.of("ftjob-kill", "event") if r.level == "warn"]
    assert len(warn) == 1 and "retrying from checkpoint step 2" in warn[0]
    second = [r.data or {} for r in harness.of("ftjob-kill", "event") if r.message == "env"][-1]
    assert second["resume_step"] == 2 and set(second["pids"]).isdisjoint(first["pids"])
    assert not any(alive(p) for p in first["pids"])
    await until(lambda: not any(alive(p) for p in second["pids"]) and harness.worker.running == {})


def test_torchrun_command_line() -> None:
    from gpu_worker.launch import command

    assert command(["py", "-m", "mod"], "k", 1) == ["py", "-m", "mod", "--spec-key", "k"]
    two = command(["py", "-m", "mod"], "k", 2)
    assert two[1:3] == ["-m", "torch.distributed.run"] and "--nproc-per-node=2" in two
    assert two[-4:] == ["-m", "mod", "--spec-key", "k"]  # every rank runs the child with the same spec
    assert command(["py", "child.py"], "k", 3)[-3:] == ["child.py", "--spec-key", "k"]
