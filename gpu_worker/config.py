"""OpenAI hyperparameters + openft extension fields -> one resolved :class:`TrainPlan`,
and the TRL / PEFT / bitsandbytes configs built from it.

Extension fields (``JobSpec.extensions``, sent by users as ``extra_body={"openft": {...}}``,
see docs/training.md) are validated by :class:`core.protocol.Extensions` (in the API when a
job is created, and again here). What they default to:

- ``quantization``: ``auto`` = the catalog entry's choice, else QLoRA (NF4, double
  quantization, bf16 compute) on CUDA and LoRA in fp32 on the CPU; ``4bit`` forces QLoRA
  (also on the CPU); ``none`` is LoRA in bf16 on CUDA, fp32 on the CPU.
- ``adapter_dtype``: the trainable LoRA weights; ``auto`` = bf16 under QLoRA on CUDA (the
  QLoRA recipe, as TRL sets it), fp32 otherwise.
- ``lora_rank`` 16, ``lora_alpha`` 32, ``lora_dropout`` 0.05, on all linear layers.
- ``micro_batch_size``: the batch is split into micro-batches (gradient accumulation) of at
  most this many examples; default 4 on CUDA, 16 on the CPU (a divisor of the batch size).
- ``packing``: padding-free packing of each micro-batch on CUDA (sequences concatenated,
  attention kept within each one); default on for CUDA, off on the CPU.
- ``checkpoint_every_steps``: recovery checkpoints (0: epoch ends only); default ~10 per job.
- ``eval_every_steps``: validation loss on a sample of the validation file; default ~10 per job.
- ``recompute``: ``auto`` (default) checkpoints activations on only as many decoder layers as
  the memory budget needs (CUDA); ``all`` on every layer.
- ``memory_budget_gib``: accelerator memory the job may use (default 90% of the device).

One optimizer step consumes ``batch_size`` examples, so a job has
``ceil(n_examples / batch_size) * n_epochs`` steps, as OpenAI counts them. On several devices
(``JobSpec.devices``, one process each) every rank takes ``batch_size / devices`` of each batch:
micro-batch x gradient accumulation x devices = ``batch_size`` (docs/multi-device.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.micro_batch import micro_batch_size
from core.model_loading import compute_dtype
from core.protocol import Extensions, JobSpec
from core.settings import Settings

TARGET_MODULES = "all-linear"
EVAL_SAMPLE = 32  # validation examples scored every eval_every_steps


class ConfigError(ValueError):
    """Extension fields or hyperparameters the engine cannot use."""


@dataclass
class TrainPlan:
    """Everything the trainers need, resolved (no "auto" left)."""

    method: str
    device: str
    quantization: str  # "4bit" | "none"
    dtype: str  # "bfloat16" | "float32": base weights / compute
    adapter_dtype: str  # "bfloat16" | "float32": the trainable LoRA weights
    lora_rank: int
    lora_alpha: int
    lora_dropout: float
    batch_size: int
    micro_batch_size: int
    grad_accum: int
    n_epochs: int
    learning_rate: float
    beta: float
    max_length: int
    packing: bool
    gradient_checkpointing: bool
    recompute: str
    memory_budget_bytes: int | None
    checkpoint_every_steps: int
    eval_every_steps: int
    n_examples: int
    steps_per_epoch: int
    total_steps: int
    seed: int
    devices: int = 1
    parallelism: str = "single"  # "single" | "data_parallel" | "fsdp"
    collective_timeout_s: float = 600.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def is_epoch_end(self, step: int) -> bool:
        return step % self.steps_per_epoch == 0 or step >= self.total_steps


def parse_extensions(spec: JobSpec) -> Extensions:
    """The job's extension fields; raises :class:`ConfigError` naming the bad field."""
    try:
        return Extensions.model_validate(spec.extensions or {})
    except Exception as exc:
        raise ConfigError(f"invalid openft extension fields: {exc}") from exc


def resolve_plan(spec: JobSpec, device: str, settings: Settings, n_examples: int,
                 has_validation: bool = False) -> TrainPlan:
    """The plan for ``spec`` on ``device`` (``cuda``/``cpu``) with ``n_examples`` usable examples."""
    ext = parse_extensions(spec)
    hp = spec.hyperparameters
    quant = ext.quantization if ext.quantization != "auto" else spec.base_model.quantization
    if quant == "auto":
        quant = "4bit" if device == "cuda" else "none"
    cuda = device == "cuda"
    adapter_dtype = ext.adapter_dtype
    if adapter_dtype == "auto":
        adapter_dtype = "bfloat16" if cuda and quant == "4bit" else "float32"
    batch = max(1, min(hp.batch_size, n_examples))
    devices = max(1, len(spec.devices))
    if batch % devices:
        raise ConfigError(f"batch_size {batch} does not divide evenly among {devices} devices")
    micro = micro_batch_size(batch // devices, device, ext.micro_batch_size)
    steps_per_epoch = math.ceil(n_examples / batch)
    total = steps_per_epoch * hp.n_epochs
    every = ext.checkpoint_every_steps
    if every is None:
        every = settings.checkpoint_every_steps or max(10, math.ceil(total / 10))
    eval_every = ext.eval_every_steps
    if eval_every is None:
        eval_every = max(1, math.ceil(total / 10)) if has_validation else 0
    return TrainPlan(
        method=spec.method, device=device, quantization=quant,
        dtype=compute_dtype(device), adapter_dtype=adapter_dtype,
        lora_rank=ext.lora_rank, lora_alpha=ext.lora_alpha, lora_dropout=ext.lora_dropout,
        batch_size=batch, micro_batch_size=micro, grad_accum=batch // devices // micro, n_epochs=hp.n_epochs,
        learning_rate=hp.learning_rate, beta=hp.beta if hp.beta is not None else 0.1,
        max_length=spec.base_model.max_length, packing=ext.packing if ext.packing is not None else cuda,
        gradient_checkpointing=cuda, recompute=ext.recompute,
        memory_budget_bytes=int(ext.memory_budget_gib * 2**30) if ext.memory_budget_gib else None,
        checkpoint_every_steps=every, eval_every_steps=eval_every,
        n_examples=n_examples, steps_per_epoch=steps_per_epoch, total_steps=total, seed=spec.seed,
        devices=devices, parallelism=spec.parallelism if devices > 1 else "single",
        collective_timeout_s=settings.collective_timeout_seconds,
    )


# --- library configs --------------------------------------------------------------------------
def lora_config(plan: TrainPlan) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=plan.lora_rank, lora_alpha=plan.lora_alpha, lora_dropout=plan.lora_dropout, bias="none",
        task_type="CAUSAL_LM", target_modules=TARGET_MODULES,
    )


def trainer_kwargs(plan: TrainPlan, output_dir: Path) -> dict[str, Any]:
    """Arguments shared by ``SFTConfig`` and ``DPOConfig``.

    Saving, evaluation and reporting are driven by :mod:`gpu_worker.callbacks`, not by the
    Trainer's strategies; bf16 and gradient checkpointing are off on the CPU (TRL turns them on).
    """
    cuda = plan.device == "cuda"
    return dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=plan.micro_batch_size,
        per_device_eval_batch_size=plan.micro_batch_size,
        gradient_accumulation_steps=plan.grad_accum,
        num_train_epochs=plan.n_epochs,
        learning_rate=plan.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        optim="adamw_torch_fused" if cuda else "adamw_torch",
        bf16=cuda and plan.dtype == "bfloat16",
        fp16=False,
        use_cpu=not cuda,
        # on CUDA, gpu_worker.recompute.setup_recompute picks the layers that recompute; the
        # Trainer would wrap every layer
        gradient_checkpointing=False,
        logging_steps=1,
        logging_strategy="steps",
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=plan.seed,
        data_seed=plan.seed,
        dataloader_num_workers=0,
        save_only_model=False,
        remove_unused_columns=True,
        **distributed_kwargs(plan),
    )


def distributed_kwargs(plan: TrainPlan) -> dict[str, Any]:
    """What the Trainer needs to run under torchrun: DDP over gloo (CPU) or NCCL (CUDA) with the
    collective timeout, or FSDP (full sharding of each decoder layer, the LoRA weights kept in
    their original parameters so PEFT can save them, a full state dict gathered on save)."""
    if plan.devices <= 1:
        return {}
    out: dict[str, Any] = dict(
        ddp_backend="nccl" if plan.device == "cuda" else "gloo",
        ddp_timeout=int(plan.collective_timeout_s),
        ddp_find_unused_parameters=False,
    )
    if plan.parallelism == "fsdp":
        out.update(fsdp="full_shard auto_wrap", fsdp_config={
            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP", "use_orig_params": True,
            "state_dict_type": "FULL_STATE_DICT", "cpu_ram_efficient_loading": False, "sync_module_states": True,
            "offload_params": False, "activation_checkpointing": False,
        })
    return out


def sft_config(plan: TrainPlan, output_dir: Path) -> Any:
    from trl import SFTConfig

    return SFTConfig(
        **trainer_kwargs(plan, output_dir),
        # examples are tokenized and truncated by gpu_worker.data; TRL's max_length would refuse
        # padding-free batches, and its packing would change the number of steps per epoch
        max_length=None,
        packing=False,
        padding_free=plan.packing,
        assistant_only_loss=False,
        completion_only_loss=False,
        dataset_num_proc=None,
    )


def dpo_config(plan: TrainPlan, output_dir: Path) -> Any:
    from trl import DPOConfig

    return DPOConfig(
        **trainer_kwargs(plan, output_dir),
        beta=plan.beta,
        # the sigmoid (DPO) loss plus the NLL of the preferred answer: DPO alone can lower the
        # likelihood of the tokens both answers share and break the output format
        loss_type=["sigmoid", "sft"],
        loss_weights=[1.0, 1.0],
        max_length=plan.max_length,
        truncation_mode="keep_start",
        precompute_ref_log_probs=False,
        dataset_num_proc=None,
    )
