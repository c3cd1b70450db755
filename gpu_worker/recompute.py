"""Selective recomputation: activation checkpointing on as few decoder layers as the memory
budget requires (the first layers keep their activations), instead of all of them, and with
non-reentrant checkpointing (docs/training.md, "Speed").
"""

from __future__ import annotations

import math
from typing import Any

from gpu_worker.config import TrainPlan


def setup_recompute(model: Any, plan: TrainPlan, max_tokens: int) -> int:
    """Activation checkpointing for CUDA training: as few layers recompute as memory allows.

    ``max_tokens`` is the largest micro-batch (in tokens) the data can produce. The budget is
    ``plan.memory_budget_bytes`` or 90% of the device. Returns how many layers recompute
    (all of them with ``plan.recompute == "all"``; none on the CPU).
    """
    if plan.device != "cuda" or not plan.gradient_checkpointing:
        return 0
    import torch

    n_layers = len(decoder_layers(model))
    if plan.recompute == "all":
        return enable_recompute(model, keep=0)
    total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    budget = min(int(total * 0.9), plan.memory_budget_bytes or total)
    config = model.config
    # besides the weights: one recomputed layer, LoRA weights/grads/Adam state, logits tiles,
    # allocator slack
    one_layer = max_tokens * (34 * config.hidden_size + 10 * config.intermediate_size)
    checkpoints = max_tokens * config.hidden_size * 2 * n_layers
    used = torch.cuda.memory_allocated() + 2 * one_layer + checkpoints + int(1.5 * 2**30)
    keep = layers_to_keep(model, max_tokens, budget, used)
    return enable_recompute(model, keep=min(keep, n_layers))


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


def layers_to_keep(model: Any, max_tokens: int, budget_bytes: int, used_bytes: int) -> int:
    """How many decoder layers can keep their activations for a micro-batch of ``max_tokens``.

    A layer that does not recompute holds about ``tokens * (34 * hidden + 10 * intermediate)``
    bytes (bf16 inputs and outputs of its projections, norms, activation function, the LoRA
    inputs); the recomputing layers still need one layer's worth at a time, already in
    ``used_bytes``' margin.
    """
    config = model.config
    per_layer = max_tokens * (34 * config.hidden_size + 10 * config.intermediate_size)
    spare = budget_bytes - used_bytes
    return max(0, min(config.num_hidden_layers, math.floor(spare / per_layer)))
