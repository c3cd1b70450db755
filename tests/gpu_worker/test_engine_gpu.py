"""The engine on CUDA (skipped without a GPU): 4-bit load, varlen attention, SFT and DPO through
the child, checkpoint and resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from engine_harness import Harness, exact_match, load_trained
from engine_tasks import preference_rows, sentiment_rows

from core.catalog import open_tokenizer

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.fixture
def gpu_harness(tmp_path: Path, model_cache: Path) -> Harness:
    return Harness(tmp_path / "data", model_cache, device="cuda")


def _plan(**over: object):  # type: ignore[no-untyped-def]
    from gpu_worker.config import TrainPlan

    fields = dict(method="supervised", device="cuda", quantization="4bit", dtype="bfloat16", adapter_dtype="bfloat16",
                  lora_rank=16, lora_alpha=32, lora_dropout=0.0, batch_size=4, micro_batch_size=4, grad_accum=1,
                  n_epochs=1,
                  learning_rate=1e-3, beta=0.1, max_length=512, packing=True, gradient_checkpointing=True,
                  recompute="auto", memory_budget_bytes=None, checkpoint_every_steps=0, eval_every_steps=0,
                  n_examples=4, steps_per_epoch=1, total_steps=1, seed=0)
    fields.update(over)
    return TrainPlan(**fields)  # type: ignore[arg-type]


def test_4bit_load_and_varlen_attention(tiny_dir: Path) -> None:
    import bitsandbytes as bnb
    from transformers import AutoModelForCausalLM

    from gpu_worker import varlen_attention
    from gpu_worker.modeling import load_base

    model = load_base(tiny_dir, _plan())
    assert model.config._attn_implementation == varlen_attention.VARLEN_ATTENTION
    quantized = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(quantized) == 2 * 7 and quantized[0].weight.quant_state.quant_type == "nf4"
    assert quantized[0].weight.quant_state.nested  # double quantization
    # packed batch through the real kernel == each sequence alone through SDPA
    ref = AutoModelForCausalLM.from_pretrained(str(tiny_dir), dtype=torch.bfloat16, attn_implementation="sdpa",
                                               quantization_config=model.config.quantization_config,
                                               device_map={"": 0})
    seqs = [[5, 17, 300, 42, 9, 77, 8], [8, 1000, 3], [12, 13, 14, 15, 16]]
    ids = torch.tensor([sum(seqs, [])], device="cuda")
    pos = torch.tensor([[i for s in seqs for i in range(len(s))]], device="cuda")
    cu = torch.tensor([0, 7, 10, 15], dtype=torch.int32, device="cuda")
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=pos, cu_seq_lens_q=cu, cu_seq_lens_k=cu, max_length_q=7,
                       max_length_k=7).logits[0].float()
        alone = torch.cat([ref(input_ids=torch.tensor([s], device="cuda")).logits[0] for s in seqs]).float()
    assert torch.allclose(packed, alone, atol=5e-2, rtol=5e-2)


def test_qlora_sft_and_dpo_through_the_child(gpu_harness: Harness, tiny_dir: Path, tmp_path: Path) -> None:
    h = gpu_harness
    train = h.upload("file-train", sentiment_rows(150, seed=1))
    spec = h.spec("ftjob-gpusft01", training_file=train, n_examples=150, batch_size=3, n_epochs=3)
    run = h.run(spec)
    done = run.last("succeeded")
    plan = run.last("started").data["plan"]  # type: ignore[index]
    assert (plan["device"], plan["quantization"], plan["packing"]) == ("cuda", "4bit", True)
    model_dir = h.store.download_dir(done.model_key, tmp_path / "sft")  # type: ignore[arg-type]
    em, stopped, answers = exact_match(load_trained(tiny_dir, model_dir), open_tokenizer(model_dir),
                                       sentiment_rows(40, seed=1001))
    # bf16 compute and bf16 LoRA weights (QLoRA's recipe) learn the tiny model a little slower than
    # fp32 on the CPU, where the >= 90% bar of the CPU tests applies
    assert em >= 0.75 and stopped == 1.0, answers
    assert all(a in ('{"label": "positive"}', '{"label": "negative"}') for a in answers)

    pref = h.upload("file-pref", preference_rows(sentiment_rows(60, seed=3)))
    dpo = h.run(h.spec("ftjob-gpudpo01", method="dpo", training_file=pref, n_examples=60, batch_size=4,
                       n_epochs=1, multiplier=0.2, beta=0.1, parent=spec.fine_tuned_model))
    assert dpo.last("succeeded").total_steps == 15
    assert all(m.metrics["train_loss"] == m.metrics["train_loss"] for m in dpo.of("metrics"))  # no NaN


def test_checkpoint_and_resume_on_cuda(gpu_harness: Harness) -> None:
    """bf16 kernels on CUDA are not bit-deterministic, so the resumed curve is held to the
    run-to-run noise of two uninterrupted runs (exact on the CPU, see test_engine_resume)."""
    h = gpu_harness
    train = h.upload("file-train", sentiment_rows(40, seed=1))
    common = dict(training_file=train, n_examples=40, batch_size=4, n_epochs=2,
                  extensions={"checkpoint_every_steps": 4})

    def curve(run) -> dict[int, float]:  # type: ignore[no-untyped-def]
        return {r.step: r.metrics["train_loss"] for r in run.of("metrics")}

    ref1 = curve(h.run(h.spec("ftjob-gpufull1", **common)))
    ref2 = curve(h.run(h.spec("ftjob-gpufull2", **common)))
    spec = h.spec("ftjob-gpukill1", **common)
    run = h.start(spec)
    run.wait_for("checkpoint", step=12)
    run.proc.kill()
    run.finish()
    resumed = curve(h.run(spec.model_copy(update={"resume_step": 12, "attempt": 2})))
    assert sorted(resumed) == list(range(13, 21))
    noise = max(abs(ref1[s] - ref2[s]) for s in range(13, 21))
    for step, loss in resumed.items():
        assert abs(loss - ref1[step]) <= max(4 * noise, 1e-3 + 1e-2 * ref1[step]), (step, ref1, ref2, resumed)
