"""Selective recomputation: activation checkpointing on as few decoder layers as the memory
budget requires (the first layers keep their activations), instead of all of them, and with
non-reentrant checkpointing (docs/training.md, "Speed").
"""

from __future__ import annotations

from typing import Any

from core import memory
from gpu_worker.config import TrainPlan


def setup_recompute(model: Any, plan: TrainPlan, max_tokens: int) -> int:
    """Activation checkpointing for CUDA training: as few layers recompute as memory allows.

    ``max_tokens`` is the largest micro-batch (in tokens) the data can produce. The budget is
    ``plan.memory_budget_bytes`` or 90% of the device. Returns how many layers recompute
    (all of them with ``plan.recompute == "all"``; none on the CPU). The memory model is the
    scheduler's (:mod:`core.memory`), so what placement reserved is what the engine plans for.
    """
    if plan.device != "cuda" or not plan.gradient_checkpointing:
        return 0
    import torch

    if plan.recompute == "all":
        return enable_recompute(model, keep=0)
    total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    budget = min(int(total * 0.9), plan.memory_budget_bytes or total)
    shape = memory.ModelShape.from_config(model.config.to_dict())
    # loaded so far: the weights and the LoRA weights; to come: their gradients and Adam state
    adapter_state = shape.lora_params(plan.lora_rank) * memory.ADAPTER_BYTES_PER_PARAM
    used = torch.cuda.memory_allocated() + adapter_state
    keep = layers_to_keep(model, max_tokens, memory.allocated_limit(budget), used,
                          quantization=memory.quantization_for("cuda", plan.quantization))
    return enable_recompute(model, keep=keep)


def decoder_layers(model: Any) -> list[Any]:
    """The repeated decoder blocks (the modules activation checkpointing wraps)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    return [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]


def enable_recompute(model: Any, keep: int) -> int:
    """Activation checkpointing (non-reentrant) on all decoder layers but the first ``keep``.

    Returns the number of layers that recompute. Call after the adapter is attached, and
    train with ``TrainingArguments.gradient_checkpointing=False`` so the Trainer leaves it be.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    layers = decoder_layers(base)
    for layer in layers[: max(0, keep)]:
        layer.gradient_checkpointing = False
    return sum(1 for layer in layers if layer.gradient_checkpointing)


def layers_to_keep(model: Any, max_tokens: int, budget_bytes: int, used_bytes: int,
                   quantization: memory.Quantization = "16bit") -> int:
    """How many decoder layers can keep their activations for a micro-batch of ``max_tokens``
    when ``budget_bytes`` may be allocated and ``used_bytes`` are taken by everything else
    (:func:`core.memory.layers_that_fit` on the model's shape)."""
    shape = memory.ModelShape.from_config(model.config.to_dict())
    return memory.layers_that_fit(shape, quantization, max_tokens, budget_bytes - used_bytes)
