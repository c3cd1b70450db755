"""Hyperparameters + extension fields -> the resolved plan and the TRL/PEFT/bitsandbytes configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.catalog import get_catalog
from core.model_loading import nf4_config
from core.protocol import Hyperparameters, JobSpec
from core.settings import Settings
from gpu_worker import config


def _spec(tmp_path: Path, batch_size: int = 8, n_epochs: int = 3, **ext: object) -> JobSpec:
    base = get_catalog(Settings(data_dir=tmp_path)).require("tiny-chat").spec()
    return JobSpec(job_id="ftjob-c", project_id="p", method="supervised", base_model=base,
                   training_file="file-t", hyperparameters=Hyperparameters(
                       n_epochs=n_epochs, batch_size=batch_size, learning_rate_multiplier=2.0, learning_rate=1e-2),
                   seed=3, fine_tuned_model="ft:x", extensions=dict(ext), n_train_examples=100, total_steps=39)


def test_plan_counts_steps_like_openai(tmp_path: Path) -> None:
    plan = config.resolve_plan(_spec(tmp_path), "cpu", Settings(data_dir=tmp_path), n_examples=100)
    assert (plan.steps_per_epoch, plan.total_steps) == (13, 39)
    assert plan.is_epoch_end(13) and plan.is_epoch_end(39) and not plan.is_epoch_end(14)
    assert (plan.quantization, plan.dtype, plan.adapter_dtype) == ("none", "float32", "float32")
    assert not plan.packing and not plan.gradient_checkpointing
    assert plan.learning_rate == 1e-2 and plan.checkpoint_every_steps == 10 and plan.eval_every_steps == 0


def test_plan_on_cuda_defaults_to_qlora_and_micro_batches(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    plan = config.resolve_plan(_spec(tmp_path, batch_size=12), "cuda", settings, 100, has_validation=True)
    assert (plan.quantization, plan.dtype, plan.adapter_dtype) == ("4bit", "bfloat16", "bfloat16")
    assert plan.packing and plan.gradient_checkpointing
    assert (plan.micro_batch_size, plan.grad_accum) == (4, 3)
    assert plan.eval_every_steps == 3  # ~10 validation runs over 27 steps
    plan = config.resolve_plan(_spec(tmp_path, batch_size=12, quantization="none", micro_batch_size=5,
                                     lora_rank=8, packing=False), "cuda", settings, 100)
    assert (plan.quantization, plan.micro_batch_size, plan.grad_accum, plan.lora_rank, plan.packing) == (
        "none", 4, 3, 8, False)
    assert plan.adapter_dtype == "float32"  # PEFT's fp32 adapter over a bf16 base
    qlora_cpu = config.resolve_plan(_spec(tmp_path, quantization="4bit"), "cpu", settings, 100)
    assert (qlora_cpu.quantization, qlora_cpu.adapter_dtype) == ("4bit", "float32")
    forced = config.resolve_plan(_spec(tmp_path, quantization="4bit", adapter_dtype="bfloat16"), "cpu", settings, 100)
    assert forced.adapter_dtype == "bfloat16"
    assert config.resolve_plan(_spec(tmp_path, batch_size=64), "cpu", settings, 10).batch_size == 10


def test_bad_extension_fields_are_refused(tmp_path: Path) -> None:
    for bad in ({"lora_rank": 0}, {"quantization": "8bit"}, {"adapter_dtype": "float16"}, {"no_such_field": 1}):
        with pytest.raises(config.ConfigError):
            config.resolve_plan(_spec(tmp_path, **bad), "cpu", Settings(data_dir=tmp_path), 100)


def test_library_configs(tmp_path: Path) -> None:
    import torch

    settings = Settings(data_dir=tmp_path)
    gpu = config.resolve_plan(_spec(tmp_path), "cuda", settings, 100)
    assert gpu.quantization == "4bit" and gpu.dtype == "bfloat16"
    bnb = nf4_config(gpu.dtype)
    assert bnb.load_in_4bit and bnb.bnb_4bit_quant_type == "nf4" and bnb.bnb_4bit_use_double_quant
    assert bnb.bnb_4bit_compute_dtype == torch.bfloat16
    lora = config.lora_config(gpu)
    assert (lora.r, lora.lora_alpha, lora.target_modules) == (16, 32, "all-linear")
    kw = config.trainer_kwargs(gpu, tmp_path)  # SFTConfig(bf16=True) itself needs a GPU
    assert kw["bf16"] and not kw["gradient_checkpointing"] and kw["optim"] == "adamw_torch_fused"
    assert gpu.gradient_checkpointing and gpu.recompute == "auto"  # layers picked by setup_recompute
    cpu = config.resolve_plan(_spec(tmp_path), "cpu", settings, 100)
    assert cpu.quantization == "none" and cpu.dtype == "float32"
    cpu_sft = config.sft_config(cpu, tmp_path)
    assert not cpu_sft.bf16 and not cpu_sft.gradient_checkpointing and not cpu_sft.padding_free
    assert cpu_sft.max_length is None and not cpu_sft.packing  # gpu_worker.data truncates
    assert cpu_sft.save_strategy == "no" and cpu_sft.logging_steps == 1
    dpo = config.dpo_config(cpu, tmp_path)
    assert dpo.beta == 0.1 and dpo.loss_type == ["sigmoid", "sft"] and not dpo.bf16



@pytest.mark.parametrize("devices", [1, 2, 4])
def test_grpo_step_sees_batch_size_prompts_over_all_ranks(tmp_path: Path, devices: int) -> None:
    from dataclasses import replace

    from gpu_worker.grpo import prompts_per_pass

    plan = replace(config.resolve_plan(_spec(tmp_path, batch_size=8), "cpu", Settings(data_dir=tmp_path), 100),
                   method="reinforcement", micro_batch_size=8, devices=devices)
    micro, accumulation = prompts_per_pass(plan, n_generations=4)
    assert micro * accumulation * devices == plan.batch_size
