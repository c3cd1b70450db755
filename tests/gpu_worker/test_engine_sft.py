"""SFT on tiny-chat through the real child: the model learns the task with "auto" hyperparameters."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from engine_harness import Harness, exact_match, load_trained
from engine_tasks import sentiment_rows
from safetensors.torch import load_file

from core.catalog import open_tokenizer
from core.protocol import Report
from scheduler.hyperparams import auto_batch_size, auto_n_epochs

pytestmark = pytest.mark.slow

N_TRAIN = 150
HELD_OUT = sentiment_rows(30, seed=1001)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _train(harness: Harness, job_id: str, extensions: dict[str, object]) -> Report:
    train = harness.upload("file-train", sentiment_rows(N_TRAIN, seed=1))
    policy = harness.catalog.require("tiny-chat").auto  # what "auto" resolves to for tiny-chat
    batch_size, n_epochs = auto_batch_size(N_TRAIN, policy), auto_n_epochs(N_TRAIN, policy)
    spec = harness.spec(job_id, training_file=train, n_examples=N_TRAIN, batch_size=batch_size,
                        n_epochs=n_epochs, extensions=extensions)
    run = harness.run(spec)
    done = run.last("succeeded")
    steps = spec.total_steps
    assert [r.step for r in run.of("metrics")] == list(range(1, steps + 1))
    epoch_ends = [r.step for r in run.of("checkpoint") if r.epoch_end]
    assert epoch_ends == [steps // n_epochs * k for k in range(1, n_epochs + 1)]
    # recovery checkpoints were pruned: the last three epoch ends remain
    kept = sorted({k.split("/")[3] for k in harness.store.list(f"jobs/{job_id}/checkpoints/")})
    assert kept == sorted(f"step-{s}" for s in epoch_ends[-3:])
    return done


@pytest.mark.parametrize("quantization", ["none", "4bit"])
def test_sft_learns_the_task_with_auto_hyperparameters(harness: Harness, tiny_dir: Path, tmp_path: Path,
                                                       quantization: str) -> None:
    tokenizer = open_tokenizer(tiny_dir)
    base = load_trained(tiny_dir, None)
    base_em, _, _ = exact_match(base, tokenizer, HELD_OUT[:10])
    assert base_em <= 0.5  # the pretrained base may know some of it, not the task
    base_sha = _sha(tiny_dir / "model.safetensors")

    done = _train(harness, f"ftjob-sft-{quantization}", {"quantization": quantization})
    assert done.model_key
    model_dir = harness.store.download_dir(done.model_key, tmp_path / "model")
    trained = load_trained(tiny_dir, model_dir)
    em, stopped, answers = exact_match(trained, open_tokenizer(model_dir), HELD_OUT)
    assert em >= 0.90, answers
    assert stopped == 1.0  # every answer ends with <|im_end|>
    assert all(s["stopped"] and s["answer"].startswith('{"label": ') for s in done.samples or [])

    # base weights unchanged, adapter weights moved away from their initialisation (B starts at 0)
    assert _sha(tiny_dir / "model.safetensors") == base_sha
    adapter = load_file(str(model_dir / "adapter_model.safetensors"))
    b_norms = [float(t.abs().sum()) for k, t in adapter.items() if "lora_B" in k]
    assert len(b_norms) == 2 * 7 and min(b_norms) > 0
    assert not any("base_layer" in k or "embed" in k for k in adapter)

    lineage = json.loads((model_dir / "lineage.json").read_text())
    assert lineage["plan"]["quantization"] == quantization
    assert lineage["data"]["training_file"]["sha256"] == hashlib.sha256(
        harness.store.read_bytes("files/file-train")).hexdigest()
    assert lineage["versions"]["transformers"] and lineage["base_model"]["name"] == "tiny-chat"
    assert (model_dir / "chat_template.jinja").is_file() and (model_dir / "tokenizer.json").is_file()
    assert done.trained_tokens and done.trained_tokens > 0
