"""The memory estimate against the figures measured in shared/reference/gpu-baseline.md."""

from __future__ import annotations

from pathlib import Path

import model_shapes
import pytest

from core.catalog import get_catalog
from core.memory import (
    GiB,
    ModelShape,
    activation_bytes_per_token,
    estimate_for_job,
    estimate_job_memory,
    layers_that_fit,
    micro_batch_size,
    quantization_for,
    shape_of,
)
from core.protocol import Hyperparameters
from core.settings import Settings

LLAMA_8B = ModelShape.from_config(model_shapes.LLAMA_8B)
LLAMA_1B = ModelShape.from_config(model_shapes.LLAMA_1B)


def test_shapes_count_the_real_parameters() -> None:
    assert LLAMA_8B.total_params == 8_030_261_248  # Llama-3.1-8B
    assert LLAMA_8B.kv_dim == 1024
    assert LLAMA_8B.lora_params(16) == 41_943_040  # PEFT's count for r=16 on all seven projections
    tied = ModelShape(hidden=2048, layers=16, vocab=128256, intermediate=8192, kv_dim=512,
                      tied_embeddings=True)
    assert tied.total_params == 1_235_814_400  # Llama-3.2-1B ties its embeddings


# (label, shape, quantization, micro-batch, gradient checkpointing, measured peak allocated GiB)
BASELINE = [
    ("8B A: QLoRA padded", LLAMA_8B, "4bit", 4, True, 10.3),
    ("8B B: QLoRA packed", LLAMA_8B, "4bit", 4, True, 10.5),
    ("8B H: QLoRA micro-batch 8", LLAMA_8B, "4bit", 8, True, 15.6),
    ("8B D: bf16 LoRA", LLAMA_8B, "16bit", 4, True, 20.8),
    ("8B F: no gradient checkpointing", LLAMA_8B, "4bit", 4, False, 75.8),
    ("1B A: QLoRA padded", LLAMA_1B, "4bit", 4, True, 3.5),
    ("1B B: QLoRA packed", LLAMA_1B, "4bit", 4, True, 3.7),
]


@pytest.mark.parametrize(("label", "shape", "quant", "micro", "ckpt", "measured"), BASELINE,
                         ids=[b[0] for b in BASELINE])
def test_estimate_tracks_the_baseline_peaks(label: str, shape: ModelShape, quant: str, micro: int,
                                            ckpt: bool, measured: float) -> None:
    est = estimate_job_memory(shape, quantization=quant, lora_rank=16, micro_batch=micro,  # type: ignore[arg-type]
                              seq_len=2048, gradient_checkpointing=ckpt)
    ratio = est.allocated / (measured * GiB)
    assert 1.0 <= ratio <= 1.25, f"{label}: estimated {est.allocated / GiB:.2f} GiB vs {measured}"
    # what placement reserves covers the peak plus a CUDA context
    assert est.total >= measured * GiB + 768 * 1024**2


QWEN_05B = ModelShape.from_config(model_shapes.QWEN_05B)
LLAMA_1B_TIED = ModelShape.from_config(model_shapes.LLAMA_1B_TIED)
# Measured on one H100 with measure_gpu_memory.py (torch 2.11, transformers 5.17, peft 0.21,
# trl 1.16, bitsandbytes 0.50.2), 2026-11-23: (label, shape, quantization, micro-batch,
# length, DPO, peak allocated bytes, device memory in use at the end in bytes)
H100_RUNS = [
    ("Qwen2.5-0.5B QLoRA SFT len 4096", QWEN_05B, "4bit", 4, 4096, False, 3_621_937_664, 5_029_822_464),
    ("Llama-1B QLoRA SFT len 4096", LLAMA_1B_TIED, "4bit", 4, 4096, False, 6_005_992_960, 7_066_157_056),
    ("Llama-1B bf16 LoRA SFT len 4096", LLAMA_1B_TIED, "16bit", 4, 4096, False, 8_592_648_704, 9_568_059_392),
    ("Llama-1B QLoRA DPO mb2 len 2048", LLAMA_1B_TIED, "4bit", 2, 2048, True, 2_827_249_664, 4_134_338_560),
]


@pytest.mark.parametrize(("label", "shape", "quant", "micro", "seq_len", "dpo", "allocated", "in_use"),
                         H100_RUNS, ids=[r[0] for r in H100_RUNS])
def test_estimate_covers_the_engine_runs(label: str, shape: ModelShape, quant: str, micro: int, seq_len: int,
                                         dpo: bool, allocated: int, in_use: int) -> None:
    est = estimate_job_memory(shape, quantization=quant, micro_batch=micro,  # type: ignore[arg-type]
                              seq_len=seq_len, preference=dpo)
    assert 1.0 <= est.allocated / allocated <= 1.4, f"{label}: {est.allocated / GiB:.2f} GiB"
    assert 1.0 <= est.total / in_use <= 1.3, f"{label}: total {est.total / GiB:.2f} GiB vs {in_use / GiB:.2f}"


def test_terms_of_the_8b_qlora_estimate() -> None:
    est = estimate_job_memory(LLAMA_8B, quantization="4bit", micro_batch=4, seq_len=2048)
    assert 5.0 * GiB < est.weights < 5.6 * GiB  # NF4 decoder + bf16 embeddings and head
    assert 0.6 * GiB < est.adapter < 0.65 * GiB  # 42M LoRA params x 16 bytes
    assert est.describe().startswith("weights 5.3 GiB, adapter 0.6 GiB, activations 5.6 GiB")
    assert est.to_dict()["total"] == est.total


def test_estimate_grows_with_what_costs_memory() -> None:
    def total(**kw: object) -> int:
        args: dict[str, object] = {"quantization": "4bit", "micro_batch": 4, "seq_len": 2048, **kw}
        return estimate_job_memory(LLAMA_1B, **args).total  # type: ignore[arg-type]

    assert total(quantization="4bit") < total(quantization="16bit") < total(quantization="32bit")
    assert total(micro_batch=2) < total(micro_batch=4) < total(micro_batch=8)
    assert total(seq_len=1024) < total(seq_len=4096)
    assert total(lora_rank=8) < total(lora_rank=64)
    assert total(preference=True) > total()
    assert total(gradient_checkpointing=False) > total()
    with pytest.raises(ValueError, match="unknown quantization"):
        total(quantization="8bit")


def test_dpo_doubles_the_activations() -> None:
    sft = estimate_job_memory(LLAMA_1B, quantization="4bit", micro_batch=4, seq_len=1024)
    dpo = estimate_job_memory(LLAMA_1B, quantization="4bit", micro_batch=4, seq_len=1024, preference=True)
    assert dpo.activations == 2 * sft.activations
    assert dpo.weights == sft.weights


def test_device_rules() -> None:
    assert quantization_for("cuda", "auto") == "4bit"
    assert quantization_for("cuda", "none") == "16bit"
    assert quantization_for("cpu", "auto") == "32bit"
    assert quantization_for("cpu", "4bit") == "4bit"
    hp = Hyperparameters(n_epochs=1, batch_size=2, learning_rate_multiplier=1, learning_rate=1e-4)
    assert micro_batch_size(hp) == 2
    big = hp.model_copy(update={"batch_size": 64})
    assert micro_batch_size(big) == 4
    assert micro_batch_size(big, kind="cpu") == 16
    assert micro_batch_size(big, {"micro_batch_size": 8}, "cpu") == 8


def _hp(batch: int = 16, beta: float | None = None) -> Hyperparameters:
    return Hyperparameters(n_epochs=3, batch_size=batch, learning_rate_multiplier=1.0, learning_rate=2e-4,
                           beta=beta)


def test_requirements_of_catalog_models(tmp_path: Path) -> None:
    catalog = get_catalog(Settings(data_dir=tmp_path))
    tiny = estimate_for_job(catalog.require("tiny-chat"), _hp())
    assert tiny["memory"]["cuda"] < 1 * GiB and tiny["memory"]["cpu"] < 2 * GiB
    assert tiny["micro_batch_size"] == {"cuda": 4, "cpu": 16}
    assert tiny["seq_len"] == 1024 and tiny["lora_rank"] == 16
    assert tiny["detail"]["cpu"]["quantization"] == "32bit"

    llama = catalog.require("meta-llama/Llama-3.1-8B-Instruct")
    req = estimate_for_job(llama, _hp())
    assert req["detail"]["cuda"]["quantization"] == "4bit"
    assert 10 * GiB < req["memory"]["cuda"] < 24 * GiB  # length 4096: more than the 2048 baseline
    assert req["memory"]["cpu"] > 64 * GiB  # fp32 weights alone are 32 GB
    bf16 = estimate_for_job(llama, _hp(), {"quantization": "none"})
    assert bf16["memory"]["cuda"] > req["memory"]["cuda"] + 8 * GiB
    dpo = estimate_for_job(llama, _hp(beta=0.1))
    assert dpo["memory"]["cuda"] > req["memory"]["cuda"]
    small = estimate_for_job(llama, _hp(), {"micro_batch_size": 1, "lora_rank": 8})
    assert small["memory"]["cuda"] < req["memory"]["cuda"] and small["lora_rank"] == 8


def test_entries_without_a_shape() -> None:
    class Bare:
        name = "bare"
        max_length = 2048
        quantization = "auto"
        n_params = None
        hidden_size = None
        num_layers = None

    assert shape_of(Bare()) is None
    assert estimate_for_job(Bare(), _hp())["memory"] is None

    class OnlyCount(Bare):
        n_params = 8_000_000_000

    guess = shape_of(OnlyCount())
    assert guess is not None and guess.total_params == 8_000_000_000
    assert 28 <= guess.layers <= 40 and 3500 <= guess.hidden <= 5000
    est = estimate_for_job(OnlyCount(), _hp())["memory"]["cuda"]
    assert est > estimate_job_memory(LLAMA_8B, quantization="4bit", seq_len=2048).total * 0.9


@pytest.mark.parametrize("quantization", ["4bit", "16bit", "32bit"])
def test_the_engines_recompute_choice_uses_the_estimates_activation_terms(quantization: str) -> None:
    """One memory model: the activations placement reserves are what the engine plans to keep."""
    tokens = 4 * 2048
    kept_all = estimate_job_memory(LLAMA_1B, quantization=quantization, micro_batch=4,  # type: ignore[arg-type]
                                   gradient_checkpointing=False).activations
    recompute_all = estimate_job_memory(LLAMA_1B, quantization=quantization, micro_batch=4,  # type: ignore[arg-type]
                                        gradient_checkpointing=True).activations
    assert layers_that_fit(LLAMA_1B, quantization, tokens, kept_all) == LLAMA_1B.layers  # type: ignore[arg-type]
    assert layers_that_fit(LLAMA_1B, quantization, tokens, recompute_all) == 0  # type: ignore[arg-type]
    halfway = activation_bytes_per_token(LLAMA_1B, quantization, kept_layers=8) * tokens  # type: ignore[arg-type]
    assert layers_that_fit(LLAMA_1B, quantization, tokens, halfway) == 8  # type: ignore[arg-type]
    assert recompute_all < halfway < kept_all


def test_the_engine_and_placement_share_the_default_micro_batch(tiny_settings: Settings) -> None:
    from core.protocol import BaseModelSpec, JobSpec
    from gpu_worker.config import resolve_plan

    hp = Hyperparameters(n_epochs=1, batch_size=32, learning_rate_multiplier=1.0, learning_rate=1e-4)
    spec = JobSpec(job_id="ftjob-x", project_id="p", method="supervised", training_file="file-x",
                   base_model=BaseModelSpec(name="tiny-chat", source="tiny-chat"), hyperparameters=hp, seed=1,
                   fine_tuned_model="ft:x", n_train_examples=64, total_steps=2)
    for kind in ("cuda", "cpu"):
        assert resolve_plan(spec, kind, tiny_settings, 64).micro_batch_size == micro_batch_size(hp, kind=kind)
