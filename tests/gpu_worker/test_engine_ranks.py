"""Training on two CPU devices (torchrun, gloo) against one process with the same global batch.

The acceptance run of docs/multi-device.md: the two-process job learns the task as well as the
one-process job (held-out exact match within 5 points), its loss curve follows the one-process
curve, a pause stops both ranks at one checkpoint, and that checkpoint resumes on one device to
the end, with an adapter of the one-device format.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psutil
import pytest
from engine_harness import ChildRun, Harness, exact_match, load_trained
from engine_tasks import sentiment_rows
from safetensors.torch import load_file

from core.catalog import open_tokenizer
from core.protocol import JobSpec

pytestmark = pytest.mark.slow

N_TRAIN, BATCH, EPOCHS = 48, 4, 3  # 36 steps
STEPS = N_TRAIN // BATCH * EPOCHS
HELD_OUT = sentiment_rows(20, seed=1001)
# no dropout: with it every rank draws its own masks and the curves differ by design
EXT = {"lora_dropout": 0.0, "checkpoint_every_steps": 0}
# Step 1 sees the same examples with the same initial weights in both runs: only the order of the
# float sums differs (gloo averages two half-batch gradients, padding per micro-batch differs), so
# it matches to 1e-4. Each later step inherits that rounding through Adam, whose per-coordinate
# normalisation magnifies differences where gradients are near zero; over 36 steps this stayed
# within 0.06% of the loss (measured), so 1% (plus 0.005 where the loss nears zero and relative
# error means nothing) leaves room for other CPUs' float kernels, while a wrong global batch, a
# skipped or repeated batch or a lost resume moves a step's loss by 10-50%.
REL_TOLERANCE, ABS_TOLERANCE = 0.01, 0.005


def _curve(*runs: ChildRun) -> dict[int, float]:
    return {r.step: r.metrics["train_loss"] for run in runs for r in run.of("metrics") if r.step is not None}


def _em(harness: Harness, tiny_dir: Path, tmp_path: Path, model_key: str, name: str) -> tuple[float, set[str]]:
    model_dir = harness.store.download_dir(model_key, tmp_path / name)
    em, _, _ = exact_match(load_trained(tiny_dir, model_dir), open_tokenizer(model_dir), HELD_OUT)
    tensors = load_file(str(model_dir / "adapter_model.safetensors"))
    return em, {f"{k}:{tuple(t.shape)}:{t.dtype}" for k, t in tensors.items()} | {p.name for p in model_dir.iterdir()}


def _ranks(run: ChildRun, n: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 60
    while len(ranks := psutil.Process(run.proc.pid).children()) < n:
        assert time.monotonic() < deadline, "torchrun did not start its ranks"
        time.sleep(0.1)
    return ranks


def test_two_processes_train_like_one_then_pause_and_finish_on_one_device(
        harness: Harness, tiny_dir: Path, tmp_path: Path) -> None:
    train = harness.upload("file-train", sentiment_rows(N_TRAIN, seed=1))
    common = dict(training_file=train, n_examples=N_TRAIN, batch_size=BATCH, n_epochs=EPOCHS, extensions=EXT,
                  multiplier=2.0)
    single = harness.run(harness.spec("ftjob-one00001", **common))
    reference = _curve(single)
    assert sorted(reference) == list(range(1, STEPS + 1))

    spec: JobSpec = harness.spec("ftjob-two00001", **common).model_copy(
        update={"devices": [0, 1], "parallelism": "data_parallel"})
    run = harness.start(spec)
    ranks = _ranks(run, 2)
    run.wait_for("metrics", timeout=600, step=10)
    for rank in ranks:
        rank.send_signal(signal.SIGUSR1)
    assert run.finish() == 0
    event = run.of("event")[0]
    assert event.message == "Training tiny-chat (supervised) on 2 × cpu with data-parallel"
    paused = run.last("paused")
    step = paused.step
    assert step is not None and 10 <= step < STEPS
    assert [r.step for r in run.of("metrics")] == list(range(1, step + 1))  # rank 0 alone reports
    ckpt = run.last("checkpoint")
    assert ckpt.step == step and ckpt.key is not None
    for name in ("rng_state.pth", "rng_state_0.pth", "rng_state_1.pth", "optimizer.pt",
                 "adapter/adapter_model.safetensors"):
        assert harness.store.exists(f"{ckpt.key}/{name}"), name
    psutil.wait_procs(ranks, timeout=10)
    assert not any(r.is_running() and r.status() != psutil.STATUS_ZOMBIE for r in ranks)

    one_device = spec.model_copy(update={"devices": [], "parallelism": "single", "resume_step": step, "attempt": 2})
    resumed = harness.run(one_device)
    assert min(r.step for r in resumed.of("metrics")) == step + 1
    curve = _curve(run, resumed)
    assert sorted(curve) == list(range(1, STEPS + 1))
    assert curve[1] == pytest.approx(reference[1], rel=1e-4)
    off = {s: (round(curve[s], 4), round(reference[s], 4)) for s in curve
           if abs(curve[s] - reference[s]) > REL_TOLERANCE * reference[s] + ABS_TOLERANCE}
    assert not off, off
    worst = max(abs(curve[s] - reference[s]) / reference[s] for s in curve)

    em_one, files_one = _em(harness, tiny_dir, tmp_path, single.last("succeeded").model_key or "", "one")
    em_two, files_two = _em(harness, tiny_dir, tmp_path, resumed.last("succeeded").model_key or "", "two")
    print(f"worst relative loss difference {worst:.4f}; held-out exact match one process {em_one:.2f}, "
          f"two then one {em_two:.2f}")
    # the base answers none (0.0): the task was learned (0.55 on the first pretrained base, 0.45 on
    # the varied-frames one; what this test holds is that two processes match one)
    assert em_one >= 0.35, (em_one, em_two)
    assert abs(em_two - em_one) <= 0.05, (em_one, em_two)
    assert files_two == files_one  # same adapter files, tensor names, shapes and dtypes


def test_dpo_runs_the_same_under_two_processes(harness: Harness) -> None:
    """The preference trainer goes through the same launch: the same losses as one process."""
    from engine_tasks import preference_rows

    train = harness.upload("file-pref", preference_rows(sentiment_rows(8, seed=1)))
    common = dict(training_file=train, n_examples=8, batch_size=4, n_epochs=1, method="dpo", beta=0.1,
                  extensions=EXT)
    one = harness.run(harness.spec("ftjob-dpo00001", **common))
    two = harness.run(harness.spec("ftjob-dpo00002", **common).model_copy(
        update={"devices": [0, 1], "parallelism": "data_parallel"}))
    assert two.of("event")[0].message == "Training tiny-chat (dpo) on 2 × cpu with data-parallel"
    curve_one, curve_two = _curve(one), _curve(two)
    assert sorted(curve_two) == [1, 2]
    for step, loss in curve_one.items():
        assert curve_two[step] == pytest.approx(loss, rel=REL_TOLERANCE, abs=ABS_TOLERANCE)
    assert two.last("succeeded").model_key
