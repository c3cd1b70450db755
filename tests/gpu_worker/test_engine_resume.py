"""Checkpoints: kill-and-resume reproduces the uninterrupted run; SIGUSR1 pauses at a checkpoint."""

from __future__ import annotations

import json
import signal

import pytest
import torch
from engine_harness import ChildRun, Harness
from engine_tasks import sentiment_rows

from core.protocol import checkpoint_prefix
from gpu_worker import checkpoints

pytestmark = pytest.mark.slow

EXT = {"checkpoint_every_steps": 4, "lora_dropout": 0.1}  # dropout: the RNG state must be restored too


def _curve(run) -> dict[int, float]:  # type: ignore[no-untyped-def]
    return {r.step: r.metrics["train_loss"] for r in run.of("metrics")}


def _kill_and_resume(harness: Harness, ext: dict[str, object], name: str) -> ChildRun:
    """Kill a run right after its step-12 checkpoint, resume it: the joined curve is the
    uninterrupted run's."""
    train = harness.upload("file-train", sentiment_rows(40, 1))
    common = dict(training_file=train, n_examples=40, batch_size=4, n_epochs=2, extensions=ext)
    full = harness.run(harness.spec(f"ftjob-full{name}", **common))
    assert full.last("succeeded").total_steps == 20
    reference = _curve(full)

    spec = harness.spec(f"ftjob-kill{name}", **common)
    run = harness.start(spec)
    ckpt = run.wait_for("checkpoint", step=12)  # mid-epoch (10 steps per epoch)
    run.proc.kill()
    run.finish()
    assert not run.of("succeeded")
    assert harness.store.has_dir(ckpt.key)
    resumed = harness.run(spec.model_copy(update={"resume_step": 12, "attempt": 2}))
    curve = {**_curve(run), **_curve(resumed)}
    assert min(_curve(resumed)) == 13
    assert sorted(curve) == list(range(1, 21))
    for step in range(1, 21):
        assert curve[step] == pytest.approx(reference[step], rel=1e-4, abs=1e-5), step
    # the results file of the resumed attempt covers the whole run
    csv = harness.store.read_bytes(f"jobs/ftjob-kill{name}/results.csv").decode().splitlines()
    assert csv[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    assert [int(line.split(",")[0]) for line in csv[1:]] == list(range(1, 21))
    return full


def test_kill_and_resume_matches_uninterrupted(harness: Harness) -> None:
    _kill_and_resume(harness, EXT, "0001")


def test_kill_and_resume_with_bf16_adapter_weights(harness: Harness) -> None:
    """QLoRA's recipe on CUDA trains bf16 LoRA weights over a 4-bit base; the same on the CPU
    (deterministic there) shows the resumed run computes exactly as the one it continues."""
    from safetensors.torch import load

    full = _kill_and_resume(harness, {**EXT, "quantization": "4bit", "adapter_dtype": "bfloat16"}, "0002")
    assert (full.last("started").data or {})["plan"]["adapter_dtype"] == "bfloat16"
    key = f"{full.last('succeeded').model_key}/adapter_model.safetensors"
    assert {t.dtype for t in load(harness.store.read_bytes(key)).values()} == {torch.bfloat16}


def test_sigusr1_pauses_with_a_checkpoint(harness: Harness) -> None:
    train = harness.upload("file-train", sentiment_rows(40, 1))
    spec = harness.spec("ftjob-pause001", training_file=train, n_examples=40, batch_size=4, n_epochs=3,
                        extensions={"checkpoint_every_steps": 0})
    run = harness.start(spec)
    run.wait_for("metrics", step=3)
    run.proc.send_signal(signal.SIGUSR1)
    assert run.finish() == 0
    paused = run.last("paused")
    step = paused.step
    assert step is not None and 3 <= step < 30
    ckpt = run.last("checkpoint")
    assert ckpt.step == step and ckpt.key == checkpoint_prefix(spec.job_id, step)
    meta = json.loads(harness.store.read_bytes(f"{ckpt.key}/{checkpoints.META}"))
    assert meta["step"] == step and len(meta["history"]) == step
    state = ("optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json", "adapter/adapter_model.safetensors")
    for name in state:
        assert harness.store.exists(f"{ckpt.key}/{name}"), name
    assert harness.store.has_dir(ckpt.adapter_key)
    assert not run.of("succeeded") and not harness.store.list("models/")
    # resuming from the pause finishes the job
    done = harness.run(spec.model_copy(update={"resume_step": step, "attempt": 2}))
    assert done.last("succeeded").total_steps == 30
    assert min(r.step for r in done.of("metrics")) == step + 1
