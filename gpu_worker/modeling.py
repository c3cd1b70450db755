"""Loading the base model (4-bit or not) and attaching the LoRA adapter to train.

The base weights are frozen and loaded from safetensors only (``trust_remote_code`` off). The
adapter is new (LoRA on all linear layers) or, when the job continues an ``ft:`` model, that
model's adapter loaded trainable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.model_loading import load_base_model
from gpu_worker.config import TrainPlan, lora_config


def attention_implementation(plan: TrainPlan) -> str:
    """Varlen attention over padding-free micro-batches on CUDA when available, SDPA otherwise."""
    if plan.device == "cuda" and plan.packing:
        from gpu_worker import varlen_attention

        if varlen_attention.register_varlen_attention():
            return varlen_attention.VARLEN_ATTENTION
    return "sdpa"


def load_base(model_dir: Path, plan: TrainPlan) -> Any:
    """The frozen base model on the plan's device, quantized when the plan says 4-bit."""
    model = load_base_model(model_dir, plan.device, plan.quantization, dtype=plan.dtype,
                            attn_implementation=attention_implementation(plan),
                            shardable=plan.parallelism == "fsdp")
    model.config.use_cache = False
    for param in model.parameters():
        param.requires_grad_(False)
    if plan.quantization == "4bit" and plan.device == "cpu":
        _disable_cpu_inference_repack(model)
    return model


def _disable_cpu_inference_repack(model: Any) -> None:
    """bitsandbytes repacks 4-bit weights for AVX512-BF16 inference on the first eval-mode
    forward; training the repacked model afterwards silently goes through a kernel without
    autograd. Validation and sampling run eval-mode forwards between training steps, so the
    repack is switched off for every 4-bit layer."""
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False


def attach_adapter(model: Any, plan: TrainPlan, parent_dir: Path | None = None) -> Any:
    """The PEFT model to train: a new LoRA adapter, or the parent ``ft:`` model's, trainable.

    On the CPU a 4-bit model goes through PEFT's ``prepare_model_for_kbit_training``; on CUDA
    the base stays in bf16 (no float32 copies of norms and embeddings) and activation
    checkpointing is set up by :func:`gpu_worker.recompute.setup_recompute`.
    """
    from peft import PeftModel, get_peft_model, prepare_model_for_kbit_training
    from transformers import set_seed

    if plan.quantization == "4bit" and plan.device == "cpu":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    set_seed(plan.seed)  # the LoRA A matrices are drawn here
    if parent_dir is not None:
        return PeftModel.from_pretrained(model, str(parent_dir), is_trainable=True)
    return get_peft_model(model, lora_config(plan))


def cast_trainable(model: Any, dtype: str) -> None:
    """Put the trainable (LoRA) weights in ``dtype`` (``TrainPlan.adapter_dtype``).

    TRL casts them to bf16 under 4-bit and PEFT creates them in fp32; the plan decides.
    """
    import torch

    want = getattr(torch, dtype)
    for param in model.parameters():
        if param.requires_grad and param.dtype != want:
            param.data = param.data.to(want)
